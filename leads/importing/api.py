"""Imports API: POST a file to start a job, then follow its progress, counts and errors.

Only CRM admins import. Every bad request gets a 400 in the common error body, never a 500.
"""

from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    inline_serializer,
)
from rest_framework import exceptions, serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from leadcrm.api_errors import ApiErrorSerializer
from leadcrm.inputs import is_ascii_int
from leadcrm.json_limits import json_loads_limited
from leads.importing import retention, selectors, services
from leads.importing.downloads import ERRORS_CSV_GONE, errors_csv_response
from leads.importing.profiles import MAPPING_FIELDS
from leads.importing.readers import ImportFileError
from leads.models import ImportJob, ImportProfile
from leads.permissions import IsCrmAdmin

ERRORS_PAGE_SIZE = 100


# The bad rows' cells are kept, but their header lives only in the uploaded file.
class Gone(exceptions.APIException):
    status_code = status.HTTP_410_GONE
    default_detail = "The resource is no longer available."
    default_code = "gone"


class ImportCreateSerializer(serializers.Serializer):
    """multipart/form-data: the file, and either a profile or an inline mapping (a JSON string)."""

    file = serializers.FileField(help_text="CSV (comma, semicolon or tab) or XLSX")
    profile = serializers.CharField(
        required=False, max_length=100, help_text="Import profile id or name, e.g. x_education"
    )
    mapping = serializers.CharField(
        required=False,
        help_text="Inline profile instead of `profile`, as a JSON string (a form field carries text): "
        '\'{"mapping": {"external_id": "ID", "email": "Email", "campaign": "utm_campaign", "converted_value": '
        '"Deal value"}, "outcome_column": "Converted"}\'. Lead fields: ' + ", ".join(MAPPING_FIELDS) + ".",
    )
    mode = serializers.ChoiceField(
        choices=ImportJob.Mode.choices,
        default=ImportJob.Mode.ATOMIC,
        help_text="atomic: any bad row imports nothing; skip_bad: good rows go in, bad rows are reported "
        "(skip-bad, the command line's spelling, is accepted too).",
    )
    dry_run = serializers.BooleanField(default=False, help_text="Check every row, write nothing.")

    def to_internal_value(self, data):
        # The command line's spelling (--mode skip-bad) is accepted too.
        if hasattr(data, "get") and data.get("mode") == "skip-bad":
            data = data.copy()
            data["mode"] = ImportJob.Mode.SKIP_BAD
        return super().to_internal_value(data)

    def validate_mapping(self, value):
        try:
            value = json_loads_limited(value)
        except ValueError as exc:
            raise serializers.ValidationError(f"mapping is not valid JSON: {exc}") from exc
        if not isinstance(value, dict):
            raise serializers.ValidationError("mapping must be a JSON object.")
        return value

    def validate_profile(self, value):
        lookup = {"pk": int(value)} if is_ascii_int(value) else {"name": value}
        profile = ImportProfile.objects.filter(**lookup).first()
        if profile is None:
            raise serializers.ValidationError(f"No import profile {value!r}.")
        return profile

    def validate(self, attrs):
        if not attrs.get("profile") and not attrs.get("mapping"):
            raise serializers.ValidationError("Send a profile (id or name) or an inline mapping.")
        return attrs


class ImportErrorSerializer(serializers.Serializer):
    row = serializers.IntegerField(source="row_number")
    column = serializers.CharField()
    value = serializers.CharField()
    message = serializers.CharField()


_PROGRESS = inline_serializer(
    "ImportProgress",
    {
        "rows_done": serializers.IntegerField(),
        "rows_total": serializers.IntegerField(),
        "percent": serializers.IntegerField(),
    },
)
_COUNTS = inline_serializer(
    "ImportCounts",
    {name: serializers.IntegerField() for name in ("created", "updated", "unchanged", "skipped", "failed", "outcomes")},
)


class ImportJobSerializer(serializers.ModelSerializer):
    profile = serializers.SlugRelatedField(slug_field="name", read_only=True, allow_null=True)
    created_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True, help_text="null for jobs started by the command."
    )
    progress = serializers.SerializerMethodField()
    counts = serializers.SerializerMethodField()
    errors_csv = serializers.SerializerMethodField()

    class Meta:
        model = ImportJob
        fields = (
            "id", "status", "mode", "dry_run", "profile", "original_name", "file_sha256", "file_bytes",
            "encoding", "delimiter", "progress", "counts", "error_count", "error", "duplicates", "column_types",
            "level_folds", "attempts", "created_by", "created_at", "started_at", "finished_at", "errors_csv",
        )  # fmt: skip
        read_only_fields = fields

    @extend_schema_field(_PROGRESS)
    def get_progress(self, job) -> dict:
        return {"rows_done": job.rows_done, "rows_total": job.rows_total, "percent": job.progress_percent}

    @extend_schema_field(_COUNTS)
    def get_counts(self, job) -> dict:
        return {
            "created": job.created_count,
            "updated": job.updated_count,
            "unchanged": job.unchanged_count,
            "skipped": job.skipped_count,
            "failed": job.failed_count,
            "outcomes": job.outcomes_count,
        }

    def get_errors_csv(self, job) -> str:
        return reverse("api-import-errors-csv", args=[job.pk])


