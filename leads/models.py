from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import PermissionDenied
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.crypto import salted_hmac


class User(AbstractUser):
    """A LeadCRM user. Managers see every lead; reps their own plus the unassigned pool;
    admins are managers who may also import leads and manage models."""

    class Role(models.TextChoices):
        REP = "rep", "Sales rep"
        MANAGER = "manager", "Manager"
        ADMIN = "admin", "Admin"

    role = models.CharField(max_length=16, choices=Role.choices, default=Role.REP)
    # How many open leads this rep can work at once: routing never assigns above it, and weights
    # its round-robin by what is left (capacity minus open leads owned).
    capacity = models.PositiveIntegerField(default=50)

    def __str__(self) -> str:
        """The name every page shows for a user: the full name, else the username."""
        return self.get_full_name() or self.username

    # The session hash covers the role as well as the password: changing a user's role ends
    # every session they hold, so no browser keeps a role it no longer has (or gains one unseen).
    def get_session_auth_hash(self) -> str:
        return self._session_hash()

    def get_session_auth_fallback_hash(self):
        for fallback_secret in settings.SECRET_KEY_FALLBACKS:
            yield self._session_hash(secret=fallback_secret)

    def _session_hash(self, secret=None) -> str:
        key_salt = "leads.User.get_session_auth_hash"
        return salted_hmac(key_salt, f"{self.password}:{self.role}", secret=secret, algorithm="sha256").hexdigest()

    @property
    def is_manager(self) -> bool:
        return self.role in (self.Role.MANAGER, self.Role.ADMIN) or self.is_superuser

    @property
    def is_crm_admin(self) -> bool:
        return self.role == self.Role.ADMIN or self.is_superuser


def _rank_attribute(name: str) -> property:
    """`Lead.<name>`, read from and written to the lead's LeadRank row (written by Lead.save)."""

    def read(lead: "Lead"):
        return getattr(lead.rank_row(), name)

    def write(lead: "Lead", value) -> None:
        setattr(lead.rank_row(), name, value)
        lead._rank_changed = True

    return property(read, write, doc=f"The lead's LeadRank.{name}.")


