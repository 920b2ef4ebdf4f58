"""Scoring services: train, activate, score and rescore. The CRM calls lead_rescore_request()
whenever a lead changes, and import_completed() after an import commits."""

import json
import logging
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from celery import current_app
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import Count, Q
from django.db.models import F as DbF
from django.utils import timezone

from leadcrm.dispatch import BROKER_UNAVAILABLE, task_dispatch
from leads.models import Lead, User
from scoring import features as F
from scoring import registry, scorer, training
from scoring.models import ActivationEvent, ModelVersion, RescoreRun, ScoreHistory, ScoringSettings, TrainingRun
from scoring.selectors import BANNER_KEY

log = logging.getLogger(__name__)

RETRAIN_LOCK_KEY = "scoring:retrain-lock"
PENDING_KEY = "scoring:rescore-pending:{}"
# Requests for more leads than this skip the per-lead debounce (see lead_rescore_request).
DEBOUNCE_MAX_IDS = 1000
CAPACITY_KEY = "scoring:capacity-hot-cutoff"


class TrainingRefused(Exception):
    """Not enough outcomes yet: the message says how many there are and how many are needed."""


# --- lead changes -------------------------------------------------------------------------


def _debounce_seconds() -> int:
    return int(getattr(settings, "SCORING_RESCORE_DEBOUNCE_SECONDS", 2))


def lead_rescore_request(lead_ids: list[int]) -> None:
    """Ask for the given leads to be rescored shortly after the current transaction commits.

    Debounced: a lead already waiting for a rescore is not queued again (a cache key per lead,
    cleared when the task starts). In eager mode the rescore runs at once after commit.
    """
    ids = sorted({int(i) for i in lead_ids if i is not None})
    if not ids:
        return

    def dispatch() -> None:
        from scoring.tasks import rescore_leads

        chunk = settings.SCORING_RESCORE_CHUNK
        if current_app.conf.task_always_eager:
            for i in range(0, len(ids), chunk):
                rescore_leads.delay(lead_ids=ids[i : i + chunk])  # eager: runs here, no broker
            return
        countdown = None
        fresh = ids
        if len(ids) <= DEBOUNCE_MAX_IDS:
            # (A bulk change, such as an import, skips the debounce: one cache round trip per
            # lead would cost more than the rescore itself.)
            timeout = _debounce_seconds() + 60
            fresh = [i for i in ids if cache.add(PENDING_KEY.format(i), 1, timeout=timeout)]
            if not fresh and getattr(cache, "degraded", False):
                fresh = ids  # the cache is down: nothing can be known to be pending
            countdown = _debounce_seconds()
        for i in range(0, len(fresh), chunk):
            part = fresh[i : i + chunk]
            if not task_dispatch(
                rescore_leads, kwargs={"lead_ids": part}, countdown=countdown, on_failure=_rescore_stale_record
            ):
                cache.delete_many([PENDING_KEY.format(i) for i in part])
                return  # the stale run recorded covers the rest too

    transaction.on_commit(dispatch)


def _rescore_stale_record(exc: Exception) -> None:
    """The broker is down: the changed leads are already stale (updated or active since their
    scored_at, see _stale_filter); record a stale-only rescore run for redispatch_queued() to send."""
    if RescoreRun.objects.filter(status=RescoreRun.Status.RUNNING, only_stale=True, last_lead_id=0).exists():
        return  # one not yet started will see these leads too
    rescore_run_start(only_stale=True)


def import_completed(*, lead_ids: list[int], new_outcomes: int) -> None:
    """Called by the import pipeline after an import commits: rescore what changed and, when
    enough new outcomes arrived and there are enough in all, ask for a retrain."""
    lead_rescore_request(lead_ids)
    threshold = int(getattr(settings, "SCORING_RETRAIN_AFTER_OUTCOMES", 50))
    cache.delete(BANNER_KEY)
    if new_outcomes >= threshold and training_readiness().ready:
        retrain_request(by=None, trigger="import")


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


def _outcome_leads(options: ScoringSettings):
    queryset = Lead.objects.filter(status__in=Lead.CLOSED_STATUSES)
    if options.training_since:
        queryset = queryset.filter(created_at__date__gte=options.training_since)
    return queryset


