"""Django admin for the scoring models (read-mostly). May import scoring.models only."""

from django.contrib import admin
from django.db import models

from leadcrm.json_limits import LimitedJSONDecoder
from scoring.models import (
    ActivationEvent,
    ModelVersion,
    RescorePartition,
    RescoreRun,
    ScoreHistory,
    ScoringSettings,
    TrainingRun,
)


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    formfield_overrides = {models.JSONField: {"decoder": LimitedJSONDecoder}}
    list_display = ("id", "algorithm", "status", "n_rows", "n_positive", "created_at", "activated_at")
    list_filter = ("status", "algorithm")
    readonly_fields = (
        "created_at",
        "status",
        "artifact_path",
        "artifact_sha256",
        "sklearn_version",
        "format_version",
        "activated_at",
        "load_error",
    )


@admin.register(ScoreHistory)
class ScoreHistoryAdmin(admin.ModelAdmin):
    list_display = ("lead", "score", "tier", "model_version", "scored_at", "overridden_by")
    list_filter = ("tier",)
    raw_id_fields = ("lead", "model_version", "overridden_by")
    list_select_related = ("lead", "model_version", "overridden_by")


@admin.register(ScoringSettings)
class ScoringSettingsAdmin(admin.ModelAdmin):
    formfield_overrides = {models.JSONField: {"decoder": LimitedJSONDecoder}}
    list_display = ("__str__", "tier_mode", "updated_at")


@admin.register(TrainingRun)
class TrainingRunAdmin(admin.ModelAdmin):
    list_display = ("id", "trigger", "status", "progress", "created_at", "finished_at", "model_version")
    list_filter = ("status", "trigger")
    raw_id_fields = ("model_version", "created_by")


@admin.register(RescoreRun)
class RescoreRunAdmin(admin.ModelAdmin):
    list_display = ("id", "status", "model_version", "partitions", "scored", "changed", "created_at", "message")
    list_filter = ("status",)

    @admin.display(description="partitions done")
    def partitions(self, run: RescoreRun) -> str:
        return f"{run.partitions_done} of {run.partitions_total}"


@admin.register(RescorePartition)
class RescorePartitionAdmin(admin.ModelAdmin):
    list_display = (
        "id", "run", "after_id", "through_id", "status", "scored", "claimed_by", "claimed_until", "attempts",
    )  # fmt: skip
    list_filter = ("status",)
    raw_id_fields = ("run",)


@admin.register(ActivationEvent)
class ActivationEventAdmin(admin.ModelAdmin):
    list_display = ("created_at", "action", "model_version", "previous", "by")
    raw_id_fields = ("model_version", "previous", "by")
