"""Rescoring: requests to rescore leads (a lead changed, an import committed, every lead after an
activation) and the pipeline that scores them with the model in use, chunk by chunk.

The CRM reaches this module through two entry points: lead_rescore_request() whenever a lead
changes, import_completed() after an import commits. May import leads.models, leadcrm.dispatch,
scoring's selectors, score_store, features, scorer, registry and retraining (requests only); the
activation and training modules import this one, never the other way round.
"""

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from celery import current_app
from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import F as DbF
from django.db.models import Q
from django.utils import timezone

from leadcrm.dispatch import task_dispatch
from leads.models import Lead
from scoring import features as F
from scoring import registry, scorer
from scoring.models import ModelVersion, RescoreRun
from scoring.retraining import RESCORE_TASK, retrain_request
from scoring.score_store import Scored, scores_write, tiers_apply
from scoring.selectors import BANNER_KEY, cold_start_probability, model_in_use, tier_cutoffs, training_readiness

PENDING_KEY = "scoring:rescore-pending:{}"
# The tier cut-offs every stored tier follows (see _tiers_follow).
APPLIED_CUTOFFS_KEY = "scoring:applied-tier-cutoffs"
# Requests for more leads than this skip the per-lead debounce (see lead_rescore_request).
DEBOUNCE_MAX_IDS = 1000


# --- requests -----------------------------------------------------------------------------


def lead_rescore_request(lead_ids: list[int]) -> None:
    """Ask for the given leads to be rescored shortly after the current transaction commits.

    Debounced: a lead already waiting for a rescore is not queued again (a cache key per lead,
    cleared when the task starts). In eager mode the rescore runs at once after commit.
    """
    ids = sorted({int(i) for i in lead_ids if i is not None})
    if not ids:
        return

    def dispatch() -> None:
        chunk = settings.SCORING_RESCORE_CHUNK
        if current_app.conf.task_always_eager:
            rescore_leads = current_app.tasks[RESCORE_TASK]
            for i in range(0, len(ids), chunk):
                rescore_leads.delay(lead_ids=ids[i : i + chunk])  # eager: runs here, no broker
            return
        countdown = None
        fresh = ids
        if len(ids) <= DEBOUNCE_MAX_IDS:
            # (A bulk change, such as an import, skips the debounce: one cache round trip per
            # lead would cost more than the rescore itself.)
            timeout = settings.SCORING_RESCORE_DEBOUNCE_SECONDS + 60
            fresh = [i for i in ids if cache.add(PENDING_KEY.format(i), 1, timeout=timeout)]
            if not fresh and getattr(cache, "degraded", False):
                fresh = ids  # the cache is down: nothing can be known to be pending
            countdown = settings.SCORING_RESCORE_DEBOUNCE_SECONDS
        for i in range(0, len(fresh), chunk):
            part = fresh[i : i + chunk]
            if not task_dispatch(
                RESCORE_TASK, kwargs={"lead_ids": part}, countdown=countdown, on_failure=_rescore_stale_record
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
    cache.delete(BANNER_KEY)
    if new_outcomes >= settings.SCORING_RETRAIN_AFTER_OUTCOMES and training_readiness().ready:
        retrain_request(by=None, trigger="import")


# --- the model in use ---------------------------------------------------------------------


def model_load_failure_record(version: ModelVersion, error: Exception) -> None:
    """The active version's artifact does not load: keep the error on the version for admins."""
    if version.load_error != str(error):
        ModelVersion.objects.filter(pk=version.pk).update(load_error=str(error)[:2000])


def _model_in_use():
    return model_in_use(on_load_failure=model_load_failure_record)


# --- scoring and the rescore pipeline -----------------------------------------------------


def leads_score(lead_ids: Sequence[int], *, as_of: datetime, version, loaded, cutoffs: dict) -> list[Scored]:
    """Score stored leads (no writes)."""
    ids = list(lead_ids)
    if loaded is None:
        p = cold_start_probability()
        score = scorer.score_from_probability(p)
        return [Scored(i, p, score, scorer.tier_for(score, cutoffs), []) for i in ids]
    frame = F.lead_frame(
        ids, as_of=as_of, types=loaded.types, fields=loaded.extras["fields"], dates=loaded.extras.get("dates")
    )
    if frame.empty:
        return []
    probabilities, impacts = scorer.score_frame(loaded, frame)
    reasons = scorer.reasons_for_frame(loaded, frame, impacts)
    scores = [scorer.score_from_probability(p) for p in probabilities]
    return [
        Scored(int(lead_id), float(p), score, scorer.tier_for(score, cutoffs), r)
        for lead_id, p, score, r in zip(frame.index, probabilities, scores, reasons, strict=True)
    ]


def leads_rescore(*, lead_ids: Sequence[int]) -> int:
    """Rescore some leads now with the model in use. Returns how many changed."""
    cache.delete_many([PENDING_KEY.format(i) for i in lead_ids])
    version, loaded = _model_in_use()
    cutoffs = tier_cutoffs(version)
    _tiers_follow(cutoffs)
    as_of = timezone.now()
    changed = 0
    chunk = settings.SCORING_RESCORE_CHUNK
    ids = sorted({int(i) for i in lead_ids})
    for i in range(0, len(ids), chunk):
        rows = leads_score(ids[i : i + chunk], as_of=as_of, version=version, loaded=loaded, cutoffs=cutoffs)
        changed += scores_write(rows, version_id=version.pk if loaded else None, scored_at=as_of)
    return changed


def _tiers_follow(cutoffs: dict) -> None:
    """When the cut-offs moved since the stored tiers were given (capacity mode, a setting),
    re-tier every scored lead first, so one score shows one tier everywhere."""
    if cache.get(APPLIED_CUTOFFS_KEY) != cutoffs:
        tiers_apply(cutoffs)
        cache.set(APPLIED_CUTOFFS_KEY, cutoffs, None)


def rescore_all_request(*, only_stale: bool = False) -> RescoreRun:
    """Start a rescore of every lead (or only stale ones) with the model in use, in the background."""
    run = rescore_run_start(only_stale=only_stale)
    # On a broker failure the run stays `running` at position 0; redispatch_queued() sends it.
    transaction.on_commit(lambda: task_dispatch(RESCORE_TASK, kwargs={"run_id": run.pk}))
    return run


def rescore_run_start(*, only_stale: bool = False) -> RescoreRun:
    version, loaded = _model_in_use()
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
            version, loaded = _model_in_use()
    version_id = version.pk if loaded else None
    cutoffs = tier_cutoffs(version if loaded else None)
    if not run.only_stale and run.last_lead_id == 0:
        cache.set(APPLIED_CUTOFFS_KEY, cutoffs, None)  # this run gives every lead its tier
    else:
        _tiers_follow(cutoffs)
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
