"""Where to spend: what each channel costs and returns, and what the open leads will bring.

A channel is a source, or a campaign within a source. Leads are counted by the month they were
created; their conversions and revenue are those of the same leads to date (a cohort view: a
channel's spend in October is set against the leads October brought). Revenue is each converted
lead's recorded value, else its channel's default value (ChannelValue).

The forecast sums the calibrated probabilities of the open leads (leads.reports.forecast); the
check sets last month's stored forecast (ForecastSnapshot) beside what those leads did since.

Every figure is a handful of GROUP BY queries, whatever the number of leads.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from statistics import median

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.models import Avg, Count, ExpressionWrapper, F, FloatField, Q, Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone

from leads.models import ChannelValue, ForecastSnapshot, Lead, Spend, channel_name
from leads.reports.forecast import Estimate, Sums
from leads.reports.selectors import MedianSeconds, day_start, next_month, report_work_mem

CONVERTED = Lead.Status.CONVERTED
GROUPINGS = {"source": "Source", "campaign": "Campaign"}
SECONDS_PER_DAY = 86_400.0


@dataclass(frozen=True)
class ChannelFilters:
    """Leads created from the first day of month_from to the last day of month_to (local time)."""

    month_from: date
    month_to: date
    source: str = ""
    by: str = "source"  # "source" or "campaign"

    def created_range(self) -> tuple[datetime, datetime]:
        return day_start(self.month_from), day_start(next_month(self.month_to))

    def leads_q(self) -> Q:
        start, end = self.created_range()
        q = Q(created_at__gte=start, created_at__lt=end)
        return q & Q(source=self.source) if self.source else q

    def keys(self) -> tuple[str, ...]:
        return ("source", "campaign") if self.by == "campaign" else ("source",)


def default_filters(today: date | None = None) -> ChannelFilters:
    """The report's default: the last six months, this one included, every source, per source."""
    this_month = (today or timezone.localdate()).replace(day=1)
    index = this_month.year * 12 + this_month.month - 1 - 5
    return ChannelFilters(month_from=date(index // 12, index % 12 + 1, 1), month_to=this_month)


def months_between(first: date, last: date) -> list[date]:
    months, month = [], first.replace(day=1)
    while month <= last:
        months.append(month)
        month = next_month(month)
    return months


def channel_values() -> dict[tuple[str, str], float]:
    """Admins' default value per (source, campaign); campaign "" is the whole source."""
    return {(v.source, v.campaign): float(v.value) for v in ChannelValue.objects.all()}


def _channel_key(keys: tuple[str, ...], source: str, campaign: str) -> tuple:
    return (source, campaign) if len(keys) == 2 else (source,)


def channel_label(key: tuple) -> str:
    source = key[0] or "(no source)"
    if len(key) == 1:
        return source
    # Per campaign, a source's leads without one are a row of their own.
    return channel_name(source, key[1] or "(no campaign)")


def channels_report(filters: ChannelFilters) -> dict:
    """Per channel and per month: leads, spend, conversions, revenue, and the derived rates.
    Four queries: leads by month x channel, the median days to convert by channel, spend by
    month x channel, and the channels' default values."""
    keys = filters.keys()
    with report_work_mem():
        cube = list(
            Lead.objects.filter(filters.leads_q())
            .annotate(month=TruncMonth("created_at"))
            .values("month", "source", "campaign")
            .annotate(
                leads=Count("pk"),
                conversions=Count("pk", filter=Q(status=CONVERTED)),
                revenue_known=Sum("converted_value", filter=Q(status=CONVERTED)),
                unvalued=Count("pk", filter=Q(status=CONVERTED, converted_value__isnull=True)),
            )
            .order_by()
        )
        medians = median_days_to_convert(filters, keys)
    return channels_from_cube(filters, cube, medians)


def channels_from_cube(filters: ChannelFilters, cube: list[dict], medians: dict[tuple, float]) -> dict:
    """Rows (month, source, campaign, leads, conversions, revenue_known, unvalued) and the median
    days to convert per channel as the report, with the spend of the period (two queries: the
    channels' values and the spend)."""
    keys = filters.keys()
    values = channel_values()
    spend_rows = (
        Spend.objects.filter(month__gte=filters.month_from, month__lte=filters.month_to)
        .filter(Q(source=filters.source) if filters.source else Q())
        .values("month", "source", "campaign")
        .annotate(spend=Sum("amount"))
        .order_by()
    )

    def blank() -> dict:
        return {"leads": 0, "conversions": 0, "revenue": 0.0, "unknown_value": 0, "spend": 0.0, "has_spend": False}

    by_channel: dict[tuple, dict] = defaultdict(blank)
    by_month: dict[date, dict] = defaultdict(blank)
    for row in sorted(cube, key=_cube_order):  # one order, so float sums never depend on the query's
        default = ChannelValue.pick(values, row["source"], row["campaign"])
        revenue = float(row["revenue_known"] or 0) + (row["unvalued"] * default if default is not None else 0.0)
        unknown = row["unvalued"] if default is None else 0
        month = month_of(row["month"])
        for bucket in (by_channel[_channel_key(keys, row["source"], row["campaign"])], by_month[month]):
            bucket["leads"] += row["leads"]
            bucket["conversions"] += row["conversions"]
            bucket["revenue"] += revenue
            bucket["unknown_value"] += unknown
    for row in spend_rows:
        for bucket in (by_channel[_channel_key(keys, row["source"], row["campaign"])], by_month[row["month"]]):
            bucket["spend"] += float(row["spend"])
            bucket["has_spend"] = True

    channels = [
        _with_rates({"key": key, "label": channel_label(key), "median_days": medians.get(key), **sums})
        for key, sums in by_channel.items()
    ]
    channels.sort(key=lambda r: (-(r["roi"] if r["roi"] is not None else float("-inf")), -r["leads"], r["label"]))
    months = [_with_rates({"month": m, **by_month[m]}) if m in by_month else _with_rates({"month": m, **blank()})
              for m in months_between(filters.month_from, filters.month_to)]  # fmt: skip
    total = blank()
    for row in channels:
        for name in ("leads", "conversions", "revenue", "unknown_value", "spend"):
            total[name] += row[name] or 0
        total["has_spend"] |= row["has_spend"]
    return {"channels": channels, "months": months, "total": _with_rates(total)}


def _cube_order(row: dict) -> tuple:
    return (month_of(row["month"]), row["source"], row["campaign"])


def month_of(month: date | datetime) -> date:
    """TruncMonth gives a datetime over created_at (the leads) and a date over day (the rollup)."""
    return timezone.localtime(month).date() if isinstance(month, datetime) else month


def _with_rates(row: dict) -> dict:
    """Cost per lead, conversion rate, cost per conversion and ROI; None where undefined (no
    spend recorded gives no ROI rather than an infinite one)."""
    leads, conversions, spend = row["leads"], row["conversions"], row["spend"]
    row["conversion_rate"] = conversions / leads if leads else None
    row["cost_per_lead"] = spend / leads if row["has_spend"] and leads else None
    row["cost_per_conversion"] = spend / conversions if row["has_spend"] and conversions else None
    row["roi"] = (row["revenue"] - spend) / spend if row["has_spend"] and spend > 0 else None
    row["spend_note"] = "" if row["has_spend"] else "no spend recorded"
    if not row["has_spend"]:
        row["spend"] = None  # unknown, not zero
    return row


def median_days_to_convert(filters: ChannelFilters, keys: tuple[str, ...]) -> dict[tuple, float]:
    """Exact medians per channel: one query over the period's converted leads."""
    converted = Lead.objects.filter(filters.leads_q(), status=CONVERTED, converted_at__isnull=False).order_by()
    if connection.vendor == "postgresql":
        rows = converted.values(*keys).annotate(seconds=MedianSeconds(F("converted_at") - F("created_at")))
        return {tuple(row[k] for k in keys): row["seconds"] / SECONDS_PER_DAY for row in rows}
    durations: dict[tuple, list[float]] = defaultdict(list)
    for *key, created, done in converted.values_list(*keys, "created_at", "converted_at").iterator():
        durations[tuple(key)].append((done - created).total_seconds() / SECONDS_PER_DAY)
    return {key: median(days) for key, days in durations.items()}


# --- Forecast ----------------------------------------------------------------------------


@dataclass
class Forecast:
    total: Sums
    by_source: dict[str, Sums]
    by_owner: dict[int | None, Sums]

    def rows(self, dimension: str) -> list[dict]:
        groups = self.by_source if dimension == "source" else self.by_owner
        return [forecast_row(key, sums) for key, sums in groups.items()]


def forecast_row(key, sums: Sums) -> dict:
    conversions: Estimate = sums.conversions()
    revenue = sums.revenue()
    return {
        "key": key,
        "open_leads": sums.leads,
        "scored": sums.scored,
        "expected_conversions": conversions.expected,
        "conversions_low": conversions.low,
        "conversions_high": conversions.high,
        "expected_revenue": revenue.expected if revenue else None,
        "revenue_low": revenue.low if revenue else None,
        "revenue_high": revenue.high if revenue else None,
        "valued": sums.valued,
    }


def open_leads_forecast(*, source: str = "", with_revenue: bool = True) -> Forecast:
    """Expected conversions and (with_revenue) revenue of the open leads: one query for the
    open leads by channel and owner, and with revenue two small ones for the channels' values
    (admins' defaults, else the channel's average converted value)."""
    groups = _forecast_groups(source)
    averages = _converted_value_averages() if with_revenue else {}
    return forecast_from_groups(groups, averages, with_revenue=with_revenue)


def _forecast_groups(source: str = "") -> list[dict]:
    """The open leads' probability sums per source x campaign x owner (one scan of the open leads)."""
    p = F("rank__probability")
    open_leads = Lead.objects.filter(status__in=Lead.OPEN_STATUSES).filter(Q(source=source) if source else Q())
    return list(
        open_leads.values("source", "campaign", "owner_id")
        .annotate(
            leads=Count("pk"),
            scored=Count("rank__probability"),
            p=Sum("rank__probability"),
            pq=Sum(ExpressionWrapper(p * (1.0 - p), output_field=FloatField())),
        )
        .order_by()
    )


def _converted_value_averages() -> dict[tuple[str, str], float]:
    """Each channel's average recorded value of a conversion (the fallback value of a channel)."""
    return {
        (row["source"], row["campaign"]): float(row["average"])
        for row in Lead.objects.filter(status=CONVERTED, converted_value__isnull=False)
        .values("source", "campaign")
        .annotate(average=Avg("converted_value"))
        .order_by()
    }


FORECAST_GROUPS_KEY = "reports:forecast-groups:v1"


@dataclass(frozen=True)
class ForecastGroups:
    """The forecast's inputs for every source, as cached: groups, the channels' average converted
    values (None until a forecast with revenue asks for them), when computed."""

    groups: list[dict]
    averages: dict[tuple[str, str], float] | None
    computed_at: datetime


def forecast_groups_refresh(*, with_averages: bool = True) -> ForecastGroups:
    """Recompute and cache the forecast's groups (the summaries' beat, and after a large rescore)."""
    averages = _converted_value_averages() if with_averages else None
    return _forecast_groups_store(ForecastGroups(_forecast_groups(), averages, timezone.now()))


def _forecast_groups_store(cached: ForecastGroups) -> ForecastGroups:
    if settings.REPORT_FORECAST_CACHE_SECONDS:
        cache.set(FORECAST_GROUPS_KEY, cached, settings.REPORT_FORECAST_CACHE_SECONDS)
    return cached


def forecast_groups_forget() -> None:
    cache.delete(FORECAST_GROUPS_KEY)


def open_leads_forecast_cached(*, source: str = "", with_revenue: bool = True) -> Forecast:
    """open_leads_forecast from the cached groups: the open leads do not depend on the report's
    dates, so any source filter is answered in Python from groups computed at most
    REPORT_FORECAST_CACHE_SECONDS ago (computed now when the cache has none)."""
    cached = cache.get(FORECAST_GROUPS_KEY) if settings.REPORT_FORECAST_CACHE_SECONDS else None
    if cached is None:
        cached = forecast_groups_refresh(with_averages=with_revenue)
    if with_revenue and cached.averages is None:
        cached = _forecast_groups_store(ForecastGroups(cached.groups, _converted_value_averages(), cached.computed_at))
    groups = [g for g in cached.groups if g["source"] == source] if source else cached.groups
    return forecast_from_groups(groups, (cached.averages or {}) if with_revenue else {}, with_revenue=with_revenue)


def forecast_from_groups(groups: list[dict], averages: dict, *, with_revenue: bool) -> Forecast:
    """The forecast of these groups, revenue valued by the admins' defaults, else the averages."""
    values = channel_values() if with_revenue else {}
    forecast = Forecast(total=Sums(), by_source=defaultdict(Sums), by_owner=defaultdict(Sums))
    for row in groups:
        value = ChannelValue.pick(values, row["source"], row["campaign"])
        if value is None:
            value = averages.get((row["source"], row["campaign"]))
        group = {"leads": row["leads"], "scored": row["scored"], "p": row["p"] or 0.0, "pq": row["pq"] or 0.0}
        for sums in (forecast.total, forecast.by_source[row["source"]], forecast.by_owner[row["owner_id"]]):
            sums.add_group(**group, value=value)
    return forecast


def forecast_check(*, now: datetime | None = None) -> dict | None:
    """Last month's forecast beside what those leads did since: the first snapshot taken last
    month, and the leads that existed then which converted after it (they were open then)."""
    now = now or timezone.now()
    this_month = timezone.localtime(now).date().replace(day=1)
    last_month = date(this_month.year - (this_month.month == 1), (this_month.month - 2) % 12 + 1, 1)
    snapshot = (
        ForecastSnapshot.objects.filter(
            taken_at__gte=day_start(last_month),
            taken_at__lt=day_start(this_month),
        )
        .order_by("taken_at")
        .first()
    )
    if snapshot is None:
        return None
    values = channel_values()
    since = Lead.objects.filter(created_at__lt=snapshot.taken_at, converted_at__gte=snapshot.taken_at, status=CONVERTED)
    converted = 0
    revenue = 0.0
    for row in (
        since.values("source", "campaign")
        .annotate(
            n=Count("pk"), known=Sum("converted_value"), unvalued=Count("pk", filter=Q(converted_value__isnull=True))
        )
        .order_by()
    ):
        converted += row["n"]
        default = ChannelValue.pick(values, row["source"], row["campaign"])
        revenue += float(row["known"] or 0) + (row["unvalued"] * default if default is not None else 0.0)
    still_open = Lead.objects.filter(created_at__lt=snapshot.taken_at, status__in=Lead.OPEN_STATUSES).count()
    conversions = Sums(
        leads=snapshot.open_leads, scored=snapshot.scored_leads, p=snapshot.expected_conversions,
        pq=snapshot.conversions_variance,
    ).conversions()  # fmt: skip
    return {
        "snapshot": snapshot,
        "expected": conversions,
        "converted_since": converted,
        "revenue_since": revenue,
        "still_open": still_open,
        "within_interval": conversions.low <= converted <= conversions.high,
    }
