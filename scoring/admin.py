from django.contrib import admin

from scoring.models import ModelVersion, ScoreHistory


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ("id", "algorithm", "status", "n_rows", "n_positive", "created_at", "activated_at")
    list_filter = ("status", "algorithm")
    readonly_fields = ("created_at", "artifact_sha256", "sklearn_version", "format_version")


@admin.register(ScoreHistory)
class ScoreHistoryAdmin(admin.ModelAdmin):
    list_display = ("lead", "score", "tier", "model_version", "scored_at")
    list_filter = ("tier",)
    raw_id_fields = ("lead", "model_version", "overridden_by")
    list_select_related = ("lead", "model_version")
