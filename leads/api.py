"""API v1 for leads, their activities and follow-ups. Thin: validate, call leads.services, serialize.

Access: the queryset of every view starts from selectors.leads_visible_to(user), so a lead a
user may not see is a 404 on every route, nested ones included; writes on a visible lead
need CanWorkLead (owner or manager, else 403).
"""

from django.db.models import QuerySet
from django.urls import path
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.generics import GenericAPIView, get_object_or_404
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from leadcrm.api_errors import AlreadyClaimed, ApiErrorSerializer
from leadcrm.json_limits import LimitedJSONParser
from leads import selectors, services
from leads.bulk import BulkRow, leads_bulk_upsert
from leads.filters import OWNER_PATTERN, ActivityFilter, FollowUpFilter, FollowUpListFilter, LeadFilter
from leads.matching import email_key
from leads.models import RANKED, Activity, FollowUp, Lead
from leads.permissions import BulkThrottle, CanWorkLead, IsCrmAdmin, IsManager, UserThrottle, can_work_lead
from leads.serializers import (
    ActivityCreateSerializer,
    ActivitySerializer,
    BulkLeadRowSerializer,
    FollowUpCreateSerializer,
    FollowUpSerializer,
    LeadAssignSerializer,
    LeadBulkResultSerializer,
    LeadBulkSerializer,
    LeadCloseSerializer,
    LeadCreateSerializer,
    LeadReplaceSerializer,
    LeadSerializer,
    LeadStatusSerializer,
    LeadUpdateSerializer,
)

LEAD_EXAMPLE = OpenApiExample(
    "A web-form lead",
    value={
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "company": "Analytical Engines",
        "source": "Google",
        "origin": "Landing Page Submission",
        "external_id": "web-4711",
        "attributes": {"TotalVisits": 5, "Do Not Email": False, "Last Activity": "Email Opened"},
    },
    request_only=True,
)