def training_readiness(options: ScoringSettings | None = None) -> Readiness:
    options = options or ScoringSettings.current()
    positive = options.conversion_status or Lead.Status.CONVERTED
    counts = _outcome_leads(options).aggregate(
        converted=Count("pk", filter=Q(status=positive)), lost=Count("pk", filter=~Q(status=positive))
    )
    return Readiness(
        counts["converted"],
        counts["lost"],
        options.min_converted or settings.SCORING_MIN_CONVERTED,
        options.min_lost or settings.SCORING_MIN_LOST,
    )


# --- training -----------------------------------------------------------------------------


def model_train(
    *,
    folds: int = 5,
    by: User | None = None,
    progress: Callable[[int, str], None] | None = None,
    may_activate: Callable[[], bool] | None = None,
) -> ModelVersion:
    """Train a model on every outcome, store it as a candidate and activate it when it beats the
    active one on the same folds by the set margin (or when there is no active model).

    Raises TrainingRefused at cold start and training.TrainingError when nothing usable remains.
    """
    options = ScoringSettings.current()
    readiness = training_readiness(options)
    if not readiness.ready:
        raise TrainingRefused(readiness.message)
    progress = progress or (lambda pct, stage: None)
    progress(1, "loading outcomes and building features")
    as_of = timezone.now()
    rows = list(_outcome_leads(options).order_by("pk").values_list("pk", "status", "created_at", "attributes"))
    labels = F.model_field_labels()
    fields = {label: field for field, label in labels.items()}
    types = F.frame_types(F.infer_column_types((r[3] for r in rows), F.declared_column_types()), labels)
    frame = F.lead_frame([r[0] for r in rows], as_of=as_of, types=types, fields=fields)
    positive = options.conversion_status or Lead.Status.CONVERTED
    y = np.array([1 if r[1] == positive else 0 for r in rows])
    created = np.array([r[2] for r in rows], dtype=object)
    excluded = {**F.profile_excluded_columns()}
    for column in options.excluded_columns or []:
        excluded.setdefault(str(column), "excluded by an admin")

    active = ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).first()
    champion = None
    if active and active.params.get("algorithm"):
        champion = training.Candidate("champion", active.params["algorithm"], active.params.get("estimator", {}))
    result = training.train(
        frame,
        y,
        types,
        created=created,
        folds=folds,
        excluded=excluded,
        kept=options.kept_columns or [],
        champion=champion,
        progress=progress,
    )
    progress(95, "saving the model")
    result.features["fields"] = fields
    version = _version_save(result, by=by)
    decision = challenger_decision(result, champion_present=active is not None, options=options)
    metrics = dict(version.metrics)
    metrics["challenger"] = decision
    version.metrics = metrics
    version.save(update_fields=["metrics"])
    if decision["activate"] and (may_activate is None or may_activate()):
        model_activate(version=version, by=by, note=decision["reason"])
    elif decision["activate"]:
        version.notes = "Not activated: this training no longer held the retrain lock."
        version.save(update_fields=["notes"])
    progress(100, "done")
    return version


def challenger_decision(result: training.TrainResult, *, champion_present: bool, options: ScoringSettings) -> dict:
    """Activate when there is no champion, or when the challenger beats the champion's config
    retrained on the same folds: AUC up by the margin (log loss no worse) or log loss down by
    the margin (AUC no worse)."""
    best = result.metrics["cv"]["candidates"][result.candidate.name]
    if not champion_present:
        return {"activate": True, "reason": "first model: nothing to compare against"}
    champ = result.cv_by_candidate.get(result.metrics["cv"].get("champion") or "")
    if champ is None:
        return {"activate": False, "reason": "the champion could not be evaluated on these folds"}
    d_auc = best["roc_auc"]["mean"] - champ["roc_auc"]["mean"]
    d_ll = best["log_loss"]["mean"] - champ["log_loss"]["mean"]
    beats = (d_auc >= options.margin_auc and d_ll <= 0) or (d_ll <= -options.margin_log_loss and d_auc >= 0)
    reason = (
        f"challenger {result.candidate.name}: AUC {best['roc_auc']['mean']:.4f} vs champion "
        f"{champ['roc_auc']['mean']:.4f} ({d_auc:+.4f}), log loss {best['log_loss']['mean']:.4f} vs "
        f"{champ['log_loss']['mean']:.4f} ({d_ll:+.4f}); margins AUC {options.margin_auc}, "
        f"log loss {options.margin_log_loss}"
    )
    return {"activate": bool(beats), "reason": reason, "delta_auc": round(d_auc, 5), "delta_log_loss": round(d_ll, 5)}


