"""What each report page shows: selector results turned into tables and charts.

Each builder returns a context dict whose "tables" hold every downloadable table by name, so
the view can answer `?format=csv&table=<name>` from the same numbers the page shows.
"""

from django.urls import reverse
from django.utils import timezone

from leads.reports import charts, selectors, summaries
from leads.reports.charts import Series
from leads.reports.selectors import ReportFilters
from leads.reports.tables import Column, Table
from scoring.models import ModelVersion

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


def _tables(*tables: Table) -> dict[str, Table]:
    return {t.name: t for t in tables}


# --- Dashboard ---------------------------------------------------------------------------


def dashboard_page(*, refresh: bool = False) -> dict:
    summary = summaries.dashboard_summary(refresh=refresh)
    numbers = dict(summary.value)
    model = selectors.active_model_version()
    numbers["model"] = model
    numbers["model_auc"] = selectors.metric_get(model.metrics, "holdout", "roc_auc") if model else None
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
            {
                "metric": "Active model ROC AUC",
                "value": numbers["model_auc"],
                "definition": f"Holdout AUC of model v{model.pk}" if model else "No active model",
            },
        ],
    )
    return {
        "numbers": numbers,
        "conversion_pct": _percent(numbers["conversion_rate_90d"]) or "-",
        "computed_at": summary.computed_at,
        "drift_notice": selectors.drift_notice(model) if model else None,
        "tables": _tables(headline),
    }


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
    return {
        "computed_at": summary.computed_at,
        "total": total,
        "sections": sections,
        "cohort_table": cohort_table,
        "cohort_chart": cohort_chart,
        "tables": _tables(*(s["table"] for s in sections), cohort_table),
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
        "tables": _tables(stage_table, source_table),
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
        "tables": _tables(rep_table, sla_table, breach_table),
    }


# --- Model quality -----------------------------------------------------------------------