@extend_schema_view(
    list=extend_schema(
        summary="List leads",
        description="Leads the caller may see (reps: own + unassigned pool; managers: all), "
        "filtered, searched and sorted by effective score (default), score or creation time.",
        parameters=[
            OpenApiParameter(
                "owner",
                str,
                pattern=OWNER_PATTERN,
                description='A user id, "me" or "pool" (unassigned). Filters never widen what you may see.',
            ),
            OpenApiParameter("search", str, pattern=r"^[^\x00]{1,100}$", description="Name, email or company."),
            OpenApiParameter(
                "min_score",
                {"type": "number", "minimum": -1, "maximum": 100},
                description="Effective score at least (-1 includes unscored leads).",
            ),
        ],
    ),
    retrieve=extend_schema(
        summary="One lead, with its score, tier, reasons and model version",
        examples=[
            OpenApiExample(
                "A scored lead",
                response_only=True,
                value={
                    "id": 42,
                    "external_id": "web-4711",
                    "name": "Ada Lovelace",
                    "email": "ada@example.com",
                    "phone": "",
                    "company": "Analytical Engines",
                    "source": "Google",
                    "origin": "Landing Page Submission",
                    "status": "contacted",
                    "lost_reason": "",
                    "converted_at": None,
                    "owner": 7,
                    "attributes": {"TotalVisits": 5, "Do Not Email": False},
                    "score": 81,
                    "probability": 0.81,
                    "tier": "hot",
                    "score_reasons": [
                        {"feature": "Lead Origin", "text": "Lead Origin = Lead Add Form (+18)", "impact": 18.0}
                    ],
                    "scored_at": "2026-11-23T09:00:00Z",
                    "model_version": 3,
                    "score_override": None,
                    "effective_score": 81,
                    "created_at": "2026-11-20T10:00:00Z",
                    "updated_at": "2026-11-23T09:00:00Z",
                    "first_contacted_at": "2026-11-21T10:00:00Z",
                    "last_activity_at": "2026-11-21T10:00:00Z",
                    "next_follow_up_at": None,
                },
            )
        ],
    ),
    create=extend_schema(
        summary="Create a lead",
        description="Reps create leads they own; managers choose the owner (default: the pool). "
        "`external_id` is unique across all leads, so only managers (who see every lead) may send one: "
        "a rep's request with an `external_id` is a 400 on that field whether or not the id is taken, "
        "so the answer never reveals a lead the rep cannot see. Emails are not unique.",
        request=LeadCreateSerializer,
        responses={201: LeadSerializer},
        examples=[LEAD_EXAMPLE],
    ),
    update=extend_schema(summary="Replace a lead's contact fields", request=LeadReplaceSerializer),
    partial_update=extend_schema(summary="Change some of a lead's contact fields", request=LeadUpdateSerializer),
)
class LeadViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = LeadSerializer
    filterset_class = LeadFilter
    permission_classes = [IsAuthenticated, CanWorkLead]
    parser_classes = [LimitedJSONParser]
    # By score: LeadRank's index (priority, lead) holds the order.
    cursor_orderings = {
        "priority": ("rank__priority", "rank__lead_id"),
        "score": ("rank__priority", "rank__lead_id"),
        "created": "created_at",
        "id": "id",
    }
    default_cursor_ordering = "-priority"

    def get_queryset(self) -> QuerySet[Lead]:
        return selectors.leads_visible_to(self.request.user).filter(RANKED).select_related("rank")

    def _lead_response(self, lead: Lead, code: int = status.HTTP_200_OK) -> Response:
        lead = self.get_queryset().get(pk=lead.pk)
        return Response(LeadSerializer(lead, context=self.get_serializer_context()).data, status=code)

    def create(self, request, *args, **kwargs):
        serializer = LeadCreateSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        data["owner"] = _owner_for_new_lead(request.user, data, has_owner="owner" in request.data)
        _refuse_rep_external_id(request.user, data)
        lead = services.lead_create(**data)
        return self._lead_response(lead, status.HTTP_201_CREATED)

    def update(self, request, *args, **kwargs):
        partial = kwargs.pop("partial", False)
        lead = self.get_object()
        serializer = (LeadUpdateSerializer if partial else LeadReplaceSerializer)(data=request.data)
        serializer.is_valid(raise_exception=True)
        if serializer.validated_data:
            lead = services.lead_update(lead=lead, **serializer.validated_data)
        return self._lead_response(lead)

    def partial_update(self, request, *args, **kwargs):
        return self.update(request, *args, partial=True, **kwargs)

    @extend_schema(
        summary="Claim an unassigned lead",
        description="Takes a lead from the unassigned pool into the caller's queue. A pool lead someone else "
        "took first answers 409 with `error.claimed_by` (whether they won a race a moment ago or took it "
        "yesterday); claiming your own lead again is a no-op (200).",
        request=None,
        responses={
            200: LeadSerializer,
            409: OpenApiResponse(ApiErrorSerializer, description="Already claimed: see error.claimed_by."),
        },
    )
    @action(detail=True, methods=["post"], permission_classes=[IsAuthenticated])
    def claim(self, request, pk=None):
        lead = self.get_queryset().filter(pk=pk).first()
        if lead is None:
            holder = selectors.pool_lead_holder(pk)
            if holder is None:
                raise NotFound("No such lead, or not visible to you.")
            raise AlreadyClaimed(_user_name(holder))
        if not services.lead_claim(lead=lead, rep=request.user):
            lead.refresh_from_db(fields=["owner"])
            raise AlreadyClaimed(_user_name(lead.owner) if lead.owner else None)
        return self._lead_response(lead)

    @extend_schema(
        summary="Assign a lead to a user, or back to the pool (managers)",
        request=LeadAssignSerializer,
        examples=[
            OpenApiExample("To a rep", value={"owner": 7}, request_only=True),
            OpenApiExample("Back to the pool", value={"owner": None}, request_only=True),
        ],
    )
    @action(detail=True, methods=["post"], permission_classes=[IsAuthenticated, IsManager])
    def assign(self, request, pk=None):
        lead = self.get_object()
        serializer = LeadAssignSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        lead = services.lead_assign(lead=lead, rep=serializer.validated_data["owner"], by=request.user)
        return self._lead_response(lead)

    @extend_schema(
        summary="Close a lead as converted or lost (lost needs a reason)",
        request=LeadCloseSerializer,
        examples=[
            OpenApiExample("Won", value={"outcome": "converted"}, request_only=True),
            OpenApiExample("Lost", value={"outcome": "lost", "reason": "Chose a competitor"}, request_only=True),
        ],
    )
    @action(detail=True, methods=["post"])
    def close(self, request, pk=None):
        lead = self.get_object()
        serializer = LeadCloseSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        _require_lost_reason(data["outcome"], data["reason"])
        lead = services.lead_close(
            lead=lead, outcome=data["outcome"], user=request.user, reason=data["reason"], value=data["value"]
        )
        return self._lead_response(lead)

    @extend_schema(
        summary="Move a lead to another status",
        request=LeadStatusSerializer,
        examples=[OpenApiExample("Qualified", value={"status": "qualified"}, request_only=True)],
    )
    @action(detail=True, methods=["post"], url_path="status")
    def set_status(self, request, pk=None):
        lead = self.get_object()
        serializer = LeadStatusSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        _require_lost_reason(data["status"], data["reason"])
        lead = services.lead_status_change(lead=lead, status=data["status"], user=request.user, reason=data["reason"])
        return self._lead_response(lead)


