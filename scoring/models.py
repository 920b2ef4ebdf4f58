"""Scoring's tables: model versions, activations, score history, training and rescore runs, and the
admin's scoring settings. May import django only; foreign keys name the CRM's tables by string
("leads.Lead", settings.AUTH_USER_MODEL).
"""

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
    load_error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["status"], condition=Q(status="active"), name="one_active_model")
        ]

    def __str__(self) -> str:
        return f"Model v{self.pk} ({self.algorithm or 'untrained'}, {self.status})"


class ScoreHistory(models.Model):
    """Every score a lead has been given, for audit and reports."""

    # No database constraints on the two keys a rescore writes (deletes still cascade / set null
    # through Django): their deferred checks were two queries per history row at commit, ~10 s of a
    # full rescore of 1M leads. The lead's key is indexed by scorehist_lead_time (its first column).
    lead = models.ForeignKey(
        "leads.Lead", on_delete=models.CASCADE, related_name="score_history", db_index=False, db_constraint=False
    )
    model_version = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, db_constraint=False
    )
    score = models.SmallIntegerField()
    probability = models.FloatField(null=True, blank=True)
    tier = models.CharField(max_length=16)
    scored_at = models.DateTimeField()
    overridden_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    override_reason = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["-scored_at", "-id"]
        verbose_name_plural = "score history"
        indexes = [models.Index(fields=["lead", "-scored_at"], name="scorehist_lead_time")]

    def __str__(self) -> str:
        return f"{self.score} for lead {self.lead_id} at {self.scored_at:%Y-%m-%d %H:%M}"


class ScoringSettings(models.Model):
    """The admin's choices for training and tiers. One row (pk=1); see ScoringSettings.load()."""

    class TierMode(models.TextChoices):
        PROBABILITY = "probability", "Probability thresholds"
        PERCENTILE = "percentile", "Score percentiles"
        CAPACITY = "capacity", "Rep capacity (hot = top K leads per rep per day)"

    tier_mode = models.CharField(max_length=16, choices=TierMode.choices, default=TierMode.PROBABILITY)
    hot_threshold = models.FloatField(null=True, blank=True, help_text="Probability; empty: the setting default.")
    warm_threshold = models.FloatField(null=True, blank=True)
    hot_percentile = models.FloatField(default=80.0, help_text="Leads above this score percentile are hot.")
    warm_percentile = models.FloatField(default=50.0)
    capacity_per_rep = models.PositiveIntegerField(default=10, help_text="Hot leads a rep can work per day.")
    min_converted = models.PositiveIntegerField(null=True, blank=True)
    min_lost = models.PositiveIntegerField(null=True, blank=True)
    training_since = models.DateField(null=True, blank=True, help_text="Train on leads created since this date.")
    conversion_status = models.CharField(max_length=16, default="converted")
    excluded_columns = models.JSONField(default=list, blank=True)
    kept_columns = models.JSONField(
        default=list, blank=True, help_text="Columns kept even if the leak check flags them."
    )
    rule_score = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Cold start: score given to every lead instead of the base rate."
    )
    margin_auc = models.FloatField(default=0.002)
    margin_log_loss = models.FloatField(default=0.002)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "scoring settings"

    def __str__(self) -> str:
        return "Scoring settings"

    @classmethod
    def load(cls) -> "ScoringSettings":
        """The settings row, created on first use (for writes and row locks)."""
        obj, _ = cls.objects.get_or_create(pk=1)
        return obj

    @classmethod
    def current(cls) -> "ScoringSettings":
        """The settings for reading: the row, or the defaults when none was saved (one query)."""
        return cls.objects.filter(pk=1).first() or cls(pk=1)


class TrainingRun(models.Model):
    """One retrain request: its progress for the page's progress bar, and how it ended."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        REFUSED = "refused", "Refused"
        SKIPPED = "skipped", "Skipped"
        FAILED = "failed", "Failed"

    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    trigger = models.CharField(max_length=32, default="manual")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0)
    stage = models.CharField(max_length=200, blank=True)
    message = models.TextField(blank=True)
    # The broker was down when the run was queued: scoring.redispatch_queued sends it again.
    broker_pending = models.BooleanField(default=False)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    model_version = models.ForeignKey(ModelVersion, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Training run {self.pk} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status not in (self.Status.QUEUED, self.Status.RUNNING)


class RescoreRun(models.Model):
    """A rescore of every lead (or only the stale ones) with one model version, fixed when it starts.

    Cut into id-range partitions (RescorePartition) that any worker on any host takes; the run is
    done when every partition is. `tier_cutoffs` are fixed when it is cut, so every partition gives
    one score one tier. A newer run, or a change of the active model, supersedes it."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        SUPERSEDED = "superseded", "Superseded"

    created_at = models.DateTimeField(auto_now_add=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    model_version = models.ForeignKey(ModelVersion, null=True, blank=True, on_delete=models.SET_NULL)
    # The active version when the run started (model_version may be an older one that loads, when
    # the active one's file does not): a partition that finds another one active stops.
    active_at_start = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    as_of = models.DateTimeField()
    only_stale = models.BooleanField(default=False)
    tier_cutoffs = models.JSONField(default=dict, blank=True)
    partitions_total = models.IntegerField(default=0)
    partitions_done = models.IntegerField(default=0)
    scored = models.IntegerField(default=0)
    changed = models.IntegerField(default=0)
    message = models.CharField(max_length=255, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Rescore run {self.pk} ({self.status})"


class RescorePartition(models.Model):
    """The leads of one rescore run with after_id < id <= through_id (no through_id: to the last
    lead, including leads created during the run), scored in id order from last_lead_id on.

    A worker claims it for SCORING_RESCORE_LEASE_SECONDS and renews the claim with every chunk it
    commits; a partition whose worker died is taken by another once the claim lapses. Each chunk
    and the position move together by compare-and-set on last_lead_id, so two workers that hold
    it at once (a lapsed claim of a slow worker) never both write a chunk."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DONE = "done", "Done"
        STOPPED = "stopped", "Stopped"

    run = models.ForeignKey(RescoreRun, on_delete=models.CASCADE, related_name="partitions")
    after_id = models.BigIntegerField()
    through_id = models.BigIntegerField(null=True, blank=True)
    last_lead_id = models.BigIntegerField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    claimed_by = models.CharField(max_length=255, blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True)
    attempts = models.IntegerField(default=0)
    scored = models.IntegerField(default=0)
    changed = models.IntegerField(default=0)
    message = models.CharField(max_length=255, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run", "after_id"]
        constraints = [models.UniqueConstraint(fields=["run", "after_id"], name="rescore_partition_run_after_uniq")]

    def __str__(self) -> str:
        through = self.through_id if self.through_id is not None else "end"
        return f"Rescore run {self.run_id} ids ({self.after_id}, {through}] ({self.status})"


class ActivationEvent(models.Model):
    """Who activated or rolled back which model version, and when. An "activate anyway" (a version
    that failed its activation gates) records the admin's reason in `note` and the gates it failed."""

    ACTIVATE_ANYWAY = "activate_anyway"

    created_at = models.DateTimeField(auto_now_add=True)
    model_version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="activations")
    previous = models.ForeignKey(ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    action = models.CharField(max_length=16, default="activate")
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    note = models.CharField(max_length=255, blank=True)
    gates_overridden = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.action} v{self.model_version_id} at {self.created_at:%Y-%m-%d %H:%M}"