def _version_save(result: training.TrainResult, *, by: User | None) -> ModelVersion:
    version = ModelVersion.objects.create(
        created_by=by,
        status=ModelVersion.Status.CANDIDATE,
        algorithm=result.candidate.algorithm,
        params=result.candidate.as_dict(),
        metrics=result.metrics,
        features=result.features,
        n_rows=result.metrics["n_rows"],
        n_positive=result.metrics["n_positive"],
        threshold=result.threshold,
        tier_cutoffs={"quantiles": result.score_quantiles},
    )
    saved = registry.artifact_save(
        {
            "pipeline": result.pipeline,
            "types": result.types,
            "baseline": result.baseline,
            "blocks": result.blocks,
            "fields": result.features["fields"],
        },
        name=f"model-{version.pk}-{uuid.uuid4().hex[:8]}",
    )
    version.artifact_path = saved.path
    version.artifact_sha256 = saved.sha256
    version.sklearn_version = saved.sklearn_version
    version.format_version = saved.format_version
    version.save(update_fields=["artifact_path", "artifact_sha256", "sklearn_version", "format_version"])
    return version


# --- activation ---------------------------------------------------------------------------


def model_activate(*, version: ModelVersion, by: User | None = None, action: str = "activate", note: str = "") -> bool:
    """Make `version` the one active model, atomically, and rescore every lead with it.

    Activations are serialised on the settings row, so at any instant exactly one version is
    active (the partial unique constraint one_active_model backs this up). Returns False when
    it was active already.
    """
    if by is not None and not by.is_crm_admin:
        raise PermissionDenied("Only admins can activate models.")
    if version.status == ModelVersion.Status.FAILED or not version.artifact_sha256:
        raise ValidationError("This version has no usable artifact.")
    registry.model_load(version)  # refuse to activate something that cannot be loaded
    with transaction.atomic():
        ScoringSettings.load()
        ScoringSettings.objects.select_for_update().get(pk=1)
        current = ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).first()
        if current is not None and current.pk == version.pk:
            return False
        if current is not None:
            ModelVersion.objects.filter(pk=current.pk).update(status=ModelVersion.Status.RETIRED)
        ModelVersion.objects.filter(pk=version.pk).update(
            status=ModelVersion.Status.ACTIVE, activated_at=timezone.now(), load_error=""
        )
        ActivationEvent.objects.create(model_version=version, previous=current, action=action, by=by, note=note[:255])
        transaction.on_commit(lambda: (cache.delete(BANNER_KEY), rescore_all_request()))
    version.refresh_from_db()
    return True


def model_rollback(*, by: User | None = None) -> ModelVersion | None:
    """Activate the version that was active before the current one."""
    active = ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).first()
    if active is None:
        return None
    event = ActivationEvent.objects.filter(model_version=active, previous__isnull=False).first()
    if event is None or event.previous is None:
        return None
    model_activate(version=event.previous, by=by, action="rollback", note=f"rolled back from v{active.pk}")
    return event.previous


def model_threshold_set(*, version: ModelVersion, threshold: float, by: User) -> ModelVersion:
    if not by.is_crm_admin:
        raise PermissionDenied("Only admins can change thresholds.")
    if not 0.0 < threshold < 1.0:
        raise ValidationError({"threshold": "A threshold is a probability between 0 and 1."})
    version.threshold = threshold
    version.save(update_fields=["threshold"])
    return version


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


