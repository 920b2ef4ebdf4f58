"""Reads about models and scores, shared by pages and the API."""

from django.core.cache import cache
from django.db.models import QuerySet
from django.db.models.fields.json import KT

from leads.models import Lead, User
from leads.selectors import leads_visible_to
from scoring.models import ActivationEvent, ModelVersion, ScoreHistory, TrainingRun

BANNER_KEY = "scoring:banner:v1"
BANNER_SECONDS = 60


def active_model_version() -> ModelVersion | None:
    return ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).first()


def queue_banner() -> str | None:
    """A notice for the top of the work queue (e.g. cold start), or None."""
    banner = cache.get(BANNER_KEY)
    if banner is None:
        from scoring.services import training_readiness

        if ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).exists():
            banner = ""
        else:
            readiness = training_readiness()
            banner = (
                readiness.message + ". Leads show the overall base rate until then."
                if not readiness.ready
                else "model not trained yet: enough outcomes are in, a model will be trained shortly."
            )
        cache.set(BANNER_KEY, banner, BANNER_SECONDS)
    return banner or None


def model_versions_list(limit: int = 100) -> list[ModelVersion]:
    """Versions with their headline metrics pulled out of the JSON in SQL (the full metrics are big)."""
    return list(
        ModelVersion.objects.select_related("created_by")
        .defer("metrics", "features")
        .annotate(
            cv_auc=KT("metrics__cv__roc_auc__mean"),
            holdout_auc=KT("metrics__holdout__roc_auc"),
            holdout_ece=KT("metrics__holdout__ece"),
            holdout_accuracy=KT("metrics__holdout__accuracy"),
        )[:limit]
    )


def activation_events_list(limit: int = 20) -> list[ActivationEvent]:
    return list(ActivationEvent.objects.select_related("model_version", "previous", "by")[:limit])


def training_runs_list(limit: int = 10) -> list[TrainingRun]:
    return list(TrainingRun.objects.select_related("model_version", "created_by")[:limit])


def score_history_for(user: User, lead_id: int, limit: int = 200) -> QuerySet[ScoreHistory] | None:
    """A lead's score history if `user` may see the lead, else None."""
    if not leads_visible_to(user).filter(pk=lead_id).exists():
        return None
    return ScoreHistory.objects.filter(lead_id=lead_id).select_related("model_version", "overridden_by")[:limit]


def lead_for(user: User, pk: int) -> Lead | None:
    return leads_visible_to(user).filter(pk=pk).first()