def _user_name(user) -> str:
    return user.get_full_name() or user.get_username()


def _owner_for_new_lead(user, data: dict, *, has_owner: bool):
    """Managers choose any owner (default: the pool); a rep's new lead is always their own."""
    owner = data.get("owner")
    if user.is_manager:
        return owner
    if has_owner and (owner is None or owner.pk != user.pk):
        raise ValidationError({"owner": ["Reps can only create leads they own."]})
    return user


REP_EXTERNAL_ID_MESSAGE = "Only managers and imports set external ids; leave it out."


def _refuse_rep_external_id(user, data: dict) -> None:
    """No existence oracle: external ids are unique across every lead, including the ones a rep
    cannot see, so "already exists" would tell a rep that another rep's lead has that id. A rep's
    request with any external id is refused with the same message, taken or not."""
    if data.get("external_id") and not user.is_manager:
        raise ValidationError({"external_id": [REP_EXTERNAL_ID_MESSAGE]})


def _require_lost_reason(status_value: str, reason: str) -> None:
    if problem := Lead.lost_reason_problem(status_value, reason):
        raise ValidationError({"reason": [problem]})


class _LeadNestedView(GenericAPIView):
    """Base for /leads/<pk>/...: the lead must be visible (else 404); writes need CanWorkLead."""

    permission_classes = [IsAuthenticated]
    parser_classes = [LimitedJSONParser]

    def get_lead(self, *, for_write: bool) -> Lead:
        lead = get_object_or_404(selectors.leads_visible_to(self.request.user), pk=self.kwargs["pk"])
        if for_write and not can_work_lead(self.request.user, lead):
            raise PermissionDenied(CanWorkLead.message)
        return lead


class LeadActivitiesView(_LeadNestedView):
    """A lead's activities: anyone who sees the lead reads them; its owner or a manager logs more."""

    serializer_class = ActivitySerializer
    filterset_class = ActivityFilter
    cursor_orderings = {"occurred": "occurred_at", "id": "id"}
    default_cursor_ordering = "-occurred"

    def get_queryset(self) -> QuerySet[Activity]:
        if getattr(self, "swagger_fake_view", False):  # schema generation: no request, no lead
            return Activity.objects.none()
        return Activity.objects.filter(lead=self.get_lead(for_write=False))

    @extend_schema(
        summary="A lead's activity timeline, newest first",
        operation_id="leads_activities_list",
        responses=ActivitySerializer(many=True),
    )
    def get(self, request, pk):
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(
        summary="Log a call, email, meeting, note or SMS on a lead",
        request=ActivityCreateSerializer,
        responses={201: ActivitySerializer},
        examples=[
            OpenApiExample(
                "A call", value={"kind": "call", "outcome": "Reached", "notes": "Wants a demo"}, request_only=True
            )
        ],
    )
    def post(self, request, pk):
        lead = self.get_lead(for_write=True)
        serializer = ActivityCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        activity = services.activity_log(lead=lead, user=request.user, **serializer.validated_data)
        return Response(ActivitySerializer(activity).data, status=status.HTTP_201_CREATED)