def model_in_use() -> tuple[ModelVersion | None, registry.LoadedModel | None]:
    """The active version and its loaded model; when its artifact fails to load, the last good
    version that loads (the error is recorded on the version for admins)."""
    active = ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).only(*_LOAD_FIELDS).first()
    if active is None:
        return None, None
    try:
        return active, registry.model_load(active)
    except registry.ArtifactError as exc:
        log.error("model v%s cannot be loaded: %s", active.pk, exc)
        if active.load_error != str(exc):
            ModelVersion.objects.filter(pk=active.pk).update(load_error=str(exc)[:2000])
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
    """Probability cut-offs {"hot", "warm"} from the admin's tier mode."""
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
                Lead.objects.filter(status__in=Lead.OPEN_STATUSES, probability__isnull=False)
                .order_by("-probability")
                .values_list("probability", flat=True)[k - 1 : k]
            )
            cached = float(kth[0]) if kth else hot
            cache.set(CAPACITY_KEY, cached, 300)
        hot = cached
    return {"hot": float(hot), "warm": float(min(warm, hot))}


def settings_changed() -> None:
    """After an admin changes tiers or thresholds: recompute cut-offs and every lead's tier."""
    cache.delete_many([CAPACITY_KEY, BANNER_KEY])
    rescore_all_request()


@dataclass
class Scored:
    lead_id: int
    probability: float
    score: int
    tier: str
    reasons: list


def leads_score(lead_ids: Sequence[int], *, as_of: datetime, version, loaded, cutoffs: dict) -> list[Scored]:
    """Score stored leads (no writes)."""
    ids = list(lead_ids)
    if loaded is None:
        p = cold_start_probability()
        return [Scored(i, p, scorer.score_from_probability(p), scorer.tier_for(p, cutoffs), []) for i in ids]
    frame = F.lead_frame(ids, as_of=as_of, types=loaded.types, fields=loaded.extras["fields"])
    if frame.empty:
        return []
    probabilities, impacts = scorer.score_frame(loaded, frame)
    reasons = scorer.reasons_for_frame(loaded, frame, impacts)
    return [
        Scored(int(lead_id), float(p), scorer.score_from_probability(p), scorer.tier_for(p, cutoffs), r)
        for lead_id, p, r in zip(frame.index, probabilities, reasons, strict=True)
    ]


def cold_start_probability() -> float:
    """No model yet: the admin's rule score, else the base rate of the outcomes so far."""
    options = ScoringSettings.current()
    if options.rule_score is not None:
        return options.rule_score / 100.0
    readiness = training_readiness(options)
    total = readiness.converted + readiness.lost
    return readiness.converted / total if total else 0.0


def score_unsaved(*, source: str = "", origin: str = "", attributes: dict | None = None) -> dict:
    """Score a lead that is not stored (a web form, another system)."""
    version, loaded = model_in_use()
    cutoffs = tier_cutoffs(version)
    if loaded is None:
        p = cold_start_probability()
        return {
            "probability": round(p, 4),
            "score": scorer.score_from_probability(p),
            "tier": scorer.tier_for(p, cutoffs),
            "reasons": [],
            "model_version": None,
        }
    raw = F.unsaved_lead_values(fields=loaded.extras["fields"], source=source, origin=origin, attributes=attributes)
    p, reasons = scorer.score_one(loaded, raw)
    return {
        "probability": round(p, 4),
        "score": scorer.score_from_probability(p),
        "tier": scorer.tier_for(p, cutoffs),
        "reasons": reasons,
        "model_version": version.pk,
    }


# --- writing scores -----------------------------------------------------------------------


def scores_write(rows: list[Scored], *, version_id: int | None, scored_at: datetime) -> int:
    """Write scores in bulk; only leads whose score, tier, reasons or version change are
    touched, and each score change gets a ScoreHistory row. Re-running with the same rows
    changes nothing. Keeps Lead.priority = override or score. Returns how many leads changed."""
    if not rows:
        return 0
    if connection.vendor == "postgresql":
        return _scores_write_postgres(rows, version_id=version_id, scored_at=scored_at)
    return _scores_write_generic(rows, version_id=version_id, scored_at=scored_at)