def model_page(version: ModelVersion | None, *, refresh: bool = False) -> dict:
    if version is None:
        return {"quality": None, "tables": {}}
    q = selectors.model_quality(version, with_observed=False)
    observed = summaries.observed_summary(version, refresh=refresh)
    q.observed_live, q.observed_all = observed.value["live"], observed.value["all"]
    metrics_table = Table(
        "metrics",
        "Holdout metrics",
        [Column("metric", "Metric"), Column("value", "Value", "auto"), Column("help", "Meaning")],
        q.metrics_table,
    )
    calibration_table = Table(
        "calibration",
        "Calibration by predicted-probability bin",
        [
            Column("bin", "Bin", "int"),
            Column("lower", "From", "pct"),
            Column("upper", "To", "pct"),
            Column("mean_predicted", "Mean predicted", "pct"),
            Column("observed", "Observed conversion", "pct"),
            Column("count", "Leads", "int"),
        ],
        q.calibration,
    )
    cal_points = [b for b in q.calibration if b.get("count") and b.get("mean_predicted") is not None]
    calibration_chart = charts.line_chart(
        title="Calibration: predicted vs observed conversion",
        series=[
            Series(
                "Model (label: leads in bin)",
                [(b["mean_predicted"], b.get("observed") or 0.0) for b in cal_points],
                labels=[f"n={b['count']:,}" for b in cal_points],
            )
        ],
        x_label="Mean predicted probability in bin (%)",
        y_label="Observed conversion rate (%)",
        x_range=(0, 1),
        y_range=(0, 1),
        x_format=charts.pct,
        y_format=charts.pct,
        diagonal="Perfect calibration",
    )
    decile_table = Table(
        "deciles",
        "Lift and cumulative gains by score decile (1 = top 10% of scores)",
        [
            Column("decile", "Decile", "int"),
            Column("n", "Leads", "int"),
            Column("positives", "Converted", "int"),
            Column("conversion_rate", "Conversion rate", "pct"),
            Column("lift", "Lift", "float"),
            Column("cum_gain", "Cumulative gain", "pct"),
        ],
        q.deciles,
    )
    lift_chart = charts.column_chart(
        title="Lift by score decile",
        categories=[str(d.get("decile")) for d in q.deciles],
        values=[d.get("lift") or 0.0 for d in q.deciles],
        value_label="Lift (x base rate)",
        category_label="Score decile (1 = highest scores)",
        value_format=lambda v: f"{v:.1f}x",
        reference=("No model (lift 1)", 1.0),
    )
    gains = [(0.0, 0.0)] + [(d.get("decile", 0) / 10, d.get("cum_gain") or 0.0) for d in q.deciles]
    gains_chart = charts.line_chart(
        title="Cumulative gains",
        series=[Series("Model", gains)],
        x_label="Share of leads contacted, best scores first (%)",
        y_label="Share of all conversions captured (%)",
        x_range=(0, 1),
        y_range=(0, 1),
        x_format=charts.pct,
        y_format=charts.pct,
        diagonal="Random order",
    )
    roc_chart = charts.line_chart(
        title="ROC curve" + (f" (AUC {_metric(q, 'roc_auc'):.3f})" if _metric(q, "roc_auc") is not None else ""),
        series=[Series("Model", q.roc, markers=False)],
        x_label="False positive rate (%)",
        y_label="True positive rate (%)",
        x_range=(0, 1),
        y_range=(0, 1),
        x_format=charts.pct,
        y_format=charts.pct,
        diagonal="Chance",
    )
    base_rate = (version.metrics or {}).get("base_rate")
    pr_series = [Series("Model", q.pr, markers=False)]
    if isinstance(base_rate, int | float):
        pr_series.append(Series(f"Base rate ({base_rate * 100:.0f}%)", [(0, base_rate), (1, base_rate)],
                                dashed=True, markers=False))  # fmt: skip
    pr_chart = charts.line_chart(
        title="Precision-recall curve"
        + (f" (AUC {_metric(q, 'pr_auc'):.3f})" if _metric(q, "pr_auc") is not None else ""),
        series=pr_series,
        x_label="Recall: share of converters flagged (%)",
        y_label="Precision: flagged who converted (%)",
        x_range=(0, 1),
        y_range=(0, 1),
        x_format=charts.pct,
        y_format=charts.pct,
    )
    threshold_table = Table(
        "thresholds",
        "Precision and recall at other thresholds",
        [
            Column("threshold", "Threshold", "float"),
            Column("precision", "Precision", "pct"),
            Column("recall", "Recall", "pct"),
            Column("f1", "F1", "float3"),
            Column("flagged", "Flagged", "int"),
        ],
        q.thresholds,
    )
    observed_columns = [
        Column("label", "Tier"),
        Column("leads", "Leads scored", "int"),
        Column("closed", "Closed", "int"),
        Column("converted", "Converted", "int"),
        Column("win_rate", "Observed conversion of closed leads", "pct"),
        Column("mean_probability", "Mean predicted probability", "pct"),
    ]
    observed_live = Table(
        "observed_live",
        "Observed conversion per tier, leads created since the model went live",
        observed_columns,
        q.observed_live,
        note="Out-of-sample: only leads that arrived after activation. Blank until some have closed.",
    )
    observed_all = Table(
        "observed_all",
        "Observed conversion per tier, every lead this version scored",
        observed_columns,
        q.observed_all,
        note="Includes leads that closed before the model went live (some of them may be training data).",
    )
    observed_source = q.observed_live if any(r["closed"] for r in q.observed_live) else q.observed_all
    observed_chart = charts.bar_chart(
        title="Does a hotter tier convert more? Observed vs predicted",
        categories=[r["label"] for r in observed_source],
        series=[
            ("Observed (closed leads)", [r["win_rate"] for r in observed_source]),
            ("Mean predicted", [r["mean_probability"] for r in observed_source]),
        ],
        value_label="Conversion (%)",
        value_format=charts.pct,
        value_max=1.0,
    )
    confusion_table = None
    if q.confusion:
        c = q.confusion
        confusion_table = Table(
            "confusion",
            "Confusion matrix at the active threshold",
            [Column("actual", "Actual"), Column("pred_pos", "Predicted convert", "int"),
             Column("pred_neg", "Predicted not convert", "int")],
            [
                {"actual": "Converted", "pred_pos": c.get("tp"), "pred_neg": c.get("fn")},
                {"actual": "Not converted", "pred_pos": c.get("fp"), "pred_neg": c.get("tn")},
            ],
        )  # fmt: skip
    tables = [metrics_table, calibration_table, decile_table, threshold_table, observed_live, observed_all]
    if confusion_table:
        tables.append(confusion_table)
    return {
        "computed_at": observed.computed_at,
        "quality": q,
        "metrics_table": metrics_table,
        "calibration_table": calibration_table,
        "calibration_chart": calibration_chart,
        "decile_table": decile_table,
        "lift_chart": lift_chart,
        "gains_chart": gains_chart,
        "roc_chart": roc_chart,
        "pr_chart": pr_chart,
        "threshold_table": threshold_table,
        "confusion_table": confusion_table,
        "observed_live": observed_live,
        "observed_all": observed_all,
        "observed_chart": observed_chart,
        "tables": _tables(*tables),
    }


