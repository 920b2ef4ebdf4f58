from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models import Q
from django.utils import timezone


class User(AbstractUser):
    """A LeadCRM user. Managers see every lead; reps their own plus the unassigned pool;
    admins are managers who may also import leads and manage models."""

    class Role(models.TextChoices):
        REP = "rep", "Sales rep"
        MANAGER = "manager", "Manager"
        ADMIN = "admin", "Admin"

    role = models.CharField(max_length=16, choices=Role.choices, default=Role.REP)

    @property
    def is_manager(self) -> bool:
        return self.role in (self.Role.MANAGER, self.Role.ADMIN) or self.is_superuser

    @property
    def is_crm_admin(self) -> bool:
        return self.role == self.Role.ADMIN or self.is_superuser


class Lead(models.Model):
    class Status(models.TextChoices):
        NEW = "new", "New"
        CONTACTED = "contacted", "Contacted"
        QUALIFIED = "qualified", "Qualified"
        CONVERTED = "converted", "Converted"
        LOST = "lost", "Lost"

    class Tier(models.TextChoices):
        HOT = "hot", "Hot"
        WARM = "warm", "Warm"
        COLD = "cold", "Cold"
        UNSCORED = "unscored", "Unscored"

    OPEN_STATUSES = (Status.NEW, Status.CONTACTED, Status.QUALIFIED)
    CLOSED_STATUSES = (Status.CONVERTED, Status.LOST)
    # Sort key of a lead with no score yet: below every real score (0-100).
    UNSCORED_PRIORITY = -1

    external_id = models.CharField(max_length=255, null=True, blank=True, unique=True)
    name = models.CharField(max_length=255, blank=True)
    email = models.EmailField(max_length=254, blank=True, db_index=True)
    phone = models.CharField(max_length=64, blank=True, db_index=True)
    company = models.CharField(max_length=255, blank=True)
    source = models.CharField(max_length=128, blank=True, db_index=True)
    origin = models.CharField(max_length=128, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.NEW)
    converted_at = models.DateTimeField(null=True, blank=True)
    lost_reason = models.CharField(max_length=255, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="leads"
    )
    attributes = models.JSONField(default=dict, blank=True)

    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    first_contacted_at = models.DateTimeField(null=True, blank=True)
    last_activity_at = models.DateTimeField(null=True, blank=True)
    next_follow_up_at = models.DateTimeField(null=True, blank=True)

    # The current score lives on the lead so the queue is one index scan.
    score = models.SmallIntegerField(null=True, blank=True)
    probability = models.FloatField(null=True, blank=True)
    tier = models.CharField(max_length=16, choices=Tier.choices, default=Tier.UNSCORED)
    score_reasons = models.JSONField(default=list, blank=True)
    scored_at = models.DateTimeField(null=True, blank=True)
    model_version = models.ForeignKey(
        "scoring.ModelVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # A manager's override, kept beside the model's own score.
    score_override = models.SmallIntegerField(null=True, blank=True)
    score_override_reason = models.CharField(max_length=255, blank=True)
    score_override_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Queue sort key: the effective score (override, else model score), or -1 when unscored.
    # Not null so that keyset pagination can compare (priority, id) as a row value.
    priority = models.SmallIntegerField(default=UNSCORED_PRIORITY)

    class Meta:
        ordering = ["-priority", "-id"]
        indexes = [
            # The rep's queue: open leads of one owner by priority, and the overdue band.
            models.Index(
                fields=["owner", "-priority", "-id"],
                name="lead_queue_owner_prio",
                condition=Q(status__in=["new", "contacted", "qualified"]),
            ),
            models.Index(
                fields=["owner", "next_follow_up_at", "id"],
                name="lead_queue_owner_followup",
                condition=Q(status__in=["new", "contacted", "qualified"]),
            ),
            # Manager's view over every owner.
            models.Index(
                fields=["-priority", "-id"],
                name="lead_queue_all_prio",
                condition=Q(status__in=["new", "contacted", "qualified"]),
            ),
            models.Index(fields=["status", "created_at"], name="lead_status_created"),
            models.Index(fields=["created_at"], name="lead_created"),
        ]

    def __str__(self) -> str:
        return self.name or self.email or self.external_id or f"Lead #{self.pk}"

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN_STATUSES

    def is_overdue(self, now=None) -> bool:
        now = now or timezone.now()
        return self.is_open and self.next_follow_up_at is not None and self.next_follow_up_at < now

    @property
    def effective_score(self) -> int | None:
        return self.score_override if self.score_override is not None else self.score

    @property
    def display_name(self) -> str:
        return str(self)

    def top_reasons(self, n: int = 3) -> list[dict]:
        reasons = self.score_reasons or []
        return reasons[:n] if isinstance(reasons, list) else []


class Activity(models.Model):
    class Kind(models.TextChoices):
        CALL = "call", "Call"
        EMAIL = "email", "Email"
        MEETING = "meeting", "Meeting"
        NOTE = "note", "Note"
        SMS = "sms", "SMS"
        WEB_VISIT = "web_visit", "Web visit"
        FORM = "form", "Form"
        STATUS_CHANGE = "status_change", "Status change"

    # Kinds in which the rep reached the lead: the first one sets first_contacted_at.
    CONTACT_KINDS = (Kind.CALL, Kind.EMAIL, Kind.MEETING, Kind.SMS)
    LOGGABLE_KINDS = (Kind.CALL, Kind.EMAIL, Kind.MEETING, Kind.NOTE, Kind.SMS)

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="activities")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="activities"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    outcome = models.CharField(max_length=128, blank=True)
    occurred_at = models.DateTimeField(default=timezone.now)
    notes = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        verbose_name_plural = "activities"
        indexes = [
            models.Index(fields=["lead", "-occurred_at"], name="activity_lead_time"),
            models.Index(fields=["kind", "occurred_at"], name="activity_kind_time"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on {self.lead_id} at {self.occurred_at:%Y-%m-%d %H:%M}"


class FollowUp(models.Model):
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="follow_ups")
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="follow_ups"
    )
    due_at = models.DateTimeField()
    done_at = models.DateTimeField(null=True, blank=True)
    note = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["due_at", "id"]
        indexes = [
            models.Index(fields=["lead", "due_at"], name="followup_open_lead", condition=Q(done_at__isnull=True)),
            models.Index(fields=["assigned_to", "due_at"], name="followup_assignee_due"),
        ]

    def __str__(self) -> str:
        return f"Follow-up on {self.lead_id} due {self.due_at:%Y-%m-%d %H:%M}"

    @property
    def is_open(self) -> bool:
        return self.done_at is None

    def is_overdue(self, now=None) -> bool:
        return self.done_at is None and self.due_at < (now or timezone.now())
