"""What each report page shows: selector results turned into tables and charts.

Each builder returns a context dict whose "tables" hold every downloadable table by name, so
the view can answer `?format=csv&table=<name>` from the same numbers the page shows.
"""

from django.urls import reverse
from django.utils import timezone

from leads.reports import channels, charts, selectors, summaries
from leads.reports.channels import ChannelFilters, forecast_row
from leads.reports.charts import Series
from leads.reports.selectors import ReportFilters
from leads.reports.signals import dashboard_rows_from_receivers
from leads.reports.tables import Column, Table, tables_by_name

RATE_COLUMNS = [
    Column("leads", "Leads", "int"),
    Column("open", "Open", "int"),
    Column("converted", "Converted", "int"),
    Column("lost", "Lost", "int"),
    Column("conversion_rate", "Conversion rate (converted / leads)", "pct"),
    Column("win_rate", "Win rate (converted / closed)", "pct"),
]


def _percent(rate: float | None) -> str | None:
    return f"{rate * 100:.1f}%" if rate is not None else None


# --- Dashboard ---------------------------------------------------------------------------


def dashboard_page(*, refresh: bool = False) -> dict:
    summary = summaries.dashboard_summary(refresh=refresh)
    numbers = dict(summary.value)
    headline = Table(
        "headline",
        "Headline numbers",
        [Column("metric", "Metric"), Column("value", "Value", "auto"), Column("definition", "Definition")],
        [
            {"metric": "Open leads", "value": numbers["open_leads"], "definition": "New, contacted or qualified"},
            {
                "metric": "Conversion rate, last 90 days",
                "value": _percent(numbers["conversion_rate_90d"]),
                "definition": f"{numbers['converted_90d']} converted of {numbers['created_90d']} leads created "
                "in the last 90 days",
            },
            {
                "metric": "Overdue follow-ups",
                "value": numbers["overdue_follow_ups"],
                "definition": "Not done and past due",
            },
            {
                "metric": "Hot leads untouched",
                "value": numbers["hot_untouched"],
                "definition": "Open hot leads nobody has called, emailed, met or texted yet",
            },
            _forecast_headline(numbers.get("forecast")),
            # Rows other apps add (the active model's AUC, from scoring).
            *dashboard_rows_from_receivers(),
        ],
    )
    return {
        "numbers": numbers,
        "conversion_pct": _percent(numbers["conversion_rate_90d"]) or "-",
        "computed_at": summary.computed_at,
        "tables": tables_by_name(headline),
    }


def _forecast_headline(forecast: dict | None) -> dict:
    metric = "Forecast: conversions among open leads"
    if not forecast or not forecast["scored"]:
        return {"metric": metric, "value": "-", "definition": "No open lead has a score yet"}
    definition = (
        f"Sum of the calibrated probabilities of {forecast['scored']:,} scored open leads; 90% interval "
        f"{forecast['conversions_low']:,.0f} to {forecast['conversions_high']:,.0f}"
    )
    if forecast["expected_revenue"] is not None:
        definition += f"; expected revenue {forecast['expected_revenue']:,.0f}"
    return {"metric": metric, "value": round(forecast["expected_conversions"], 1), "definition": definition}


# --- Conversion --------------------------------------------------------------------------


