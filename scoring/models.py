from django.conf import settings
from django.db import models
from django.db.models import Q


class ModelVersion(models.Model):
    """One trained model: its artifact, metrics and lifecycle state."""

    class Status(models.TextChoices):
        CANDIDATE = "candidate", "Candidate"
        ACTIVE = "active", "Active"
        RETIRED = "retired", "Retired"
        FAILED = "failed", "Failed"

    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.CANDIDATE)
    algorithm = models.CharField(max_length=64, blank=True)
    params = models.JSONField(default=dict, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    features = models.JSONField(default=dict, blank=True)
    n_rows = models.IntegerField(default=0)
    n_positive = models.IntegerField(default=0)
    threshold = models.FloatField(default=0.5)
    tier_cutoffs = models.JSONField(default=dict, blank=True)
    artifact_path = models.CharField(max_length=500, blank=True)
    artifact_sha256 = models.CharField(max_length=64, blank=True)
    sklearn_version = models.CharField(max_length=32, blank=True)
    format_version = models.IntegerField(default=1)
    activated_at = models.DateTimeField(null=True, blank=True)
    notes = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["status"], condition=Q(status="active"), name="one_active_model")
        ]

    def __str__(self) -> str:
        return f"Model v{self.pk} ({self.algorithm or 'untrained'}, {self.status})"


class ScoreHistory(models.Model):
    """Every score a lead has been given, for audit and reports."""

    lead = models.ForeignKey("leads.Lead", on_delete=models.CASCADE, related_name="score_history")
    model_version = models.ForeignKey(ModelVersion, null=True, blank=True, on_delete=models.SET_NULL)
    score = models.SmallIntegerField()
    probability = models.FloatField(null=True, blank=True)
    tier = models.CharField(max_length=16)
    scored_at = models.DateTimeField()
    overridden_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-scored_at", "-id"]
        verbose_name_plural = "score history"
        indexes = [models.Index(fields=["lead", "-scored_at"], name="scorehist_lead_time")]

    def __str__(self) -> str:
        return f"{self.score} for lead {self.lead_id} at {self.scored_at:%Y-%m-%d %H:%M}"
