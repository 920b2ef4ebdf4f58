"""Reads about models and scores, shared by pages, the API and the scoring services: the model in
use, tier cut-offs, training readiness, lists for the model pages, scoring a lead that is not
stored. Nothing here writes to the database (cut-offs and the queue banner are cached).

May import leads (models, selectors) and scoring's models, registry, features and scorer; never
scoring's services (they import this module).
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db import connections
from django.db.models import Count, Q, QuerySet
from django.db.models.fields.json import KT, KeyTransform

from leads.models import Lead, LeadRank, User
from leads.selectors import leads_visible_to
from scoring import features as F
from scoring import registry, scorer
from scoring.models import ActivationEvent, ModelVersion, ScoreHistory, ScoringSettings, TrainingRun

log = logging.getLogger(__name__)

BANNER_KEY = "scoring:banner:v1"
BANNER_SECONDS = 60
CAPACITY_KEY = "scoring:capacity-hot-cutoff"


def active_model_version() -> ModelVersion | None:
    return ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).first()


def queue_banner() -> str | None:
    """A notice for the top of the work queue (e.g. cold start), or None."""
    banner = cache.get(BANNER_KEY)
    if banner is None:
        if ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).exists():
            banner = ""
        else:
            readiness = training_readiness(up_to_needed=True)
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
            # As judged when it was trained (the detail page judges again with today's thresholds).
            gates_failed=KeyTransform("gates", "metrics"),
            leak_warnings=KeyTransform("leak_warnings", "metrics"),
        )[:limit]
    )


def rescore_size() -> int:
    """How many leads a full rescore scores (activation, roll back, settings): every lead."""
    return Lead.objects.count()


def rollback_target() -> tuple[ModelVersion, ModelVersion] | None:
    """(the active version, the one a roll back would activate), or None when there is none;
    the same choice activation.model_rollback makes."""
    active = ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).first()
    if active is None:
        return None
    event = (
        ActivationEvent.objects.filter(model_version=active, previous__isnull=False).select_related("previous").first()
    )
    if event is None or event.previous is None:
        return None
    return active, event.previous


def activation_events_list(limit: int = 20) -> list[ActivationEvent]:
    return list(ActivationEvent.objects.select_related("model_version", "previous", "by")[:limit])


def training_runs_list(limit: int = 10) -> list[TrainingRun]:
    return list(TrainingRun.objects.select_related("model_version", "created_by")[:limit])


def score_history_for(user: User, lead_id: int, limit: int = 200) -> QuerySet[ScoreHistory] | None:
    """A lead's score history if `user` may see the lead, else None."""
    if not leads_visible_to(user).filter(pk=lead_id).exists():
        return None
    return ScoreHistory.objects.filter(lead_id=lead_id).select_related("model_version", "overridden_by")[:limit]


# --- readiness (cold start) ---------------------------------------------------------------


@dataclass
class Readiness:
    converted: int
    lost: int
    min_converted: int
    min_lost: int

    @property
    def ready(self) -> bool:
        return self.converted >= self.min_converted and self.lost >= self.min_lost

    @property
    def message(self) -> str:
        have = min(self.converted, self.min_converted) + min(self.lost, self.min_lost)
        need = self.min_converted + self.min_lost
        return (
            f"model not trained yet: {have} of {need} outcomes "
            f"({self.converted} converted of {self.min_converted}, {self.lost} lost of {self.min_lost} needed)"
        )


def score_history_export(lead_id: int) -> list[dict]:
    """Every score a lead was given, oldest first, for the person-data export (JSON-ready)."""
    rows = ScoreHistory.objects.filter(lead_id=lead_id).select_related("overridden_by").order_by("scored_at", "id")
    return [
        {
            "scored_at": row.scored_at.isoformat(),
            "score": row.score,
            "probability": row.probability,
            "tier": row.tier,
            "model_version": row.model_version_id,
            "overridden_by": row.overridden_by.username if row.overridden_by else None,
            "override_reason": row.override_reason,
        }
        for row in rows
    ]


def outcome_leads_for(options: ScoringSettings) -> QuerySet[Lead]:
    """The closed leads a model learns from (since the admin's training start date, if set)."""
    queryset = Lead.objects.filter(status__in=Lead.CLOSED_STATUSES)
    if options.training_since:
        queryset = queryset.filter(created_at__date__gte=options.training_since)
    return queryset


def _counts_up_to(*counted: tuple[QuerySet, int]) -> tuple[int, ...]:
    """Each queryset's row count, counting at most its cap, in one statement: a scalar count over
    each queryset's own LIMITed SQL (the ORM's, with its parameters), on the database the ORM
    would read them from."""
    parts, params = [], []
    database = counted[0][0].db
    for queryset, cap in counted:
        limited = queryset.order_by().values("pk")[:cap]
        sql, part_params = limited.query.get_compiler(database).as_sql()
        parts.append(f"(SELECT COUNT(*) FROM ({sql}) counted)")  # noqa: S608 (the ORM's SQL; values are parameters)
        params.extend(part_params)
    with connections[database].cursor() as cursor:
        cursor.execute(f"SELECT {', '.join(parts)}", params)
        return tuple(cursor.fetchone())