def _scores_write_postgres(rows: list[Scored], *, version_id: int | None, scored_at: datetime) -> int:
    lead_table = Lead._meta.db_table
    history_table = ScoreHistory._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE IF NOT EXISTS scoring_incoming (id bigint PRIMARY KEY, score smallint, "
            "probability double precision, tier varchar(16), reasons jsonb) ON COMMIT DELETE ROWS"
        )
        cursor.execute("TRUNCATE scoring_incoming")
        with cursor.copy("COPY scoring_incoming (id, score, probability, tier, reasons) FROM STDIN") as copy:
            for row in rows:
                copy.write_row((row.lead_id, row.score, row.probability, row.tier, json.dumps(row.reasons)))
        # Statistics for the planner, and an id range, so both joins use the primary key index
        # instead of scanning the whole lead table for every chunk.
        cursor.execute("ANALYZE scoring_incoming")
        low, high = min(r.lead_id for r in rows), max(r.lead_id for r in rows)
        changed_filter = (
            "(l.score IS DISTINCT FROM t.score OR l.probability IS DISTINCT FROM t.probability "
            "OR l.model_version_id IS DISTINCT FROM %(version)s OR l.score_reasons IS DISTINCT FROM t.reasons "
            "OR (l.score_override IS NULL AND l.tier IS DISTINCT FROM t.tier) "
            "OR l.priority <> COALESCE(l.score_override, t.score))"
        )
        params = {"version": version_id, "at": scored_at, "low": low, "high": high}
        cursor.execute(
            f"INSERT INTO {history_table} (lead_id, model_version_id, score, probability, tier, scored_at, "  # noqa: S608
            f"override_reason) SELECT t.id, %(version)s, t.score, t.probability, t.tier, %(at)s, '' "
            f"FROM scoring_incoming t JOIN {lead_table} l ON l.id = t.id AND l.id BETWEEN %(low)s AND %(high)s "
            f"WHERE l.score IS DISTINCT FROM t.score OR l.model_version_id IS DISTINCT FROM %(version)s",
            params,
        )
        cursor.execute(
            f"UPDATE {lead_table} l SET score = t.score, probability = t.probability, "  # noqa: S608
            f"tier = CASE WHEN l.score_override IS NULL THEN t.tier ELSE l.tier END, score_reasons = t.reasons, "
            f"model_version_id = %(version)s, scored_at = %(at)s, priority = COALESCE(l.score_override, t.score) "
            f"FROM scoring_incoming t WHERE l.id = t.id AND l.id BETWEEN %(low)s AND %(high)s AND {changed_filter}",
            params,
        )
        return cursor.rowcount


def _scores_write_generic(rows: list[Scored], *, version_id: int | None, scored_at: datetime) -> int:
    """Other databases: compare in Python, then one parameterised UPDATE per changed lead sent
    with executemany (bulk_update's CASE expression grows badly with the batch)."""
    by_id = {row.lead_id: row for row in rows}
    lead_table = connection.ops.quote_name(Lead._meta.db_table)
    updates: list[tuple] = []
    history: list[ScoreHistory] = []
    at = connection.ops.adapt_datetimefield_value(scored_at)
    with transaction.atomic():
        current = Lead.objects.filter(pk__in=list(by_id)).values_list(
            "pk", "score", "probability", "tier", "score_reasons", "model_version_id", "score_override", "priority"
        )
        for pk, score, probability, tier, reasons, current_version, override, priority in current:
            row = by_id[pk]
            new_reasons = json.loads(json.dumps(row.reasons))
            new_priority = override if override is not None else row.score
            new_tier = row.tier if override is None else tier
            unchanged = (score, probability, tier, reasons, current_version, priority) == (
                row.score,
                row.probability,
                new_tier,
                new_reasons,
                version_id,
                new_priority,
            )
            if unchanged:
                continue
            if score != row.score or current_version != version_id:
                history.append(
                    ScoreHistory(
                        lead_id=pk,
                        model_version_id=version_id,
                        score=row.score,
                        probability=row.probability,
                        tier=row.tier,
                        scored_at=scored_at,
                    )
                )
            updates.append(
                (row.score, row.probability, new_tier, json.dumps(new_reasons), version_id, at, new_priority, pk)
            )
        if updates:
            with connection.cursor() as cursor:
                cursor.executemany(
                    f"UPDATE {lead_table} SET score = %s, probability = %s, tier = %s, score_reasons = %s, "  # noqa: S608
                    "model_version_id = %s, scored_at = %s, priority = %s WHERE id = %s",
                    updates,
                )
        ScoreHistory.objects.bulk_create(history, batch_size=1000)
    return len(updates)


