"""Model quality: how good a model version is, from the metrics training stored with it
(ModelVersion.metrics) and from the leads it scored (observed conversion per tier). The
model-quality page (scoring/report_pages.py), the dashboard's model card and headline row
(scoring/templatetags/scoring_tags.py, the dashboard_headline_rows receiver) read it.

May import: leads.models, the generic report plumbing of leads/reports (selectors' outcome
counts, the summaries' cache) and scoring's models and selectors. Never leads' views or pages;
nothing in leads imports this module. scoring/drift.py builds on it, not the other way round.
"""

from dataclasses import dataclass, field

from django.db.models import Avg

from leads.models import Lead, LeadRank
from leads.reports.selectors import TIER_ORDER, outcome_counts, outcome_rates
from leads.reports.summaries import Summary, summary_for
from scoring import selectors
from scoring.models import ModelVersion


def metric_get(data, *keys, default=None):
    """data[k1][k2]... from a metrics JSON, or `default` where a level is missing."""
    for key in keys:
        if not isinstance(data, dict) or key not in data:
            return default
        data = data[key]
    return data


def picker_versions_list() -> list[ModelVersion]:
    """The versions the model pages' version picker offers (newest first; failed ones left out)."""
    return list(
        ModelVersion.objects.exclude(status=ModelVersion.Status.FAILED)
        .only("pk", "status", "algorithm", "created_at", "activated_at")
        .order_by("-created_at", "-pk")[:50]
    )


@dataclass
class ModelQuality:
    version: ModelVersion
    metrics_table: list[dict]
    calibration: list[dict]
    deciles: list[dict]
    roc: list[tuple[float, float]]
    pr: list[tuple[float, float]]
    confusion: dict | None
    threshold: float | None
    thresholds: list[dict]
    cv: dict
    observed_live: list[dict] = field(default_factory=list)
    observed_all: list[dict] = field(default_factory=list)


HOLDOUT_METRICS = (
    ("roc_auc", "ROC AUC", "Area under the ROC curve: 0.5 is chance, 1 is perfect ranking."),
    ("pr_auc", "PR AUC", "Area under the precision-recall curve; compare with the base rate."),
    ("log_loss", "Log loss", "Lower is better."),
    ("brier", "Brier score", "Mean squared error of the probabilities; lower is better."),
    ("ece", "Expected calibration error", "Average gap between predicted and observed rates."),
    ("accuracy", "Accuracy", "At the active threshold."),
    ("precision", "Precision", "Share of flagged leads that converted, at the threshold."),
    ("recall", "Recall", "Share of converters that were flagged, at the threshold."),
    ("f1", "F1", "Harmonic mean of precision and recall."),
)


def model_quality(version: ModelVersion, *, with_observed: bool = True) -> ModelQuality:
    """Everything the model-quality page shows, read from ModelVersion.metrics (see the
    contract in the team notes) plus the observed conversion per tier from the leads."""
    metrics = version.metrics or {}
    holdout = metric_get(metrics, "holdout", default={}) or {}
    table = [
        {"metric": label, "key": key, "value": holdout.get(key), "help": help_text}
        for key, label, help_text in HOLDOUT_METRICS
        if holdout.get(key) is not None
    ]
    for key, label in (
        ("n_rows", "Training rows"),
        ("n_positive", "Converted in training"),
        ("base_rate", "Base rate"),
    ):
        value = metrics.get(key)
        if value is not None:
            table.append({"metric": label, "key": key, "value": value, "help": ""})
    sample = (metrics.get("training_set") or {}).get("sample")
    if isinstance(sample, dict):
        # The closed leads the training sample was drawn from; the sentence says how.
        table.append(
            {"metric": "Sampled from", "key": "sample", "value": sample.get("of"), "help": sample.get("how", "")}
        )
    roc = metric_get(holdout, "roc_curve", default={}) or {}
    pr = metric_get(holdout, "pr_curve", default={}) or {}
    quality = ModelQuality(
        version=version,
        metrics_table=table,
        calibration=[b for b in holdout.get("calibration") or [] if isinstance(b, dict)],
        deciles=sorted(
            (d for d in holdout.get("deciles") or [] if isinstance(d, dict)), key=lambda d: d.get("decile", 0)
        ),
        roc=list(zip(roc.get("fpr") or [], roc.get("tpr") or [], strict=False)),
        pr=list(zip(pr.get("recall") or [], pr.get("precision") or [], strict=False)),
        confusion=holdout.get("confusion") if isinstance(holdout.get("confusion"), dict) else None,
        threshold=holdout.get("threshold", version.threshold),
        thresholds=[t for t in holdout.get("thresholds") or [] if isinstance(t, dict)],
        cv=metrics.get("cv") or {},
    )
    if with_observed:
        quality.observed_live = observed_by_tier(version, since_live=True)
        quality.observed_all = observed_by_tier(version, since_live=False)
    return quality


def observed_by_tier(version: ModelVersion, *, since_live: bool) -> list[dict]:
    """Leads this version scored, by tier: how many closed, how many converted, the observed
    conversion of closed leads next to the mean predicted probability. With since_live, only
    leads created after the version went live (the honest, out-of-sample view)."""
    # Outcomes count the rank row's copy of the lead's status (kept by the database).
    queryset = LeadRank.objects.filter(model_version=version)
    if since_live:
        if version.activated_at is None:
            return []
        queryset = queryset.filter(lead__created_at__gte=version.activated_at)
    rows = list(queryset.values("tier").annotate(**outcome_counts(), mean_probability=Avg("probability")).order_by())
    for row in rows:
        outcome_rates(row)
        row["label"] = Lead.Tier(row["tier"]).label if row["tier"] in Lead.Tier.values else row["tier"]
    rows.sort(key=lambda r: TIER_ORDER.index(r["tier"]) if r["tier"] in TIER_ORDER else 99)
    return rows


def observed_summary(version: ModelVersion, *, refresh: bool = False) -> Summary:
    """observed_by_tier since going live and overall, through the report summaries' cache
    (a new activation starts a new entry)."""

    def compute() -> dict:
        return {
            "live": observed_by_tier(version, since_live=True),
            "all": observed_by_tier(version, since_live=False),
        }

    return summary_for("observed", None, compute, refresh=refresh, extra=f"{version.pk}:{version.activated_at}")


def active_model_facts() -> dict:
    """The active model and its holdout ROC AUC, for the CRM pages that show them (one query)."""
    model = selectors.active_model_version()
    return {"model": model, "model_auc": metric_get(model.metrics, "holdout", "roc_auc") if model else None}


def dashboard_headline_rows(**_kwargs) -> list[dict]:
    """The dashboard's headline row for the active model: a receiver of
    leads.reports.signals.dashboard_headline_rows (connected in scoring/apps.py)."""
    facts = active_model_facts()
    model = facts["model"]
    return [
        {
            "metric": "Active model ROC AUC",
            "value": facts["model_auc"],
            "definition": f"Holdout AUC of model v{model.pk}" if model else "No active model",
        }
    ]