class LeadQuerySet(models.QuerySet):
    def bulk_create(self, objs, *args, **kwargs):
        """Also writes the score values set on the new leads (the database adds their LeadRank rows
        with defaults, as for any insert)."""
        leads = super().bulk_create(objs, *args, **kwargs)
        ranked = [lead for lead in leads if getattr(lead, "_rank_changed", False) and lead.pk is not None]
        if ranked:
            rows = [lead.rank_row_saved() for lead in ranked]
            LeadRank.objects.bulk_update(rows, LeadRank.SCORE_COLUMNS, batch_size=2000)
        return leads


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

    # Unique and indexed through Meta rather than unique=/db_index=: on PostgreSQL those also build a
    # varchar_pattern_ops "_like" index per column that no query uses and every write pays for.
    external_id = models.CharField(max_length=255, null=True, blank=True)
    name = models.CharField(max_length=255, blank=True)
    email = models.EmailField(max_length=254, blank=True)
    phone = models.CharField(max_length=64, blank=True)
    company = models.CharField(max_length=255, blank=True)
    source = models.CharField(max_length=128, blank=True)
    origin = models.CharField(max_length=128, blank=True)
    # The marketing campaign (e.g. utm_campaign). db_default: the import writer's COPY names its columns.
    campaign = models.CharField(max_length=128, blank=True, default="", db_default="")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.NEW)
    converted_at = models.DateTimeField(null=True, blank=True)
    # What the converted lead was worth (the close form, the API, or the channel's default value).
    converted_value = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    lost_reason = models.CharField(max_length=255, blank=True)
    # The foreign keys below are indexed by partial indexes in Meta (only rows that have a value):
    # an imported lead has none of them, and every index a new row skips makes imports faster.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="leads",
        db_index=False,
    )
    attributes = models.JSONField(default=dict, blank=True)

    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    first_contacted_at = models.DateTimeField(null=True, blank=True)
    last_activity_at = models.DateTimeField(null=True, blank=True)
    next_follow_up_at = models.DateTimeField(null=True, blank=True)

    # What the model says of the lead lives in its LeadRank row (below); these read and set it.
    score = _rank_attribute("score")
    probability = _rank_attribute("probability")
    tier = _rank_attribute("tier")
    score_reasons = _rank_attribute("score_reasons")
    scored_at = _rank_attribute("scored_at")
    model_version = _rank_attribute("model_version")
    model_version_id = _rank_attribute("model_version_id")
    score_override = _rank_attribute("score_override")
    score_override_reason = _rank_attribute("score_override_reason")
    score_override_by = _rank_attribute("score_override_by")
    score_override_by_id = _rank_attribute("score_override_by_id")
    priority = _rank_attribute("priority")

    # Set when the person's data was erased (leads.privacy): contact fields and free text are gone.
    erased_at = models.DateTimeField(null=True, blank=True)
    # The import that created the lead: its profile (or inline mapping) says which exclusions,
    # labels and units apply to the lead's attributes. No database constraint: an import COPYs
    # millions of rows and a per-row foreign-key check would cost more than the column itself;
    # deleting a job sets it to null through Django.
    import_job = models.ForeignKey(
        "leads.ImportJob",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )

    objects = LeadQuerySet.as_manager()

    class Meta:
        # Newest first. Queue order (by score) is LeadRank's (BY_SCORE), asked for where it is meant:
        # a default order through a join would add it to every query, FOR UPDATE ones included.
        ordering = ["-id"]
        indexes = [
            # The overdue band of a rep's queue (the band by score reads LeadRank's indexes).
            models.Index(
                fields=["owner", "next_follow_up_at", "id"],
                name="lead_queue_owner_followup",
                condition=Q(status__in=["new", "contacted", "qualified"]),
            ),
            # Overdue band of the manager's queue and of the unassigned pool.
            models.Index(
                fields=["next_follow_up_at", "id"],
                name="lead_queue_all_followup",
                condition=Q(status__in=["new", "contacted", "qualified"]),
            ),
            models.Index(
                fields=["next_follow_up_at", "id"],
                name="lead_queue_pool_followup",
                condition=Q(status__in=["new", "contacted", "qualified"], owner__isnull=True),
            ),
            models.Index(fields=["status", "created_at"], name="lead_status_created"),
            models.Index(fields=["created_at"], name="lead_created"),
            # Matching and duplicate checks look up non-empty emails and phones only.
            models.Index(fields=["email"], name="lead_email_set", condition=~Q(email="")),
            models.Index(fields=["phone"], name="lead_phone_set", condition=~Q(phone="")),
            models.Index(fields=["owner"], name="lead_owner_set", condition=Q(owner__isnull=False)),
            models.Index(fields=["source"], name="lead_source"),
        ]
        constraints = [models.UniqueConstraint(fields=["external_id"], name="lead_external_id_unique")]

    def __str__(self) -> str:
        return self.name or self.email or self.external_id or f"Lead #{self.pk}"

    def save(self, *args, **kwargs):
        update_fields = kwargs.get("update_fields")
        if update_fields is not None:
            asked = list(update_fields)
            if any(name in LeadRank.SCORE_ATTRIBUTES for name in asked):
                self._rank_changed = True
            kwargs["update_fields"] = [name for name in asked if name not in LeadRank.SCORE_ATTRIBUTES]
        super().save(*args, **kwargs)
        if getattr(self, "_rank_changed", False):
            self.rank_row_saved().score_write()

    @staticmethod
    def lost_reason_problem(status: str, reason: str | None) -> str | None:
        """The one rule for closing as lost, shared by the pages, the API and the services."""
        if status == Lead.Status.LOST and not (reason or "").strip():
            return "Say why the lead was lost."
        return None

    @staticmethod
    def keeps_converted_value(from_status: str, to_status: str) -> bool:
        """The one rule for a lead's value when it moves to an open status or is lost: a lost lead
        has none, reopening a conversion drops the conversion's value, and an open lead keeps the
        value it carries (an import may give one). Closing as converted sets it (lead_close)."""
        return to_status in Lead.OPEN_STATUSES and from_status != Lead.Status.CONVERTED

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

    def get_tier_display(self) -> str:
        return self.rank_row().get_tier_display()

    def top_reasons(self, n: int = 3) -> list[dict]:
        reasons = self.score_reasons or []
        return reasons[:n] if isinstance(reasons, list) else []

    # --- what the model says of the lead, stored in its LeadRank row (below) ---------------------

    def rank_row(self) -> "LeadRank":
        """The lead's LeadRank: loaded (or select_related), or a new one in memory for a lead the
        database has none for yet (an unsaved lead; the database adds the row when the lead is
        inserted, and save() then writes what was set here)."""
        try:
            return self.rank
        except LeadRank.DoesNotExist:
            row = LeadRank(lead=self, owner_id=self.owner_id, status=self.status)
            self.rank = row
            return row

    def rank_row_saved(self) -> "LeadRank":
        """The rank row of this saved lead, with the score values set on it, as the database has it
        (its copies of owner and status as the triggers wrote them); its values are to be written."""
        self._rank_changed = False
        row = self.rank_row()
        row.lead_id, row.owner_id, row.status = self.pk, self.owner_id, self.status
        row._state.adding = False
        return row