def leads_rescore(*, lead_ids: Sequence[int]) -> int:
    """Rescore some leads now with the model in use. Returns how many changed."""
    cache.delete_many([PENDING_KEY.format(i) for i in lead_ids])
    version, loaded = model_in_use()
    cutoffs = tier_cutoffs(version)
    as_of = timezone.now()
    changed = 0
    chunk = settings.SCORING_RESCORE_CHUNK
    ids = sorted({int(i) for i in lead_ids})
    for i in range(0, len(ids), chunk):
        rows = leads_score(ids[i : i + chunk], as_of=as_of, version=version, loaded=loaded, cutoffs=cutoffs)
        changed += scores_write(rows, version_id=version.pk if loaded else None, scored_at=as_of)
    return changed


def rescore_all_request(*, only_stale: bool = False) -> RescoreRun:
    """Start a rescore of every lead (or only stale ones) with the model in use, in the background."""
    run = rescore_run_start(only_stale=only_stale)
    from scoring.tasks import rescore_leads

    # On a broker failure the run stays `running` at position 0; redispatch_queued() sends it.
    transaction.on_commit(lambda: task_dispatch(rescore_leads, kwargs={"run_id": run.pk}))
    return run


def rescore_run_start(*, only_stale: bool = False) -> RescoreRun:
    version, loaded = model_in_use()
    with transaction.atomic():
        RescoreRun.objects.filter(status=RescoreRun.Status.RUNNING).update(status=RescoreRun.Status.SUPERSEDED)
        return RescoreRun.objects.create(
            model_version=version if loaded else None, as_of=timezone.now(), only_stale=only_stale
        )


def _stale_filter(version_id: int | None) -> Q:
    return (
        Q(scored_at__isnull=True)
        | ~Q(model_version_id=version_id)
        | Q(updated_at__gt=DbF("scored_at"))
        | Q(last_activity_at__gt=DbF("scored_at"))
    )


def _chunk_commit(run_id: int, after_id: int, rows: list[Scored], last_id: int, version_id, as_of) -> bool:
    """Write one chunk and move the run past it, in one transaction. False (nothing written)
    when the run was superseded or someone else moved it."""
    with transaction.atomic():
        if not RescoreRun.objects.filter(pk=run_id, status=RescoreRun.Status.RUNNING, last_lead_id=after_id).exists():
            return False
        changed = scores_write(rows, version_id=version_id, scored_at=as_of)
        moved = RescoreRun.objects.filter(pk=run_id, last_lead_id=after_id).update(
            last_lead_id=last_id, scored=DbF("scored") + len(rows), changed=DbF("changed") + changed
        )
        if not moved:  # someone else advanced this run: undo our chunk and stop
            transaction.set_rollback(True)
            return False
    return True


def _chunk_commit_in_thread(*args) -> bool:
    try:
        return _chunk_commit(*args)
    finally:
        connection.close()  # the writer thread's own connection


def rescore_run_continue(run: RescoreRun, *, max_chunks: int | None = None) -> RescoreRun:
    """Score the run's leads chunk by chunk in id order. Each chunk and the run's position are
    committed together, so a killed worker leaves whole scores and the run resumes where it
    stopped. Every lead of a run is scored by the run's one model version.

    On PostgreSQL, outside a transaction, chunk N is written by a second thread (its own
    connection) while chunk N+1 is computed: the database's index maintenance and Python's
    scoring then overlap instead of taking turns.
    """
    version = run.model_version
    loaded = None
    if version is not None:
        try:
            loaded = registry.model_load(version)
        except registry.ArtifactError:
            version, loaded = model_in_use()
    version_id = version.pk if loaded else None
    cutoffs = tier_cutoffs(version if loaded else None)
    chunk = settings.SCORING_RESCORE_CHUNK
    pipelined = connection.vendor == "postgresql" and not connection.in_atomic_block
    writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rescore-writer") if pipelined else None
    pending = None
    done_chunks = 0
    run.refresh_from_db(fields=["status", "last_lead_id"])
    position = run.last_lead_id
    try:
        while run.status == RescoreRun.Status.RUNNING:
            queryset = Lead.objects.filter(pk__gt=position)
            if run.only_stale:
                queryset = queryset.filter(_stale_filter(version_id))
            ids = list(queryset.order_by("pk").values_list("pk", flat=True)[:chunk])
            rows = leads_score(ids, as_of=run.as_of, version=version, loaded=loaded, cutoffs=cutoffs) if ids else []
            if pending is not None and not pending.result():
                break
            pending = None
            if not ids:
                RescoreRun.objects.filter(pk=run.pk, status=RescoreRun.Status.RUNNING, last_lead_id=position).update(
                    status=RescoreRun.Status.DONE, finished_at=timezone.now()
                )
                break
            args = (run.pk, position, rows, ids[-1], version_id, run.as_of)
            if writer is not None:
                pending = writer.submit(_chunk_commit_in_thread, *args)
            elif not _chunk_commit(*args):
                break
            position = ids[-1]
            done_chunks += 1
            if max_chunks is not None and done_chunks >= max_chunks:
                break
        if pending is not None:
            pending.result()
    finally:
        if writer is not None:
            writer.shutdown(wait=True)
    run.refresh_from_db()
    return run


