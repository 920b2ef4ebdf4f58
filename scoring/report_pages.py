"""What the model pages under /reports/ show (model quality, drift): scoring's quality and drift
numbers turned into the report tables and charts of leads/reports.

Each builder returns a context dict whose "tables" hold every downloadable table by name, so
the view can answer `?format=csv&table=<name>` from the same numbers the page shows.
"""

from django.conf import settings

from leads.reports import charts
from leads.reports.charts import Series
from leads.reports.tables import Column, Table, tables_by_name
from scoring import drift, quality
from scoring.models import ModelVersion

# --- Model quality -----------------------------------------------------------------------


def model_page(version: ModelVersion | None, *, refresh: bool = False) -> dict:
    if version is None:
        return {"quality": None, "tables": {}}
    q = quality.model_quality(version, with_observed=False)
    observed = quality.observed_summary(version, refresh=refresh)
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
        "tables": tables_by_name(*tables),
    }


def _metric(q, key):
    return next((m["value"] for m in q.metrics_table if m["key"] == key), None)


# --- Drift -------------------------------------------------------------------------------


def drift_page(version: ModelVersion | None, *, refresh: bool = False) -> dict:
    if version is None:
        return {"report": None, "tables": {}}
    report = drift.drift_for(version, refresh=refresh)
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
            Column("flag", f"Above {settings.REPORT_PSI_FLAG:g}"),
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
        reference=(f"Retrain threshold {settings.REPORT_PSI_FLAG:g}", settings.REPORT_PSI_FLAG),
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
        "notice": drift.drift_notice(version),
        "summary": summary,
        "bins": bins,
        "psi_chart": psi_chart,
        "detail_charts": detail_charts,
        "tables": tables_by_name(summary, bins),
    }