# Leads in queue order (effective score, then newest first), as LeadRank's indexes hold it.
BY_SCORE = ("-rank__priority", "-rank__lead_id")
# Leads joined to their LeadRank row as an inner join (every lead has one), so that PostgreSQL can
# drive an order by score from LeadRank's index; a filter such as owner IS NULL on the rank would
# otherwise make Django join it as an outer join.
RANKED = Q(rank__isnull=False)
# Open unassigned leads, matched on LeadRank's copies so that BY_SCORE walks LeadRank's index.
RANKED_POOL = RANKED & Q(rank__owner__isnull=True, rank__status__in=Lead.OPEN_STATUSES)


class LeadRank(models.Model):
    """What the model says of one lead and where that puts it in the queue: its score, tier and
    reasons, the manager's override and the queue's sort key (`priority`).

    Kept out of `leads_lead` because a rescore changes it for every lead at once: in the wide,
    sixteen-index lead row every changed priority was a non-HOT update writing a wide tuple and
    sixteen index entries (64 s of PostgreSQL CPU per million leads, BENCHMARKS "Full rescore speed,
    issue 19"); here it is a narrow tuple and the entries of the queue's own indexes.

    `owner` and `status` are copies of the lead's, so the queue's band by score is one range scan of
    one index here. Database triggers (migration 0018) insert the row with the lead and copy both
    columns on every write to the lead (services, QuerySet.update, COPY, admin, raw SQL alike); no
    Python code writes them. On PostgreSQL the row's link to its lead has no database constraint
    (its check cost more than the insert, migration 0020): triggers also delete the row with its
    lead and empty the table when leads_lead is truncated.
    """

    lead = models.OneToOneField(
        Lead, primary_key=True, on_delete=models.CASCADE, related_name="rank", db_constraint=False
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    status = models.CharField(max_length=16, choices=Lead.Status.choices, default=Lead.Status.NEW)

    score = models.SmallIntegerField(null=True, blank=True)
    probability = models.FloatField(null=True, blank=True)
    tier = models.CharField(max_length=16, choices=Lead.Tier.choices, default=Lead.Tier.UNSCORED)
    score_reasons = models.JSONField(default=list, blank=True)
    scored_at = models.DateTimeField(null=True, blank=True)
    # No database constraint (deletes still set null through Django, as ScoreHistory's): a full
    # rescore gives every lead a new version, and the deferred check was one lookup per lead at
    # commit, ~5 s of database CPU per million leads.
    model_version = models.ForeignKey(
        "scoring.ModelVersion",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    # A manager's override, kept beside the model's own score.
    score_override = models.SmallIntegerField(null=True, blank=True)
    score_override_reason = models.CharField(max_length=255, blank=True)
    score_override_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    # Queue sort key: the effective score (override, else model score), or -1 when unscored.
    # Not null so that keyset pagination can compare (priority, id) as a row value.
    priority = models.SmallIntegerField(default=Lead.UNSCORED_PRIORITY)

    # What a Lead reads and sets through its own attributes (Lead.score, Lead.tier, ...).
    SCORE_ATTRIBUTES = (
        *("score", "probability", "tier", "score_reasons", "scored_at", "model_version", "model_version_id"),
        *("score_override", "score_override_reason", "score_override_by", "score_override_by_id", "priority"),
    )
    SCORE_COLUMNS = tuple(name for name in SCORE_ATTRIBUTES if not name.endswith("_id"))

    class Meta:
        indexes = [
            # The band by score of a rep's queue: open leads of one owner by priority.
            models.Index(
                fields=["owner", "-priority", "-lead"],
                name="rank_queue_owner_prio",
                condition=Q(status__in=["new", "contacted", "qualified"]),
            ),
            # Manager's view over every owner.
            models.Index(
                fields=["-priority", "-lead"],
                name="rank_queue_all_prio",
                condition=Q(status__in=["new", "contacted", "qualified"]),
            ),
            # The unassigned pool (claiming, routing, the pool's queue): only pooled leads' entries.
            models.Index(
                fields=["-priority", "-lead"],
                name="rank_queue_pool_prio",
                condition=Q(status__in=["new", "contacted", "qualified"], owner__isnull=True),
            ),
            # The API's default listing: every lead, open or closed, by priority.
            models.Index(fields=["-priority", "-lead"], name="rank_all_prio"),
            # A queue filtered to one closed status (converted / lost) is a single band by score.
            models.Index(
                fields=["status", "-priority", "-lead"],
                name="rank_closed_prio",
                condition=Q(status__in=["converted", "lost"]),
            ),
            models.Index(
                fields=["model_version"], name="rank_model_version_set", condition=Q(model_version__isnull=False)
            ),
            models.Index(
                fields=["score_override_by"], name="rank_override_by_set", condition=Q(score_override_by__isnull=False)
            ),
        ]

    def __str__(self) -> str:
        return f"Rank of lead #{self.lead_id}: {self.priority}"

    def score_write(self) -> None:
        """Write the score columns (never the copies of the lead's owner and status, which the
        database keeps). The lead is saved, so its row exists."""
        LeadRank.objects.filter(pk=self.lead_id).update(**{name: getattr(self, name) for name in self.SCORE_COLUMNS})


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

    @staticmethod
    def due_at_problem(due_at, now=None) -> str | None:
        """The one rule for when a follow-up may be due: the lead page, the queue's bulk form and the API."""
        if due_at <= (now or timezone.now()):
            local = timezone.localtime(due_at).strftime("%Y-%m-%d %H:%M")
            return f"A follow-up must be due in the future; {local} has passed."
        return None

    def is_overdue(self, now=None) -> bool:
        return self.done_at is None and self.due_at < (now or timezone.now())


class ImportProfile(models.Model):
    """How one company's lead files map onto LeadCRM: saved, reusable, editable in the admin.

    `mapping` names the file column for each lead field it fills (any of LEAD_FIELDS); every
    other column lands in Lead.attributes. Nothing here is specific to one company's data.
    """

    LEAD_FIELDS = (
        "external_id", "email", "name", "phone", "company", "source", "origin", "campaign", "owner", "created_at",
        "converted_value",
    )  # fmt: skip
    # Units a number column may declare (column_units): score reasons then read "24 min", "3 days", "12 %".
    UNITS = ("seconds", "minutes", "hours", "days", "percent")

    name = models.SlugField(max_length=64, unique=True)
    description = models.CharField(max_length=255, blank=True)
    mapping = models.JSONField(default=dict, blank=True, help_text='{"external_id": "Prospect ID", ...}')
    outcome_column = models.CharField(max_length=255, blank=True)
    converted_values = models.JSONField(default=list, blank=True, help_text='Outcome values meaning won, e.g. ["1"]')
    lost_values = models.JSONField(default=list, blank=True, help_text='Outcome values meaning lost, e.g. ["0"]')
    lost_reason = models.CharField(max_length=255, default="imported outcome")
    placeholder_values = models.JSONField(
        default=list, blank=True, help_text='Levels that mean "not answered", stored as missing, e.g. ["Select"]'
    )
    # Declared types ({"TotalVisits": "number", ...}) are validated; other columns are inferred per import.
    column_types = models.JSONField(default=dict, blank=True)
    # Columns kept in attributes but left out of scoring, with the reason ({"Tags": "leaks the outcome"}).
    excluded_columns = models.JSONField(default=dict, blank=True)
    # How a rep reads a column in score reasons ({"time_on_site_seconds": "Time on site"}; default: the
    # header prettified) and the unit of a number ({"Total Time Spent on Website": "seconds"}).
    column_labels = models.JSONField(default=dict, blank=True)
    column_units = models.JSONField(default=dict, blank=True)
    delimiter = models.CharField(max_length=1, blank=True, help_text="Blank: detect")
    encoding = models.CharField(max_length=32, blank=True, help_text="Blank: detect (UTF-8, else cp1252)")
    # --- import wizard (issue 14) ---
    # Outcome values meaning "still open"; more outcome columns {column: {"converted", "lost", "open"}};
    # per-column number limits {column: {"min", "max"}}; slash/dot date order {column: "mdy"|"dmy"|"ymd"}.
    open_values = models.JSONField(default=list, blank=True)
    extra_outcomes = models.JSONField(default=dict, blank=True)
    column_limits = models.JSONField(default=dict, blank=True)
    date_orders = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ImportJob(models.Model):
    """One import of one file: its settings, progress, counts and outcome."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        INTERRUPTED = "interrupted", "Interrupted (resumable)"

    class Mode(models.TextChoices):
        ATOMIC = "atomic", "Atomic: any error imports nothing"
        SKIP_BAD = "skip_bad", "Skip bad rows"

    ACTIVE_STATUSES = (Status.PENDING, Status.RUNNING)

    profile = models.ForeignKey(ImportProfile, null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs")
    # The profile settings this job ran with (a snapshot, or an inline mapping sent to the API).
    spec = models.JSONField(default=dict, blank=True)
    file = models.FileField(upload_to="imports/%Y/%m/", max_length=500)
    original_name = models.CharField(max_length=255, blank=True)
    file_sha256 = models.CharField(max_length=64, blank=True)
    file_bytes = models.BigIntegerField(default=0)
    mode = models.CharField(max_length=16, choices=Mode.choices, default=Mode.ATOMIC)
    dry_run = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True)
    error = models.TextField(blank=True, help_text="Why the job failed, in words")
    # The broker was down when the job was queued: the beat task leads.import_redispatch_queued sends it again.
    broker_pending = models.BooleanField(default=False)
    chunk_rows = models.PositiveIntegerField(default=0)
    rows_total = models.PositiveIntegerField(default=0)
    rows_done = models.PositiveIntegerField(default=0)
    last_chunk = models.IntegerField(default=-1, help_text="Index of the last committed chunk")
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    unchanged_count = models.PositiveIntegerField(default=0)
    skipped_count = models.PositiveIntegerField(default=0)
    failed_count = models.PositiveIntegerField(default=0)
    error_count = models.PositiveIntegerField(default=0)
    outcomes_count = models.PositiveIntegerField(default=0)
    duplicates = models.JSONField(default=list, blank=True, help_text="Possible duplicates, for review")
    # {column: values} whose control characters / bidi overrides were removed (leads.text.clean_text).
    cleaned_values = models.JSONField(default=dict, blank=True)
    column_types = models.JSONField(default=dict, blank=True)
    level_folds = models.JSONField(default=dict, blank=True, help_text="Levels merged because only case differed")
    encoding = models.CharField(max_length=32, blank=True)
    delimiter = models.CharField(max_length=1, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="import_jobs"
    )
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Import #{self.pk} {self.original_name} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE_STATUSES

    @property
    def progress_percent(self) -> int:
        if not self.rows_total:
            return 100 if self.status == self.Status.SUCCEEDED else 0
        return min(100, round(100 * self.rows_done / self.rows_total))


class ImportRowError(models.Model):
    """One problem in one row of an import: where, what value, and why."""

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="row_errors")
    row_number = models.PositiveIntegerField(help_text="Line in the file (the header is line 1)")
    column = models.CharField(max_length=255, blank=True)
    value = models.TextField(blank=True)
    message = models.CharField(max_length=500)
    # The row's original cells (header order), so the error CSV can be fixed and re-imported.
    raw = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["row_number", "id"]
        indexes = [models.Index(fields=["job", "row_number"], name="importerror_job_row")]

    def __str__(self) -> str:
        return f"Row {self.row_number} {self.column}: {self.message}"


class AuditEntryQuerySet(models.QuerySet):
    """Append-only: bulk updates and deletes through the ORM are refused like single ones."""

    def update(self, **kwargs):
        raise PermissionDenied("Audit entries cannot be changed.")

    def delete(self):
        raise PermissionDenied("Audit entries cannot be deleted.")


class AuditEntry(models.Model):
    """One thing someone did that an auditor may ask about: who, when, what, to what, from where.

    Written only through leads.audit.audit_record; never updated or deleted by the app (the admin
    is read-only). Targets are named by type and id, never by personal data, so an erased lead's
    audit trail holds nothing the erasure removed.
    """

    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    # The actor's username when the entry was written (kept if the user is deleted); "system" for tasks.
    actor_name = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=64)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    details = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)

    objects = AuditEntryQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name_plural = "audit entries"
        indexes = [
            models.Index(fields=["action", "-at"], name="audit_action_at"),
            models.Index(fields=["actor", "-at"], name="audit_actor_at"),
            models.Index(fields=["target_type", "target_id"], name="audit_target"),
        ]

    def __str__(self) -> str:
        who = self.actor_name or "system"
        return f"{self.at:%Y-%m-%d %H:%M:%S} {who} {self.action} {self.target_type}#{self.target_id}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise PermissionDenied("Audit entries cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionDenied("Audit entries cannot be deleted.")


def channel_name(source: str, campaign: str) -> str:
    """A channel as people write it: the source, or "source / campaign" for one of its campaigns."""
    return f"{source} / {campaign}" if campaign else source


class Spend(models.Model):
    """Marketing spend of one month on a source (and optionally one of its campaigns)."""

    month = models.DateField(help_text="The first day of the month")
    source = models.CharField(max_length=128)
    campaign = models.CharField(max_length=128, blank=True, help_text="Empty: the source as a whole")
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-month", "source", "campaign"]
        constraints = [
            models.UniqueConstraint(fields=["month", "source", "campaign"], name="spend_month_channel_unique"),
            models.CheckConstraint(condition=Q(amount__gte=0), name="spend_amount_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{channel_name(self.source, self.campaign)}, {self.month:%b %Y}: {self.amount}"


class ChannelValue(models.Model):
    """The value a converted lead of a source (or one campaign of it) is worth when its close
    records none; admins set it."""

    source = models.CharField(max_length=128)
    campaign = models.CharField(max_length=128, blank=True, help_text="Empty: every campaign of the source")
    value = models.DecimalField(max_digits=14, decimal_places=2)

    class Meta:
        ordering = ["source", "campaign"]
        constraints = [
            models.UniqueConstraint(fields=["source", "campaign"], name="channel_value_unique"),
            models.CheckConstraint(condition=Q(value__gte=0), name="channel_value_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{channel_name(self.source, self.campaign)}: {self.value}"

    @staticmethod
    def pick(values: dict, source: str, campaign: str):
        """The one rule for a channel's value, from {(source, campaign): value}: the campaign's own
        value, else its source's (campaign ""), else None."""
        return values.get((source, campaign), values.get((source, "")))


class ForecastSnapshot(models.Model):
    """The forecast of the open leads as it stood when taken (a beat task takes one a month), so
    that a later month can set it beside what those leads actually did."""

    taken_at = models.DateTimeField(default=timezone.now, db_index=True)
    open_leads = models.PositiveIntegerField()
    scored_leads = models.PositiveIntegerField()
    expected_conversions = models.FloatField()
    conversions_variance = models.FloatField()
    expected_revenue = models.FloatField(null=True)
    revenue_variance = models.FloatField(null=True)
    by_source = models.JSONField(default=list, help_text="The same figures per source")

    class Meta:
        ordering = ["-taken_at"]

    def __str__(self) -> str:
        return f"Forecast of {self.open_leads} open leads at {self.taken_at:%Y-%m-%d}"


# --- the sales team's day: lost reasons, routing, SLA escalation, notifications --------------


class LostReason(models.Model):
    """One entry of the admin-edited pick list a rep chooses from when closing a lead as lost.
    The lead stores the label text (Lead.lost_reason); "Other" is free text."""

    label = models.CharField(max_length=255, unique=True)
    active = models.BooleanField(default=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "label"]

    def __str__(self) -> str:
        return self.label


class RoutingRule(models.Model):
    """Which new or pooled leads go to which team of reps (leads/routing.py).

    Every filled criterion must match (blank means any); the first active rule by position that
    matches a lead routes it. `on_sla_breach` says what happens when a lead it matches misses its
    first-contact SLA (leads/sla.py)."""

    class BreachAction(models.TextChoices):
        NOTIFY = "notify", "Notify managers only"
        POOL = "pool", "Notify managers, return the lead to the pool"
        NEXT_REP = "next_rep", "Notify managers, give the lead to the next rep of the team"

    name = models.CharField(max_length=128)
    active = models.BooleanField(default=True)
    position = models.PositiveSmallIntegerField(default=0, help_text="Lower runs first")
    source = models.CharField(max_length=128, blank=True, help_text="Blank: any source")
    origin = models.CharField(max_length=128, blank=True, help_text="Blank: any origin")
    tier = models.CharField(max_length=16, blank=True, choices=Lead.Tier.choices, help_text="Blank: any tier")
    min_score = models.SmallIntegerField(
        null=True, blank=True, help_text="Only leads whose score is above this (0-100); blank: any"
    )
    reps = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="routing_rules", blank=True)
    on_sla_breach = models.CharField(max_length=16, choices=BreachAction.choices, default=BreachAction.NOTIFY)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.name

    def matches(self, lead) -> bool:
        """`lead`: a Lead, or any object with its source, origin, tier and priority."""
        return (
            (not self.source or lead.source == self.source)
            and (not self.origin or lead.origin == self.origin)
            and (not self.tier or lead.tier == self.tier)
            and (self.min_score is None or lead.priority > self.min_score)
        )


class SlaEvent(models.Model):
    """A lead reached a first-contact SLA stage once: the warning to its owner, or the breach that
    notified the managers (and perhaps moved the lead). The unique pair makes escalation run once."""

    class Stage(models.TextChoices):
        WARNING = "warning", "About to breach"
        BREACH = "breach", "Breached"

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="sla_events")
    stage = models.CharField(max_length=16, choices=Stage.choices)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["lead", "stage"], name="sla_event_once")]

    def __str__(self) -> str:
        return f"SLA {self.stage} on lead {self.lead_id}"