def conversion_page(filters: ReportFilters, *, refresh: bool = False) -> dict:
    summary = summaries.conversion_summary(filters, refresh=refresh)
    cube = summary.value["cube"]
    total = selectors.conversion_total(cube)
    sections = []
    for dimension, label in selectors.DIMENSIONS.items():
        rows = selectors.conversion_by(cube, dimension)
        name = "owner" if dimension == "owner_id" else dimension
        table = Table(f"by_{name}", f"Conversion by {label.lower()}", [Column("label", label), *RATE_COLUMNS], rows)
        chart = charts.bar_chart(
            title=f"Conversion rate by {label.lower()}",
            categories=[f"{r['label']} (n={r['leads']:,})" for r in rows],
            series=[("Conversion rate", [r["conversion_rate"] or 0.0 for r in rows])],
            value_label="Converted / leads created (%)",
            value_format=charts.pct,
            reference=("All leads" + (f" ({total['conversion_rate'] * 100:.1f}%)" if total["leads"] else ""),
                       total["conversion_rate"] or 0.0),
        )  # fmt: skip
        sections.append({"table": table, "chart": chart})

    cohorts = summary.value["cohorts"]
    cohort_table = Table(
        "cohorts",
        "Weekly cohorts: share of leads created that week converted within 7, 30, 90 days and to date",
        [
            Column("week", "Week starting", "date"),
            Column("leads", "Leads", "int"),
            Column("rate_7d", "Within 7 days", "pct"),
            Column("rate_30d", "Within 30 days", "pct"),
            Column("rate_90d", "Within 90 days", "pct"),
            Column("conversion_rate", "To date", "pct"),
            Column("open", "Still open", "int"),
        ],
        cohorts,
        note="A blank cell: the cohort is younger than that horizon, so its rate is not final yet.",
    )
    series = []
    for key, name in (("rate_7d", "Within 7 days"), ("rate_30d", "Within 30 days"), ("rate_90d", "Within 90 days"),
                      ("conversion_rate", "To date")):  # fmt: skip
        points = [(i, r[key]) for i, r in enumerate(cohorts) if r[key] is not None]
        if points:
            series.append(Series(name, points, dashed=key == "conversion_rate"))
    step = max(1, len(cohorts) // 8)
    cohort_chart = charts.line_chart(
        title="Conversion of weekly cohorts over time",
        series=series,
        x_label="Week the leads were created (week starting)",
        y_label="Converted (% of cohort)",
        x_range=(0, max(1, len(cohorts) - 1)),
        y_range=(0, max([0.1, *[p[1] for s in series for p in s.points]]) * 1.1),
        y_format=charts.pct,
        x_tick_labels=[(i, timezone.localtime(r["week"]).strftime("%d %b")) for i, r in enumerate(cohorts)][::step],
    )
    lost_rows = summary.value.get("lost_reasons", [])  # (absent from summaries cached before it existed)
    lost_table = Table(
        "lost_by_reason",
        "Lost by reason",
        [Column("label", "Reason"), Column("lost", "Lost", "int"), Column("share", "Share of lost", "pct")],
        lost_rows,
        note='Reasons from the pick list admins edit; any other text (a rep\'s "Other", imported outcomes) is "Other".',
    )
    lost_chart = charts.bar_chart(
        title="Lost leads by reason",
        categories=[f"{r['label']} (n={r['lost']:,})" for r in lost_rows],
        series=[("Share of lost", [r["share"] for r in lost_rows])],
        value_label="Share of lost leads (%)",
        value_format=charts.pct,
    )
    sections.append({"table": lost_table, "chart": lost_chart})
    return {
        "computed_at": summary.computed_at,
        "total": total,
        "sections": sections,
        "cohort_table": cohort_table,
        "cohort_chart": cohort_chart,
        "tables": tables_by_name(*(s["table"] for s in sections), cohort_table),
    }


# --- Funnel ------------------------------------------------------------------------------


def funnel_page(filters: ReportFilters, *, refresh: bool = False) -> dict:
    summary = summaries.funnel_summary(filters, refresh=refresh)
    data = summary.value
    stages = data["stages"]
    stage_table = Table(
        "stages",
        "Funnel stages",
        [
            Column("label", "Stage"),
            Column("reached", "Leads reaching it", "int"),
            Column("share_of_all", "Share of all leads", "pct"),
            Column("dropped", "Did not reach the next stage", "int"),
            Column("drop_rate", "Drop-off to next stage", "pct"),
            Column("lost_here", "Lost at this stage", "int"),
            Column("open_here", "Still open at this stage", "int"),
        ],
        stages,
    )
    funnel_chart = charts.bar_chart(
        title="Leads reaching each stage",
        categories=[s["label"] for s in stages],
        series=[("Leads", [s["reached"] for s in stages])],
        value_label="Leads (count)",
    )
    source_rows = []
    for source in data["sources"]:
        st = source["stages"]
        row = {"source": source["source"]}
        for s in st:
            row[s["stage"]] = s["reached"]
            row[f"{s['stage']}_share"] = s["share_of_all"]
            row[f"{s['stage']}_drop"] = s["drop_rate"]
        source_rows.append(row)
    source_table = Table(
        "by_source",
        "Funnel per source",
        [
            Column("source", "Source"),
            Column("new", "New", "int"),
            Column("new_drop", "Drop-off new to contacted", "pct"),
            Column("contacted", "Contacted", "int"),
            Column("contacted_drop", "Drop-off contacted to qualified", "pct"),
            Column("qualified", "Qualified", "int"),
            Column("qualified_drop", "Drop-off qualified to converted", "pct"),
            Column("converted", "Converted", "int"),
            Column("converted_share", "Converted of new", "pct"),
        ],
        source_rows,
    )
    source_chart = charts.bar_chart(
        title="Share of each source's leads reaching each stage",
        categories=[r["source"] for r in source_rows],
        series=[
            ("Contacted", [r["contacted_share"] or 0 for r in source_rows]),
            ("Qualified", [r["qualified_share"] or 0 for r in source_rows]),
            ("Converted", [r["converted_share"] or 0 for r in source_rows]),
        ],
        value_label="Share of the source's leads (%)",
        value_format=charts.pct,
        value_max=1.0,
    )
    return {
        "computed_at": summary.computed_at,
        "stages": stages,
        "stage_table": stage_table,
        "funnel_chart": funnel_chart,
        "source_table": source_table,
        "source_chart": source_chart,
        "tables": tables_by_name(stage_table, source_table),
    }


# --- Rep discipline ----------------------------------------------------------------------


def reps_page(filters: ReportFilters, *, refresh: bool = False) -> dict:
    summary = summaries.reps_summary(filters, refresh=refresh)
    data = summary.value["discipline"]
    reps = data["reps"]
    rep_table = Table(
        "reps",
        "Per rep",
        [
            Column("name", "Rep"),
            Column("owned", "Leads owned", "int"),
            Column("contacted", "Contacted", "int"),
            Column("converted", "Converted", "int"),
            Column("conversion_rate", "Conversion rate", "pct"),
            Column("median_hours_to_contact", "Median time to first contact", "hours"),
            Column("sla_breaches", "First-contact SLA breaches", "int"),
            Column("fu_on_time", "Follow-ups done on time", "int"),
            Column("fu_late", "Follow-ups done late", "int"),
            Column("fu_overdue", "Follow-ups overdue now", "int"),
            Column("fu_on_time_rate", "On-time share of done follow-ups", "pct"),
        ],
        reps,
    )
    sla_table = Table(
        "sla",
        "First-contact SLA by tier",
        [
            Column("tier", "Tier"),
            Column("sla_hours", "SLA (hours)", "int"),
            Column("leads", "Leads", "int"),
            Column("breached", "Breached", "int"),
            Column("breach_rate", "Breach rate", "pct"),
        ],
        data["sla"],
        note="A breach: first contact later than the SLA after the lead was created, or not contacted "
        "and older than the SLA. The lead's current tier decides its SLA.",
    )
    breaches = summary.value["breaches"]
    for row in breaches:
        row["url"] = reverse("leads:detail", args=[row["lead_id"]])
    breach_table = Table(
        "breaches",
        f"Latest SLA breaches (up to {selectors.SLA_BREACH_LIST_LIMIT}, newest first)",
        [
            Column("lead", "Lead"),
            Column("tier", "Tier"),
            Column("owner", "Owner"),
            Column("status", "Status"),
            Column("created_at", "Created", "datetime"),
            Column("first_contacted_at", "First contact", "datetime"),
            Column("hours_to_contact", "Hours to contact (or waiting)", "float"),
            Column("sla_hours", "SLA hours", "int"),
            Column("state", "State"),
        ],
        breaches,
        link_key="url",
    )
    names = [r["name"] for r in reps]
    contact_chart = charts.bar_chart(
        title="Median time to first contact per rep",
        categories=names,
        series=[("Median hours", [r["median_hours_to_contact"] for r in reps])],
        value_label="Hours from lead created to first call, email, meeting or SMS",
        value_format=lambda v: f"{v:.1f} h",
    )
    follow_chart = charts.bar_chart(
        title="Follow-ups per rep",
        categories=names,
        series=[
            ("Done on time", [r["fu_on_time"] for r in reps]),
            ("Done late", [r["fu_late"] for r in reps]),
            ("Overdue now", [r["fu_overdue"] for r in reps]),
        ],
        value_label="Follow-ups (count)",
    )
    return {
        "computed_at": summary.computed_at,
        "sla_hours": summary.value["sla_hours"],
        "rep_table": rep_table,
        "sla_table": sla_table,
        "breach_table": breach_table,
        "breaches_total": data["breaches_total"],
        "contact_chart": contact_chart,
        "follow_chart": follow_chart,
        "tables": tables_by_name(rep_table, sla_table, breach_table),
    }


# --- Channels: spend, return and forecast ------------------------------------------------

CHANNEL_COLUMNS = [
    Column("leads", "Leads", "int"),
    Column("spend", "Spend", "money"),
    Column("cost_per_lead", "Cost per lead", "money"),
    Column("conversions", "Conversions", "int"),
    Column("conversion_rate", "Conversion rate", "pct"),
    Column("cost_per_conversion", "Cost per conversion", "money"),
    Column("revenue", "Revenue", "money"),
    Column("roi", "ROI ((revenue - spend) / spend)", "pct"),
]


def channels_page(filters: ChannelFilters, *, refresh: bool = False) -> dict:
    """The channels report: cost and return per channel and per month, the open leads'
    forecast by channel and by owner, and last month's forecast against what happened."""
    summary = summaries.channels_summary(filters, refresh=refresh)
    report, forecast = summary.value["report"], summary.value["forecast"]
    label = channels.GROUPINGS[filters.by]
    period = f"{filters.month_from:%b %Y} to {filters.month_to:%b %Y}"
    channel_table = Table(
        "channels",
        f"Per {label.lower()}, leads created {period}",
        [
            Column("label", label),
            *CHANNEL_COLUMNS,
            Column("median_days", "Median days to convert", "float"),
            Column("spend_note", "Note"),
        ],
        report["channels"],
        note="Conversions and revenue are those of the leads created in the period, to date. Revenue is each "
        "converted lead's value, else its channel's default value; ROI is blank where no spend is recorded.",
    )
    month_table = Table(
        "months",
        "Per month (all channels in the selection)",
        [Column("month", "Month", "date"), *CHANNEL_COLUMNS, Column("spend_note", "Note")],
        report["months"],
    )
    with_roi = [r for r in report["channels"] if r["roi"] is not None]
    roi_chart = charts.bar_chart(
        title=f"ROI by {label.lower()}",
        categories=[r["label"] for r in with_roi],
        series=[("ROI", [r["roi"] for r in with_roi])],
        value_label="(Revenue - spend) / spend (%)",
        value_format=charts.pct,
    )
    forecast_columns = [
        Column("open_leads", "Open leads", "int"),
        Column("scored", "Scored", "int"),
        Column("expected_conversions", "Expected conversions", "float"),
        Column("conversions_low", "90% interval from", "float"),
        Column("conversions_high", "to", "float"),
        Column("expected_revenue", "Expected revenue", "money"),
        Column("revenue_low", "90% interval from", "money"),
        Column("revenue_high", "to", "money"),
    ]
    by_source = sorted(forecast.rows("source"), key=lambda r: -r["expected_conversions"])
    for row in by_source:
        row["label"] = row["key"] or "(no source)"
    owner_names = selectors.user_names([k for k in forecast.by_owner if k is not None])
    by_owner = sorted(forecast.rows("owner"), key=lambda r: -r["expected_conversions"])
    for row in by_owner:
        row["label"] = owner_names.get(row["key"], f"User #{row['key']}") if row["key"] is not None else "Unassigned"
    forecast_note = (
        "The sum of the model's calibrated probabilities of the open leads (revenue: times each channel's default "
        "value, else its average converted value); the interval is the 90% range of a sum of independent chances. "
        "Leads without a score are counted but not forecast."
    )
    forecast_source_table = Table(
        "forecast_by_source", "Forecast of the open leads by source", [Column("label", "Source"), *forecast_columns],
        by_source, note=forecast_note,
    )  # fmt: skip
    forecast_owner_table = Table(
        "forecast_by_owner", "Forecast of the open leads by owner", [Column("label", "Owner"), *forecast_columns],
        by_owner, note=forecast_note,
    )  # fmt: skip
    return {
        "filters": filters,
        "period": period,
        "total": report["total"],
        "forecast_total": forecast_row("All open leads", forecast.total),
        "check": summary.value["check"],
        "computed_at": summary.computed_at,
        "roi_chart": roi_chart,
        "channel_table": channel_table,
        "month_table": month_table,
        "forecast_source_table": forecast_source_table,
        "forecast_owner_table": forecast_owner_table,
        "tables": tables_by_name(channel_table, month_table, forecast_source_table, forecast_owner_table),
    }
