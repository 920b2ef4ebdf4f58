"""Scoring API: score an unsaved lead, list/activate model versions, retrain, score history.

May import leads (permissions) and scoring's selectors, activation, gates, registry, retraining,
features and models; nothing imports it but the URL configuration.
"""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from django.urls import path
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from leadcrm.api_schema import RejectUnknownFieldsMixin, StrictJsonTypesMixin
from leads.models import Lead
from leads.permissions import IsCrmAdmin, IsManager
from scoring import activation, gates, registry, retraining, selectors
from scoring import features as F
from scoring.models import ModelVersion, ScoreHistory, TrainingRun

MAX_SCORE_ATTRIBUTES = 1000


def _is_scalar(value) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


_SCORE_ATTRIBUTES_SCHEMA = {
    "type": "object",
    "maxProperties": MAX_SCORE_ATTRIBUTES,
    "additionalProperties": {
        "oneOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}],
        "nullable": True,
    },
    "description": "The lead's columns: strings, numbers, booleans or null (missing). A column the active "
    "model reads as a number must be a number, one it reads as true/false a boolean.",
    "example": {"total_visits": 5, "occupation": "Working Professional"},
}


@extend_schema_field(_SCORE_ATTRIBUTES_SCHEMA)
class ScoreAttributesField(serializers.DictField):
    pass


class ScoreRequestSerializer(RejectUnknownFieldsMixin, StrictJsonTypesMixin, serializers.Serializer):
    unknown_field_message = "Unknown field: put lead columns under `attributes`."

    source = serializers.CharField(required=False, allow_blank=True, max_length=128, default="")
    origin = serializers.CharField(required=False, allow_blank=True, max_length=128, default="")
    attributes = ScoreAttributesField(required=False, default=dict)

    def validate_attributes(self, attributes: dict) -> dict:
        errors = {}
        if len(attributes) > MAX_SCORE_ATTRIBUTES:
            raise serializers.ValidationError(f"At most {MAX_SCORE_ATTRIBUTES} attributes.")
        version = selectors.active_model_version()
        types = (version.features or {}).get("types", {}) if version else {}
        for key, value in attributes.items():
            if not _is_scalar(value):
                errors[key] = "must be a string, number, true/false or null"
            elif value is None:
                continue
            elif types.get(key) == F.NUMBER and F.coerce_value(F.NUMBER, value) != F.coerce_value(F.NUMBER, value):
                errors[key] = "must be a number"
            elif types.get(key) == F.BOOLEAN and F.coerce_value(F.BOOLEAN, value) != F.coerce_value(F.BOOLEAN, value):
                errors[key] = "must be true or false"
        if errors:
            raise serializers.ValidationError(errors)
        return attributes


class ReasonSerializer(serializers.Serializer):
    feature = serializers.CharField()
    text = serializers.CharField()
    impact = serializers.FloatField()


class ScoreResponseSerializer(serializers.Serializer):
    probability = serializers.FloatField(min_value=0, max_value=1)
    score = serializers.IntegerField(min_value=0, max_value=100)
    tier = serializers.ChoiceField(choices=Lead.Tier.choices)
    reasons = ReasonSerializer(many=True)
    model_version = serializers.IntegerField(allow_null=True)