class Notification(models.Model):
    class Kind(models.TextChoices):
        LEAD_ASSIGNED = "lead_assigned", "A lead was assigned to you"
        FOLLOW_UP_DUE = "follow_up_due", "A follow-up is due today"
        SLA_WARNING = "sla_warning", "A lead is about to miss its first-contact SLA"
        SLA_BREACH = "sla_breach", "A lead missed its first-contact SLA"
        IMPORT_FINISHED = "import_finished", "An import finished"
        IMPORT_FAILED = "import_failed", "An import failed"
        MODEL_ACTIVATED = "model_activated", "A new model was activated"
        MODEL_REFUSED = "model_refused", "A trained model was refused by its gates"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=32, choices=Kind.choices)
    title = models.CharField(max_length=255)
    body = models.TextField(blank=True)
    url = models.CharField(max_length=500, blank=True)
    lead = models.ForeignKey(Lead, null=True, blank=True, on_delete=models.CASCADE, related_name="+", db_index=False)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)
    # Set for notifications that must be sent once (an SLA stage, a day's follow-ups).
    dedupe_key = models.CharField(max_length=128, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["user", "-created_at", "-id"], name="notification_user_list"),
            # The header badge: a count over this index only.
            models.Index(fields=["user"], name="notification_user_unread", condition=Q(read_at__isnull=True)),
            models.Index(fields=["lead"], name="notification_lead_set", condition=Q(lead__isnull=False)),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "dedupe_key"], name="notification_once", condition=~Q(dedupe_key="")
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} for {self.user_id}: {self.title}"