class LeadFollowUpsView(_LeadNestedView):
    """A lead's follow-ups: anyone who sees the lead reads them; its owner or a manager schedules more."""

    serializer_class = FollowUpSerializer
    filterset_class = FollowUpFilter
    cursor_orderings = {"due": "due_at", "id": "id"}
    default_cursor_ordering = "due"

    def get_queryset(self) -> QuerySet[FollowUp]:
        if getattr(self, "swagger_fake_view", False):  # schema generation: no request, no lead
            return FollowUp.objects.none()
        return FollowUp.objects.filter(lead=self.get_lead(for_write=False))

    @extend_schema(
        summary="A lead's follow-ups, soonest due first",
        operation_id="leads_follow_ups_list",
        responses=FollowUpSerializer(many=True),
    )
    def get(self, request, pk):
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(
        summary="Schedule a follow-up on an open lead",
        request=FollowUpCreateSerializer,
        responses={201: FollowUpSerializer},
        examples=[
            OpenApiExample(
                "Tomorrow morning", value={"due_at": "2030-01-02T09:00:00Z", "note": "Send pricing"}, request_only=True
            )
        ],
    )
    def post(self, request, pk):
        lead = self.get_lead(for_write=True)
        serializer = FollowUpCreateSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        follow_up = services.follow_up_schedule(lead=lead, by=request.user, **serializer.validated_data)
        return Response(FollowUpSerializer(follow_up).data, status=status.HTTP_201_CREATED)


class FollowUpListView(GenericAPIView):
    """Follow-ups across every lead the caller sees (a rep's day: `?open=true&mine=true&due_before=...`)."""

    permission_classes = [IsAuthenticated]
    serializer_class = FollowUpSerializer
    filterset_class = FollowUpListFilter
    cursor_orderings = {"due": "due_at", "id": "id"}
    default_cursor_ordering = "due"

    def get_queryset(self) -> QuerySet[FollowUp]:
        if getattr(self, "swagger_fake_view", False):
            return FollowUp.objects.none()
        return FollowUp.objects.filter(lead__in=selectors.leads_visible_to(self.request.user).values("pk"))

    @extend_schema(
        summary="Follow-ups on the leads I can see, soonest due first",
        operation_id="follow_ups_list",
        responses=FollowUpSerializer(many=True),
    )
    def get(self, request):
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


class FollowUpCompleteView(_LeadNestedView):
    """Complete one follow-up of a lead the caller works."""

    serializer_class = FollowUpSerializer

    @extend_schema(summary="Mark a follow-up done (doing it twice is a no-op)", request=None)
    def post(self, request, pk, follow_up_pk):
        lead = self.get_lead(for_write=True)
        follow_up = get_object_or_404(FollowUp, pk=follow_up_pk, lead=lead)
        follow_up = services.follow_up_complete(follow_up=follow_up, by=request.user)
        return Response(FollowUpSerializer(follow_up).data)


class LeadBulkUpsertView(GenericAPIView):
    """Create or update up to 1,000 leads in one call (admins: this is an import)."""

    permission_classes = [IsAuthenticated, IsCrmAdmin]
    parser_classes = [LimitedJSONParser]
    throttle_classes = [UserThrottle, BulkThrottle]
    serializer_class = LeadBulkSerializer

    @extend_schema(
        summary="Bulk create/update up to 1,000 leads, with per-row errors (admins)",
        description="Rows are matched as a file import matches them: on `external_id`, else (a row without "
        "one) on the email, compared stripped and case-insensitively; when several leads share that email "
        "the oldest (lowest id) is updated. A match is updated: the contact fields the row sends, its "
        "attributes merged into the stored ones, the owner when given; fields it does not send keep their "
        "values and the status is never changed. Anything else is created. Emails are stored stripped and "
        "case-folded. Two rows with the same external id, or without one and with the same email, are an "
        'error on the later row ("Appears twice in this request (first at row N)"). With `atomic` (the '
        "default) one bad row rejects the call with 400 and `error.fields.leads.<row>` naming each "
        "problem; nothing is written. With `atomic: false` the valid rows are written and the bad ones "
        "come back in `errors`.",
        request=LeadBulkSerializer,
        responses={200: LeadBulkResultSerializer},
        examples=[
            OpenApiExample(
                "Three leads (the last matched by email)",
                value={
                    "leads": [
                        {"external_id": "crm-1", "name": "Ada", "email": "ada@example.com", "source": "Google"},
                        {"external_id": "crm-2", "name": "Grace", "attributes": {"TotalVisits": 3}},
                        {"email": "Alan@Example.com", "company": "Bletchley Park"},
                    ],
                    "atomic": True,
                },
                request_only=True,
            )
        ],
    )
    def post(self, request):
        serializer = LeadBulkSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        result = bulk_upsert(
            serializer.validated_data["leads"],
            user=request.user,
            atomic=serializer.validated_data["atomic"],
            context=self.get_serializer_context(),
        )
        return Response(LeadBulkResultSerializer(result).data)