# --- manager override ---------------------------------------------------------------------


@transaction.atomic
def score_override_set(*, lead: Lead, score: int, reason: str, by: User) -> Lead:
    """A manager's own score for a lead, kept beside the model's; the queue follows it."""
    if not by.is_manager:
        raise PermissionDenied("Only managers can override scores.")
    if not 0 <= int(score) <= 100:
        raise ValidationError({"score": "A score is between 0 and 100."})
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why you override the score."})
    lead = Lead.objects.select_for_update().get(pk=lead.pk)
    lead.score_override = int(score)
    lead.score_override_reason = reason[:255]
    lead.score_override_by = by
    lead.priority = lead.score_override
    lead.tier = scorer.tier_for(lead.score_override / 100.0, tier_cutoffs(lead.model_version))
    lead.save(
        update_fields=["score_override", "score_override_reason", "score_override_by", "priority", "tier", "updated_at"]
    )
    ScoreHistory.objects.create(
        lead=lead,
        model_version=lead.model_version,
        score=lead.score_override,
        probability=None,
        tier=lead.tier,
        scored_at=timezone.now(),
        overridden_by=by,
        override_reason=lead.score_override_reason,
    )
    return lead


@transaction.atomic
def score_override_clear(*, lead: Lead, by: User) -> Lead:
    """Return a lead to the model's score."""
    if not by.is_manager:
        raise PermissionDenied("Only managers can override scores.")
    lead = Lead.objects.select_for_update().get(pk=lead.pk)
    if lead.score_override is None:
        return lead
    lead.score_override = None
    lead.score_override_reason = ""
    lead.score_override_by = None
    lead.priority = lead.score if lead.score is not None else Lead.UNSCORED_PRIORITY
    if lead.probability is not None:
        lead.tier = scorer.tier_for(lead.probability, tier_cutoffs(lead.model_version))
    else:
        lead.tier = Lead.Tier.UNSCORED
    lead.save(
        update_fields=["score_override", "score_override_reason", "score_override_by", "priority", "tier", "updated_at"]
    )
    if lead.score is not None:
        ScoreHistory.objects.create(
            lead=lead,
            model_version=lead.model_version,
            score=lead.score,
            probability=lead.probability,
            tier=lead.tier,
            scored_at=timezone.now(),
            overridden_by=by,
            override_reason="returned to automatic",
        )
    return lead


# --- retraining ---------------------------------------------------------------------------


def retrain_request(*, by: User | None, trigger: str = "manual", folds: int = 5) -> TrainingRun:
    """Queue a retrain after commit; the page polls the returned run for progress."""
    if by is not None and not by.is_crm_admin:
        raise PermissionDenied("Only admins can retrain.")
    run = TrainingRun.objects.create(created_by=by, trigger=trigger, stage="queued")
    from scoring.tasks import retrain_model

    def broker_down(exc: Exception) -> None:
        TrainingRun.objects.filter(pk=run.pk, status=TrainingRun.Status.QUEUED).update(message=BROKER_UNAVAILABLE)

    transaction.on_commit(
        lambda: task_dispatch(retrain_model, kwargs={"run_id": run.pk, "folds": folds}, on_failure=broker_down)
    )
    if not connection.in_atomic_block:  # dispatched already: show what happened
        run.refresh_from_db()
    return run