class NotificationPreference(models.Model):
    """One user's choice for one kind of notification; no row means in-app and email, no digest."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_prefs")
    kind = models.CharField(max_length=32, choices=Notification.Kind.choices)
    in_app = models.BooleanField(default=True)
    email = models.BooleanField(default=True)
    # Follow-ups due today: one notification a day listing them instead of one per follow-up.
    digest = models.BooleanField(default=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "kind"], name="notification_pref_once")]

    def __str__(self) -> str:
        return f"{self.kind} for {self.user_id}"


class SavedView(models.Model):
    """A user's named set of queue filters (the queue's query string, filter names only).
    Private: only its owner sees, opens or deletes it (leads/saved_views.py)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_views")
    name = models.CharField(max_length=80)
    query = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "id"]
        constraints = [models.UniqueConstraint(fields=["user", "name"], name="saved_view_name_per_user")]

    def __str__(self) -> str:
        return self.name


# The reports' rollup tables live beside the reports (leads/reports/rollup_models.py); imported
# here so that Django registers them with the leads app.
from leads.reports.rollup_models import (  # noqa: E402, F401
    RollupChannel,
    RollupCube,
    RollupCubeMonth,
    RollupDirty,
    RollupDuration,
    RollupFollowUp,
    RollupFunnel,
    RollupLost,
)