def _metric(q, key):
    return next((m["value"] for m in q.metrics_table if m["key"] == key), None)


# --- Drift -------------------------------------------------------------------------------


def drift_page(version: ModelVersion | None, *, refresh: bool = False) -> dict:
    if version is None:
        return {"report": None, "tables": {}}
    report = selectors.drift_for(version, refresh=refresh)
    if report is None:
        return {"report": None, "tables": {}}
    features = list(report.features)
    summary_rows = [
        {"feature": d.feature, "kind": d.kind, "psi": d.psi, "n_current": d.n_current,
         "flag": ("drifted (age-dependent, not counted)" if d.age_dependent else "drifted") if d.flagged else "",
         "note": d.note or ("age-dependent: training reads it at close" if d.age_dependent else ""),
         "flagged": d.flagged and not d.age_dependent}
        for d in ([report.score] if report.score else []) + features
    ]  # fmt: skip
    for row in summary_rows:
        if row["feature"] == "__score__":
            row["feature"] = "Score distribution"
    summary = Table(
        "psi",
        "Population stability index per feature (training vs current open leads)",
        [
            Column("feature", "Feature"),
            Column("kind", "Kind"),
            Column("psi", "PSI", "float3"),
            Column("flag", f"Above {selectors.PSI_FLAG:g}"),
            Column("n_current", "Open leads with a value", "int"),
            Column("note", "Note"),
        ],
        summary_rows,
        flag_key="flagged",
        note="PSI below 0.1: stable; 0.1 to 0.2: some shift; above 0.2: the population changed, consider retraining.",
    )
    bin_rows = [
        {"feature": d.feature if d.feature != "__score__" else "Score distribution", **b}
        for d in ([report.score] if report.score else []) + features
        for b in d.bins
    ]
    bins = Table(
        "bins",
        "Bins behind each PSI",
        [
            Column("feature", "Feature"),
            Column("label", "Bin / level"),
            Column("expected", "Training share", "pct"),
            Column("actual", "Open leads share", "pct"),
            Column("count", "Open leads", "int"),
        ],
        bin_rows,
    )
    with_psi = [r for r in summary_rows if r["psi"] is not None]
    psi_chart = charts.bar_chart(
        title="Drift per feature (population stability index)",
        categories=[r["feature"] for r in with_psi],
        series=[("PSI", [r["psi"] for r in with_psi])],
        value_label="PSI (unitless; higher means the distribution moved more)",
        value_format=lambda v: f"{v:.2f}",
        reference=(f"Retrain threshold {selectors.PSI_FLAG:g}", selectors.PSI_FLAG),
    )
    detail_charts = []
    shown = [report.score] if report.score and report.score.bins else []
    shown += [d for d in features if d.bins][:6]
    for d in shown:
        detail_charts.append(
            charts.bar_chart(
                title=f"{'Score' if d.feature == '__score__' else d.feature}: training vs now (PSI {d.psi:.2f})",
                categories=[b["label"] for b in d.bins][:20],
                series=[("Training", [b["expected"] for b in d.bins][:20]),
                        ("Open leads now", [b["actual"] for b in d.bins][:20])],
                value_label="Share of leads (%)",
                value_format=charts.pct,
            )
        )  # fmt: skip
    return {
        "computed_at": report.computed_at,
        "report": report,
        "notice": selectors.drift_notice(version),
        "summary": summary,
        "bins": bins,
        "psi_chart": psi_chart,
        "detail_charts": detail_charts,
        "tables": _tables(summary, bins),
    }
