"""Marketing channels: spend per month and the value of a converted lead (writes).

A channel is a source, or one campaign of a source. Admins record spend per month (a form or a
CSV file read by the import pipeline's readers) and a default value per channel, used when a
lead closes as converted without a value of its own. The reports that read these live in
leads/reports/channels.py.
"""

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from leads.audit import audit_record
from leads.importing.readers import ImportFileError, open_table, scan_file
from leads.models import ChannelValue, ForecastSnapshot, Spend, User
from leads.money import parse_amount
from leads.reports.channels import open_leads_forecast

SPEND_COLUMNS = ("month", "source", "campaign", "amount")


def value_default_for(source: str, campaign: str) -> Decimal | None:
    """The admins' value for a converted lead of this channel: the campaign's, else the source's."""
    values = {
        (source, v.campaign): v.value
        for v in ChannelValue.objects.filter(source=source, campaign__in={campaign, ""}).only("campaign", "value")
    }
    return ChannelValue.pick(values, source, campaign)


def parse_month(text: str) -> date:
    """A month as written in a spend file or form: 2026-10, 2026-10-01, 10/2026 or Oct 2026."""
    raw = text.strip()
    for parse in (_iso_month, _slash_month, _named_month):
        month = parse(raw)
        if month is not None:
            return month
    raise ValidationError(f"{text!r} is not a month (use 2026-10, 10/2026 or Oct 2026).")


def _iso_month(raw: str) -> date | None:
    parts = raw.split("-")
    if len(parts) in (2, 3) and all(p.isascii() and p.isdecimal() for p in parts) and len(parts[0]) == 4:
        try:
            return date(int(parts[0]), int(parts[1]), 1)
        except ValueError:
            return None
    return None


def _slash_month(raw: str) -> date | None:
    parts = raw.split("/")
    if len(parts) == 2 and all(p.isascii() and p.isdecimal() for p in parts) and len(parts[1]) == 4:
        try:
            return date(int(parts[1]), int(parts[0]), 1)
        except ValueError:
            return None
    return None


_MONTHS = {name: i for i, name in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct",
                                              "nov", "dec"), start=1)}  # fmt: skip


def _named_month(raw: str) -> date | None:
    words = raw.replace(",", " ").split()
    if len(words) == 2 and words[1].isascii() and words[1].isdecimal() and len(words[1]) == 4:
        number = _MONTHS.get(words[0][:3].casefold())
        if number:
            return date(int(words[1]), number, 1)
    return None


@transaction.atomic
def spend_record(*, month: date, source: str, campaign: str = "", amount: Decimal, by: User | None) -> Spend:
    """Set the spend of a month on a channel (replacing what was recorded for it)."""
    source, campaign = source.strip(), campaign.strip()
    if not source:
        raise ValidationError({"source": "Name the source the money was spent on."})
    spend, created = Spend.objects.update_or_create(
        month=month.replace(day=1),
        source=source,
        campaign=campaign,
        defaults={"amount": amount, "recorded_by": by},
    )
    audit_record("spend_recorded", actor=by, target=spend, details={"amount": str(amount), "created": created})
    return spend


@dataclass
class SpendFileResult:
    recorded: int = 0
    errors: list[dict] = field(default_factory=list)  # {"row": line, "column": name, "value", "message"}


def spend_file_import(path: Path, *, name: str, by: User | None) -> SpendFileResult:
    """Record every row of a spend file (columns month, source, campaign, amount; campaign may be
    absent). All or nothing: any bad row records nothing and every bad cell is reported by row
    and column. Files are read by the import pipeline's readers (encodings, delimiters, XLSX)."""
    try:
        facts = scan_file(path, name=name)
        table = open_table(path, facts)
    except ImportFileError as exc:
        raise ValidationError(str(exc)) from None
    header = [h.strip().casefold() for h in table.header]
    missing = [c for c in ("month", "source", "amount") if c not in header]
    if missing:
        raise ValidationError(f"The file needs the columns month, source and amount (missing: {', '.join(missing)}).")
    position = {column: header.index(column) for column in SPEND_COLUMNS if column in header}
    result = SpendFileResult()
    parsed: dict[tuple[date, str, str], tuple[int, Decimal]] = {}
    for row in table.rows():
        cells = row.values
        if row.problem:
            result.errors.append({"row": row.number, "column": "", "value": "", "message": row.problem})
            continue

        def cell(column: str, cells=cells) -> str:
            index = position.get(column)
            return cells[index] if index is not None and index < len(cells) else ""

        if not any(c.strip() for c in cells):
            continue
        problems = []
        try:
            month = parse_month(cell("month"))
        except ValidationError as exc:
            problems.append(("month", exc.messages[0]))
        source = cell("source").strip()
        if not source:
            problems.append(("source", "Name the source the money was spent on."))
        try:
            amount = parse_amount(cell("amount"))
        except ValidationError as exc:
            problems.append(("amount", exc.messages[0]))
        if not problems:
            key = (month, source, cell("campaign").strip())
            if key in parsed:
                problems.append(("month", f"The same month and channel as row {parsed[key][0]}."))
            else:
                parsed[key] = (row.number, amount)
        for column, message in problems:
            result.errors.append({"row": row.number, "column": column, "value": cell(column), "message": message})
    if result.errors:
        return result
    with transaction.atomic():
        for (month, source, campaign), (_, amount) in parsed.items():
            spend_record(month=month, source=source, campaign=campaign, amount=amount, by=by)
    result.recorded = len(parsed)
    return result


@transaction.atomic
def channel_value_set(*, source: str, campaign: str = "", value: Decimal) -> ChannelValue:
    source = source.strip()
    if not source:
        raise ValidationError({"source": "Name the source."})
    if value < 0:
        raise ValidationError({"value": "A value cannot be negative."})
    channel_value, _ = ChannelValue.objects.update_or_create(
        source=source, campaign=campaign.strip(), defaults={"value": value}
    )
    audit_record("channel_value_set", target=channel_value, details={"value": str(value)})
    return channel_value


def forecast_snapshot_take(*, now=None) -> ForecastSnapshot | None:
    """Store the open leads' forecast once a month (the first call of a month takes it), so the
    channels report can later set it beside what those leads did. Safe to run often."""
    now = now or timezone.now()
    month_start = timezone.localtime(now).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    if ForecastSnapshot.objects.filter(taken_at__gte=month_start).exists():
        return None
    forecast = open_leads_forecast()
    total = forecast.total
    return ForecastSnapshot.objects.create(
        taken_at=now,
        open_leads=total.leads,
        scored_leads=total.scored,
        expected_conversions=total.p,
        conversions_variance=total.pq,
        expected_revenue=total.vp if total.valued else None,
        revenue_variance=total.vvpq if total.valued else None,
        by_source=forecast.rows("source"),
    )
