"""Rollup tables of the leads: what the manager reports read instead of scanning `leads_lead`.

Every table is keyed by the lead's local creation day (the reports filter on whole local days)
and the filter dimensions (source, origin, owner), with additive measures only: a report for any
date range and filter is a SUM over the rows of its days, and a day is rebuilt from the leads
created that day with one INSERT ... SELECT ... GROUP BY (leads.reports.rollups). Owners are plain
ids, not foreign keys: a rollup row is derived data and is rebuilt, never cascaded.

Loaded by leads/models.py, so Django sees them as models of the `leads` app.
"""

from django.db import models

_SOURCE = 128  # Lead.source / origin / campaign
_TIER = 16


class _Rollup(models.Model):
    day = models.DateField()

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{type(self).__name__} of {self.day}"


class _CubeRow(models.Model):
    """The cube's dimensions (besides time) and measures, shared by the day and month grains.

    sla_late: contacted later than its tier's first-contact SLA (REPORT_SLA_*_HOURS when built).
    Leads not contacted are leads - contacted; whether they breach depends on now, which the
    reports work out (leads.reports.rollup_reads.rep_discipline)."""

    source = models.CharField(max_length=_SOURCE)
    origin = models.CharField(max_length=_SOURCE)
    owner_id = models.BigIntegerField(null=True)
    tier = models.CharField(max_length=_TIER)
    band = models.SmallIntegerField()
    leads = models.IntegerField()
    converted = models.IntegerField()
    lost = models.IntegerField()
    contacted = models.IntegerField()
    open_not_contacted = models.IntegerField()
    converted_7d = models.IntegerField()
    converted_30d = models.IntegerField()
    converted_90d = models.IntegerField()
    sla_late = models.IntegerField()

    class Meta:
        abstract = True


class RollupCube(_Rollup, _CubeRow):
    """Per day x source x origin x owner x tier x score band (the conversion cube's dimensions)."""

    class Meta:
        db_table = "leads_rollup_cube"
        app_label = "leads"
        indexes = [models.Index(fields=["day"], name="rollup_cube_day")]


class RollupCubeMonth(_CubeRow):
    """RollupCube summed per local month (from the day rows, whenever a day is rebuilt): whole
    months of a long date range are read here, a few times fewer rows than their days."""

    month = models.DateField(help_text="The first day of the month")

    class Meta:
        db_table = "leads_rollup_cube_month"
        app_label = "leads"
        indexes = [models.Index(fields=["month"], name="rollup_cube_month")]

    def __str__(self) -> str:
        return f"RollupCubeMonth of {self.month:%Y-%m}"


class RollupLost(_Rollup):
    """Lost leads per day x source x origin x owner x lost-reason text (mapped to the pick list
    when read, so editing the pick list needs no rebuild)."""

    source = models.CharField(max_length=_SOURCE)
    origin = models.CharField(max_length=_SOURCE)
    owner_id = models.BigIntegerField(null=True)
    lost_reason = models.CharField(max_length=255)
    lost = models.IntegerField()

    class Meta:
        db_table = "leads_rollup_lost"
        app_label = "leads"
        indexes = [models.Index(fields=["day"], name="rollup_lost_day")]


class RollupFunnel(_Rollup):
    """Leads per day x source x origin x owner x furthest funnel stage reached (0 new .. 3
    converted), and how many of them are lost."""

    source = models.CharField(max_length=_SOURCE)
    origin = models.CharField(max_length=_SOURCE)
    owner_id = models.BigIntegerField(null=True)
    stage = models.SmallIntegerField()
    leads = models.IntegerField()
    lost = models.IntegerField()

    class Meta:
        db_table = "leads_rollup_funnel"
        app_label = "leads"
        indexes = [models.Index(fields=["day"], name="rollup_funnel_day")]


class RollupChannel(_Rollup):
    """Per day x source x campaign: what the channels report sums by month (a day grain, so one
    dirty day rebuilds every table alike; a month is at most 31 x channels rows)."""

    source = models.CharField(max_length=_SOURCE)
    campaign = models.CharField(max_length=_SOURCE)
    leads = models.IntegerField()
    conversions = models.IntegerField()
    revenue_known = models.DecimalField(max_digits=18, decimal_places=2, null=True)
    unvalued = models.IntegerField()

    class Meta:
        db_table = "leads_rollup_channel"
        app_label = "leads"
        indexes = [models.Index(fields=["day"], name="rollup_channel_day")]


class RollupFollowUp(_Rollup):
    """Done follow-ups per lead day x source x origin x owner x assignee: on time or late (fixed
    once done). Open ones (overdue or upcoming, which depend on now) are read from the follow-ups."""

    source = models.CharField(max_length=_SOURCE)
    origin = models.CharField(max_length=_SOURCE)
    owner_id = models.BigIntegerField(null=True)
    assigned_to_id = models.BigIntegerField(null=True)
    on_time = models.IntegerField()
    late = models.IntegerField()

    class Meta:
        db_table = "leads_rollup_followup"
        app_label = "leads"
        indexes = [models.Index(fields=["day"], name="rollup_followup_day")]


class RollupDuration(_Rollup):
    """One row per contacted lead (kind "contact": seconds from creation to first contact) and
    per converted lead ("convert": to conversion), with the dimensions the reports filter on. Not
    summed: an exact median needs every value, and this narrow table holds them in a fifteenth of
    the lead heap's size."""

    CONTACT = "contact"
    CONVERT = "convert"

    kind = models.CharField(max_length=8)
    source = models.CharField(max_length=_SOURCE)
    origin = models.CharField(max_length=_SOURCE)
    campaign = models.CharField(max_length=_SOURCE)
    owner_id = models.BigIntegerField(null=True)
    seconds = models.FloatField()

    class Meta:
        db_table = "leads_rollup_duration"
        app_label = "leads"
        indexes = [models.Index(fields=["kind", "day"], name="rollup_duration_kind_day")]


class RollupDirty(models.Model):
    """A local creation day whose rollup rows may be out of date (day None: every day). Rows are
    appended by writers and deleted by id by the rebuild that claimed them, so a mark written while
    a rebuild runs survives it."""

    day = models.DateField(null=True)
    marked_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "leads_rollup_dirty"
        app_label = "leads"

    def __str__(self) -> str:
        return f"rollup day {self.day or 'every day'} marked at {self.marked_at}"