def redispatch_queued() -> dict:
    """For the beat schedule (and a starting worker): send again the work recorded while the
    broker was down, and continue rescore runs whose worker died. Safe to run twice: a training
    run is claimed once (retrain_run), a rescore run moves by compare-and-set (_chunk_commit)."""
    from scoring.tasks import rescore_leads, retrain_model

    runs = list(TrainingRun.objects.filter(status=TrainingRun.Status.QUEUED, message=BROKER_UNAVAILABLE))
    for run in runs:
        if task_dispatch(retrain_model, kwargs={"run_id": run.pk}):
            TrainingRun.objects.filter(pk=run.pk, message=BROKER_UNAVAILABLE).update(message="")
    rescores = list(RescoreRun.objects.filter(status=RescoreRun.Status.RUNNING).values_list("pk", flat=True))
    for pk in rescores:
        task_dispatch(rescore_leads, kwargs={"run_id": pk})
    return {"training_runs": [run.pk for run in runs], "rescore_runs": rescores}


def _lock_ttl() -> int:
    return int(settings.CELERY_TASK_TIME_LIMIT) + 300


def retrain_run(*, run_id: int | None = None, folds: int = 5, trigger: str = "schedule") -> TrainingRun:
    """Single-flight retrain: only the holder of the lock trains; it checks it still holds the
    lock before activating (a run that outlived its lock's TTL must not activate)."""
    run = TrainingRun.objects.filter(pk=run_id).first() if run_id else None
    if run is None:
        run = TrainingRun.objects.create(trigger=trigger)
    # Claim the run first: a second delivery (or a re-dispatch) of a run already taken stops here.
    # A `running` run is taken again only when no retrain holds the lock (its worker died).
    now = timezone.now()
    claimed = TrainingRun.objects.filter(pk=run.pk, status=TrainingRun.Status.QUEUED).update(
        status=TrainingRun.Status.RUNNING, started_at=now, message=""
    )
    retaken = not claimed and cache.get(RETRAIN_LOCK_KEY) is None
    if retaken:
        retaken = bool(TrainingRun.objects.filter(pk=run.pk, status=TrainingRun.Status.RUNNING).update(started_at=now))
    if not (claimed or retaken):
        run.refresh_from_db()
        return run
    token = uuid.uuid4().hex
    if not cache.add(RETRAIN_LOCK_KEY, token, timeout=_lock_ttl()):
        if retaken:  # a retrain holds the lock now: leave this run as it is
            run.refresh_from_db()
            return run
        TrainingRun.objects.filter(pk=run.pk).update(
            status=TrainingRun.Status.SKIPPED,
            finished_at=timezone.now(),
            progress=100,
            message="Another retrain is running; this request was folded into it.",
        )
        run.refresh_from_db()
        return run

    def progress(pct: int, stage: str) -> None:
        TrainingRun.objects.filter(pk=run.pk).update(progress=max(0, min(100, pct)), stage=stage[:200])

    try:
        version = model_train(
            folds=folds, by=run.created_by, progress=progress, may_activate=lambda: cache.get(RETRAIN_LOCK_KEY) == token
        )
    except TrainingRefused as exc:
        _run_finish(run, TrainingRun.Status.REFUSED, str(exc))
    except training.TrainingError as exc:
        _run_finish(run, TrainingRun.Status.FAILED, str(exc))
    except Exception as exc:
        _run_finish(run, TrainingRun.Status.FAILED, f"{type(exc).__name__}: {exc}")
        raise
    else:
        version.refresh_from_db()
        reason = version.metrics.get("challenger", {}).get("reason", "")
        message = f"Trained v{version.pk} ({version.params.get('candidate')}); {version.status}. {reason}"
        _run_finish(run, TrainingRun.Status.SUCCEEDED, message, version=version)
    finally:
        if cache.get(RETRAIN_LOCK_KEY) == token:
            cache.delete(RETRAIN_LOCK_KEY)
        cache.delete(BANNER_KEY)
    run.refresh_from_db()
    return run


def _run_finish(run: TrainingRun, status: str, message: str, version: ModelVersion | None = None) -> None:
    TrainingRun.objects.filter(pk=run.pk).update(
        status=status, message=message, finished_at=timezone.now(), progress=100, model_version=version
    )