def bulk_upsert(rows: list[dict], *, user, atomic: bool, context: dict) -> dict:
    """Validate every row, then write the valid ones with leads.bulk.leads_bulk_upsert.

    A row whose key (external id, else email) an earlier row of the request already has is an error.
    """
    errors: dict[int, dict] = {}
    valid: list[BulkRow] = []
    first_at: dict[tuple[str, str], int] = {}
    for index, raw in enumerate(rows):
        row = BulkLeadRowSerializer(data=raw, context=context)
        row_errors = {} if row.is_valid() else {name: list(problems) for name, problems in row.errors.items()}
        data = dict(row.validated_data) if not row_errors else {}
        if "email" in data:
            data["email"] = email_key(data["email"])  # stored as the importer stores it
        # As in a file, a row with other errors still claims its key.
        key = _row_key(raw if row_errors else data)
        if key is not None:
            first = first_at.setdefault(key, index)
            if first != index:
                row_errors.setdefault(key[0], []).append(f"Appears twice in this request (first at row {first}).")
        if row_errors:
            errors[index] = row_errors
        else:
            valid.append(BulkRow(index=index, data=data, has_owner="owner" in raw))
    if atomic and errors:
        raise _bulk_errors(errors, len(rows))

    written = leads_bulk_upsert(valid, user=user, atomic=atomic)
    errors.update(written.errors)
    if atomic and errors:
        raise _bulk_errors(errors, len(rows))
    results = written.results
    return {
        "created": sum(r["action"] == "created" for r in results),
        "updated": sum(r["action"] == "updated" for r in results),
        "failed": len(errors),
        "results": results,
        "errors": [{"row": i, "external_id": _external_id_of(rows[i]), "fields": errors[i]} for i in sorted(errors)],
    }


def _row_key(row) -> tuple[str, str] | None:
    """What a row is matched on: ("external_id", id), else ("email", normalised email), else None."""
    if not isinstance(row, dict):
        return None
    external_id = row.get("external_id")
    if isinstance(external_id, str) and external_id.strip():
        return "external_id", external_id.strip()
    email = row.get("email")
    if isinstance(email, str) and email.strip():
        return "email", email_key(email)
    return None


def _external_id_of(raw) -> str | None:
    value = raw.get("external_id") if isinstance(raw, dict) else None
    return value if isinstance(value, str) else None


def _bulk_errors(errors: dict[int, dict], total: int) -> ValidationError:
    bad = {str(i): errors[i] for i in sorted(errors)}
    return ValidationError(
        {"leads": bad, "non_field_errors": [f"{len(bad)} of {total} rows are invalid; nothing was written."]}
    )


def _lead_action(name: str):
    """A detail action as a view, with the options its @action gives it (as a router would)."""
    return LeadViewSet.as_view({"post": name}, **getattr(LeadViewSet, name).kwargs)


urlpatterns = [
    path("leads/", LeadViewSet.as_view({"get": "list", "post": "create"}), name="api-lead-list"),
    path("leads/bulk/", LeadBulkUpsertView.as_view(), name="api-lead-bulk"),
    path(
        "leads/<int:pk>/",
        LeadViewSet.as_view({"get": "retrieve", "put": "update", "patch": "partial_update"}),
        name="api-lead-detail",
    ),
    path("leads/<int:pk>/claim/", _lead_action("claim"), name="api-lead-claim"),
    path("leads/<int:pk>/assign/", _lead_action("assign"), name="api-lead-assign"),
    path("leads/<int:pk>/close/", _lead_action("close"), name="api-lead-close"),
    path("leads/<int:pk>/status/", _lead_action("set_status"), name="api-lead-status"),
    path("leads/<int:pk>/activities/", LeadActivitiesView.as_view(), name="api-lead-activities"),
    path("leads/<int:pk>/follow-ups/", LeadFollowUpsView.as_view(), name="api-lead-follow-ups"),
    path("follow-ups/", FollowUpListView.as_view(), name="api-follow-up-list"),
    path(
        "leads/<int:pk>/follow-ups/<int:follow_up_pk>/complete/",
        FollowUpCompleteView.as_view(),
        name="api-follow-up-complete",
    ),
]