class ImportJobDetailSerializer(ImportJobSerializer):
    errors = serializers.SerializerMethodField()

    class Meta(ImportJobSerializer.Meta):
        fields = (*ImportJobSerializer.Meta.fields, "errors")
        read_only_fields = fields

    @extend_schema_field(
        inline_serializer(
            "ImportErrorPage",
            {
                "count": serializers.IntegerField(),
                "page": serializers.IntegerField(),
                "pages": serializers.IntegerField(),
                "next": serializers.CharField(allow_null=True),
                "previous": serializers.CharField(allow_null=True),
                "results": ImportErrorSerializer(many=True),
            },
        )
    )
    def get_errors(self, job) -> dict:
        request = self.context["request"]
        paginator = Paginator(selectors.import_errors_for(job), ERRORS_PAGE_SIZE)
        page = paginator.get_page(self.context.get("errors_page", 1))

        def link(number):
            return request.build_absolute_uri(f"?errors_page={number}") if number else None

        return {
            "count": job.error_count,
            "page": page.number,
            "pages": paginator.num_pages,
            "next": link(page.next_page_number() if page.has_next() else None),
            "previous": link(page.previous_page_number() if page.has_previous() else None),
            "results": ImportErrorSerializer(page.object_list, many=True).data,
        }


def _errors_page(request) -> int:
    raw = request.query_params.get("errors_page", "1")
    try:
        page = int(raw) if raw.isascii() and raw.isdigit() else 0
    except ValueError:  # beyond Python's digit limit
        page = 0
    if page < 1:
        raise exceptions.ValidationError({"errors_page": ["A whole number of at least 1."]})
    return page


def _bad_request(exc: Exception) -> None:
    """A file or mapping the pipeline refuses: a 400 in the API's common error body."""
    if isinstance(exc, ImportFileError):
        raise exceptions.ValidationError({"file": [str(exc)]}) from exc
    raise exceptions.ValidationError({"non_field_errors": exc.messages}) from exc


class ImportJobListCreateView(APIView):
    permission_classes = [IsAuthenticated, IsCrmAdmin]
    parser_classes = [MultiPartParser]

    @extend_schema(summary="List import jobs, newest first", responses=ImportJobSerializer(many=True))
    def get(self, request):
        jobs = selectors.import_jobs_visible_to(request.user)[:100]
        return Response(ImportJobSerializer(jobs, many=True, context={"request": request}).data)

    @extend_schema(
        summary="Start an import",
        request={"multipart/form-data": ImportCreateSerializer},
        responses={
            202: ImportJobSerializer,
            400: OpenApiResponse(ApiErrorSerializer, description="A bad file or mapping: see error.fields"),
            403: OpenApiResponse(ApiErrorSerializer, description="Not a CRM admin"),
        },
    )
    def post(self, request):
        serializer = ImportCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            job = services.import_job_create(
                file=data["file"],
                name=data["file"].name,
                user=request.user,
                profile=data.get("profile"),
                mapping=data.get("mapping"),
                mode=data["mode"],
                dry_run=data["dry_run"],
            )
        except (ImportFileError, ValidationError) as exc:
            _bad_request(exc)
        services.import_job_dispatch(job)
        return Response(ImportJobSerializer(job, context={"request": request}).data, status=status.HTTP_202_ACCEPTED)


class ImportJobDetailView(APIView):
    permission_classes = [IsAuthenticated, IsCrmAdmin]

    @extend_schema(
        summary="An import's status, progress, counts and a page of its row errors",
        parameters=[
            OpenApiParameter(
                "errors_page",
                {"type": "integer", "minimum": 1},
                description="Page of row errors (100 a page); past the last page gives the last page.",
            )
        ],
        responses=ImportJobDetailSerializer,
    )
    def get(self, request, pk: int):
        job = get_object_or_404(selectors.import_jobs_visible_to(request.user), pk=pk)
        context = {"request": request, "errors_page": _errors_page(request)}
        return Response(ImportJobDetailSerializer(job, context=context).data)


class ImportJobResumeView(APIView):
    permission_classes = [IsAuthenticated, IsCrmAdmin]

    @extend_schema(summary="Resume a failed or interrupted import", request=None, responses={202: ImportJobSerializer})
    def post(self, request, pk: int):
        job = get_object_or_404(selectors.import_jobs_visible_to(request.user), pk=pk)
        try:
            job = retention.import_job_resume_if_file_kept(job=job)
        except ValidationError as exc:
            _bad_request(exc)
        return Response(ImportJobSerializer(job, context={"request": request}).data, status=status.HTTP_202_ACCEPTED)


class ImportJobErrorsCsvView(APIView):
    permission_classes = [IsAuthenticated, IsCrmAdmin]

    @extend_schema(
        summary="Bad rows as CSV: original columns plus import_row and import_errors; fix and re-import",
        responses={
            (200, "text/csv"): OpenApiTypes.STR,
            410: OpenApiResponse(ApiErrorSerializer, description="The uploaded file was removed (retention)"),
        },
    )
    def get(self, request, pk: int):
        job = get_object_or_404(selectors.import_jobs_visible_to(request.user), pk=pk)
        if retention.import_file_removed(job):
            raise Gone(retention.import_file_removed_message(job, consequence=ERRORS_CSV_GONE))
        return errors_csv_response(job)


urlpatterns = [
    path("imports/", ImportJobListCreateView.as_view(), name="api-imports"),
    path("imports/<int:pk>/", ImportJobDetailView.as_view(), name="api-import-detail"),
    path("imports/<int:pk>/resume/", ImportJobResumeView.as_view(), name="api-import-resume"),
    path("imports/<int:pk>/errors.csv", ImportJobErrorsCsvView.as_view(), name="api-import-errors-csv"),
]