def training_readiness(options: ScoringSettings | None = None, *, up_to_needed: bool = False) -> Readiness:
    """The outcomes there are to train on. `up_to_needed` counts each kind only up to the number
    needed, reading at most that many rows (the queue's banner: a full count of a million closed
    leads took 320 ms, and every web thread that found the banner's cache empty ran it at once)."""
    options = options or ScoringSettings.current()
    positive = options.conversion_status or Lead.Status.CONVERTED
    min_converted = options.min_converted or settings.SCORING_MIN_CONVERTED
    min_lost = options.min_lost or settings.SCORING_MIN_LOST
    outcomes = outcome_leads_for(options)
    if up_to_needed:
        # The other closed statuses named, not `exclude`: an index range, not a walk past every converted lead.
        negative = [status for status in Lead.CLOSED_STATUSES if status != positive]
        converted, lost = _counts_up_to(
            (outcomes.filter(status=positive), min_converted), (outcomes.filter(status__in=negative), min_lost)
        )
        return Readiness(converted, lost, min_converted, min_lost)
    counts = outcomes.aggregate(
        converted=Count("pk", filter=Q(status=positive)), lost=Count("pk", filter=~Q(status=positive))
    )
    return Readiness(counts["converted"], counts["lost"], min_converted, min_lost)


def cold_start_probability() -> float:
    """No model yet: the admin's rule score, else the base rate of the outcomes so far."""
    options = ScoringSettings.current()
    if options.rule_score is not None:
        return options.rule_score / 100.0
    readiness = training_readiness(options)
    total = readiness.converted + readiness.lost
    return readiness.converted / total if total else 0.0


# --- the model in use ---------------------------------------------------------------------


_LOAD_FIELDS = (
    "pk",
    "status",
    "artifact_path",
    "artifact_sha256",
    "sklearn_version",
    "format_version",
    "tier_cutoffs",
    "load_error",
    "activated_at",
)


def model_in_use(
    *, on_load_failure: Callable[[ModelVersion, registry.ArtifactError], None] | None = None
) -> tuple[ModelVersion | None, registry.LoadedModel | None]:
    """The active version and its loaded model; when its artifact fails to load, the last good
    version that loads. A caller that writes passes `on_load_failure` to record the active
    version's error for admins (rescoring does); this function only reads."""
    active = ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).only(*_LOAD_FIELDS).first()
    if active is None:
        return None, None
    try:
        return active, registry.model_load(active)
    except registry.ArtifactError as exc:
        log.error("model v%s cannot be loaded: %s", active.pk, exc)
        if on_load_failure is not None:
            on_load_failure(active, exc)
    previous = (
        ModelVersion.objects.filter(activations__isnull=False)
        .exclude(pk=active.pk)
        .exclude(status=ModelVersion.Status.FAILED)
        .order_by("-activated_at", "-pk")
        .distinct()
        .only(*_LOAD_FIELDS)
    )
    for version in previous[:5]:
        try:
            return version, registry.model_load(version)
        except registry.ArtifactError:
            continue
    return None, None


def tier_cutoffs(version: ModelVersion | None, options: ScoringSettings | None = None) -> dict:
    """Tier cut-offs in score points {"hot": 60, "warm": 30} from the admin's tier mode, for the
    version that scores the leads (percentile mode reads that version's score quantiles). A lead's
    tier is scorer.tier_for(its displayed score, these), so one score always shows one tier."""
    options = options or ScoringSettings.current()
    hot = options.hot_threshold if options.hot_threshold is not None else settings.SCORING_HOT_THRESHOLD
    warm = options.warm_threshold if options.warm_threshold is not None else settings.SCORING_WARM_THRESHOLD
    quantiles = (version.tier_cutoffs or {}).get("quantiles") if version else None
    if options.tier_mode == ScoringSettings.TierMode.PERCENTILE and quantiles:
        hot = quantiles[int(min(100, max(0, options.hot_percentile)))]
        warm = quantiles[int(min(100, max(0, options.warm_percentile)))]
    elif options.tier_mode == ScoringSettings.TierMode.CAPACITY:
        # Hot = the K best open leads, K = capacity per rep x active reps. Sorting every open lead
        # is not free at a million leads, so the cut-off is cached for a few minutes.
        cached = cache.get(CAPACITY_KEY)
        if cached is None:
            reps = User.objects.filter(is_active=True, role=User.Role.REP).count()
            k = max(1, options.capacity_per_rep * max(reps, 1))
            kth = list(
                # The rank row's copy of the status: one walk down its open-queue priority index.
                LeadRank.objects.filter(status__in=Lead.OPEN_STATUSES, score__isnull=False)
                .order_by("-priority")
                .values_list("priority", flat=True)[k - 1 : k]
            )
            cached = kth[0] / 100.0 if kth else hot
            cache.set(CAPACITY_KEY, cached, 300)
        hot = cached
    hot_points = scorer.score_from_probability(float(hot))
    return {"hot": hot_points, "warm": min(scorer.score_from_probability(float(warm)), hot_points)}


def score_unsaved(*, source: str = "", origin: str = "", attributes: dict | None = None) -> dict:
    """Score a lead that is not stored (a web form, another system)."""
    version, loaded = model_in_use()
    cutoffs = tier_cutoffs(version)
    if loaded is None:
        p = cold_start_probability()
        return {
            "probability": round(p, 4),
            "score": scorer.score_from_probability(p),
            "tier": scorer.tier_for(scorer.score_from_probability(p), cutoffs),
            "reasons": [],
            "model_version": None,
        }
    raw = F.unsaved_lead_values(
        fields=loaded.extras["fields"],
        source=source,
        origin=origin,
        attributes=attributes,
        dates=loaded.extras.get("dates") or {},
    )
    p, reasons = scorer.score_one(loaded, raw)
    score = scorer.score_from_probability(p)
    return {
        "probability": round(p, 4),
        "score": score,
        "tier": scorer.tier_for(score, cutoffs),
        "reasons": reasons,
        "model_version": version.pk,
    }