class ScoreView(APIView):
    """Score a lead that is not stored (a web form, another system). Nothing is saved."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        summary="Score an unsaved lead", request=ScoreRequestSerializer, responses={200: ScoreResponseSerializer}
    )
    def post(self, request):
        serializer = ScoreRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response(selectors.score_unsaved(**serializer.validated_data))


class ModelVersionSerializer(serializers.ModelSerializer):
    cv_roc_auc = serializers.SerializerMethodField()
    holdout = serializers.SerializerMethodField()
    gates_failed = serializers.SerializerMethodField()
    leak_warnings = serializers.SerializerMethodField()
    training_sample = serializers.SerializerMethodField()

    class Meta:
        model = ModelVersion
        fields = [
            "id",
            "status",
            "algorithm",
            "params",
            "created_at",
            "activated_at",
            "n_rows",
            "n_positive",
            "threshold",
            "cv_roc_auc",
            "holdout",
            "gates_failed",
            "leak_warnings",
            "training_sample",
            "sklearn_version",
            "format_version",
            "artifact_sha256",
            "load_error",
        ]
        read_only_fields = fields

    def get_training_sample(self, obj) -> dict | None:
        """How the rows were sampled when the model learnt from a sample of the closed leads, else null."""
        return ((obj.metrics or {}).get("training_set") or {}).get("sample")

    def get_cv_roc_auc(self, obj) -> dict | None:
        return (obj.metrics or {}).get("cv", {}).get("roc_auc")

    def get_gates_failed(self, obj) -> list[str]:
        """The activation gates this version fails, in words (empty: it may be activated)."""
        return gates.gate_failures(obj.metrics or {})

    def get_leak_warnings(self, obj) -> dict:
        return (obj.metrics or {}).get("leak_warnings") or {}

    def get_holdout(self, obj) -> dict:
        holdout = (obj.metrics or {}).get("holdout", {})
        keys = ("roc_auc", "pr_auc", "log_loss", "brier", "ece", "accuracy", "precision", "recall", "f1", "threshold")
        return {k: holdout.get(k) for k in keys}


class ModelVersionDetailSerializer(ModelVersionSerializer):
    class Meta(ModelVersionSerializer.Meta):
        fields = [*ModelVersionSerializer.Meta.fields, "metrics", "features", "tier_cutoffs", "notes"]
        read_only_fields = fields


class ModelVersionListView(APIView):
    """Model versions, newest first, with headline metrics (managers)."""

    permission_classes = [IsManager]

    @extend_schema(summary="List model versions", responses={200: ModelVersionSerializer(many=True)})
    def get(self, request):
        versions = ModelVersion.objects.all()[:100]
        return Response(ModelVersionSerializer(versions, many=True).data)


class ModelVersionDetailView(APIView):
    """One model version with its full metrics and features (managers)."""

    permission_classes = [IsManager]

    @extend_schema(summary="Read a model version", responses={200: ModelVersionDetailSerializer})
    def get(self, request, pk: int):
        return Response(ModelVersionDetailSerializer(get_object_or_404(ModelVersion, pk=pk)).data)


class ActivateRequestSerializer(serializers.Serializer):
    reason = serializers.CharField(
        max_length=255,
        required=False,
        allow_blank=True,
        help_text="Activate anyway: required when the version failed its activation gates; recorded.",
    )


class ModelVersionActivateView(APIView):
    """Make a version the active model, atomically, and rescore every lead (admins). A version that
    failed its activation gates needs a `reason` (an "activate anyway", recorded); without one: 400."""

    permission_classes = [IsCrmAdmin]

    @extend_schema(
        summary="Activate a model version", request=ActivateRequestSerializer, responses={200: ModelVersionSerializer}
    )
    def post(self, request, pk: int):
        version = get_object_or_404(ModelVersion, pk=pk)
        body = ActivateRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            activation.model_activate(
                version=version, by=request.user, anyway_reason=body.validated_data.get("reason", "")
            )
        except DjangoValidationError as exc:
            if exc.code == activation.GATES_FAILED:  # the reason is the field to fill in
                raise serializers.ValidationError({"reason": exc.messages}) from exc
            raise
        except registry.ArtifactError as exc:
            raise serializers.ValidationError(str(exc)) from exc
        version.refresh_from_db()
        return Response(ModelVersionSerializer(version).data)


class TrainingRunSerializer(serializers.ModelSerializer):
    class Meta:
        model = TrainingRun
        fields = [
            "id",
            "status",
            "progress",
            "stage",
            "message",
            "trigger",
            "created_at",
            "started_at",
            "finished_at",
            "model_version",
        ]
        read_only_fields = fields


class RetrainView(APIView):
    """Queue a retrain (single-flight); poll the returned run for progress (admins)."""

    permission_classes = [IsCrmAdmin]

    @extend_schema(summary="Retrain now", request=None, responses={202: TrainingRunSerializer})
    def post(self, request):
        run = retraining.retrain_request(by=request.user, trigger="api")
        run.refresh_from_db()
        return Response(TrainingRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class TrainingRunView(APIView):
    """A training run's status and progress (managers)."""

    permission_classes = [IsManager]

    @extend_schema(summary="Read a training run", responses={200: TrainingRunSerializer})
    def get(self, request, pk: int):
        return Response(TrainingRunSerializer(get_object_or_404(TrainingRun, pk=pk)).data)


class ScoreHistorySerializer(serializers.ModelSerializer):
    overridden_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True, help_text="null unless a manager overrode the score."
    )
    tier = serializers.ChoiceField(choices=Lead.Tier.choices, read_only=True)

    class Meta:
        model = ScoreHistory
        fields = ["score", "probability", "tier", "model_version", "scored_at", "overridden_by", "override_reason"]
        read_only_fields = fields


class ScoreHistoryView(APIView):
    """A lead's scores over time; 404 for a lead the user may not see."""

    permission_classes = [IsAuthenticated]

    @extend_schema(summary="A lead's score history", responses={200: ScoreHistorySerializer(many=True)})
    def get(self, request, pk: int):
        history = selectors.score_history_for(request.user, pk)
        if history is None:
            raise NotFound("No such lead.")
        return Response(ScoreHistorySerializer(history, many=True).data)


urlpatterns = [
    path("score/", ScoreView.as_view(), name="api-score"),
    path("models/", ModelVersionListView.as_view(), name="api-model-list"),
    path("models/retrain/", RetrainView.as_view(), name="api-model-retrain"),
    path("models/runs/<int:pk>/", TrainingRunView.as_view(), name="api-training-run"),
    path("models/<int:pk>/", ModelVersionDetailView.as_view(), name="api-model-detail"),
    path("models/<int:pk>/activate/", ModelVersionActivateView.as_view(), name="api-model-activate"),
    path("leads/<int:pk>/score-history/", ScoreHistoryView.as_view(), name="api-lead-score-history"),
]
