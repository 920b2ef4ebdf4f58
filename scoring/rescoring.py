"""Rescoring: requests to rescore leads (a lead changed, an import committed, every lead after an
activation) and the pipeline that scores them with the model in use, chunk by chunk.

A full rescore (a RescoreRun) is cut into id-range partitions (RescorePartition), each sent as its
own task on the `scoring` queue, so any number of workers on any number of hosts share it; the run
is done when its last partition is. Recovery from a dead worker is a claim with a lease plus the
beat's sweep, not only the broker's acks_late: with Redis, a message whose worker was SIGKILLed (a
solo pool, a lost host: no parent is left to reject it) comes back only after the visibility
timeout, over an hour; a lapsed lease lets the next dispatch take the partition within a minute.

The CRM reaches this module through two entry points: lead_rescore_request() whenever a lead
changes, import_completed() after an import commits. May import leads.models, leadcrm.dispatch,
scoring's selectors, score_store, features, scorer, registry and retraining (requests only); the
activation and training modules import this one, never the other way round.
"""

import gc
import logging
import os
import socket
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime, timedelta

import numpy as np
from celery import current_app
from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import DateTimeField, DurationField, ExpressionWrapper, Q, Value
from django.db.models import F as DbF
from django.db.models.functions import Now
from django.utils import timezone

from leadcrm.dispatch import task_dispatch
from leads.models import Lead
from scoring import features as F
from scoring import registry, scorer
from scoring.models import ModelVersion, RescorePartition, RescoreRun
from scoring.retraining import RESCORE_PARTITION_TASK, RESCORE_TASK, retrain_request
from scoring.score_store import Scored, scores_write, tiers_apply
from scoring.selectors import (
    BANNER_KEY,
    active_model_version,
    cold_start_probability,
    model_in_use,
    tier_cutoffs,
    training_readiness,
)

log = logging.getLogger(__name__)

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
    if RescoreRun.objects.filter(status=RescoreRun.Status.RUNNING, only_stale=True, partitions_total=0).exists():
        return  # one not yet cut into partitions will see these leads too
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


@contextmanager
def _without_cyclic_gc():
    """Scoring a chunk allocates millions of small objects (row tuples, reason texts) and makes no
    reference cycles, so Python's cyclic collector only re-scans them: with it paused, building
    the reasons took half the CPU time (bench/rescore_stages.py --gc-off). Freed by reference
    counting as usual; a collection runs again once the chunk is scored."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def leads_score(lead_ids: Sequence[int], *, as_of: datetime, version, loaded, cutoffs: dict) -> list[Scored]:
    """Score stored leads (no writes)."""
    with _without_cyclic_gc():
        return _leads_score(lead_ids, as_of=as_of, loaded=loaded, cutoffs=cutoffs)


def _leads_score(lead_ids: Sequence[int], *, as_of: datetime, loaded, cutoffs: dict) -> list[Scored]:
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
    reasons = scorer.reasons_json_for_frame(loaded, frame, impacts)
    return scored_rows(frame.index, probabilities, reasons, cutoffs)


def scored_rows(lead_ids, probabilities, reasons: list, cutoffs: dict) -> list[Scored]:
    """Each lead's score (0-100) and tier from its probability, as Scored rows (scorer's
    score_from_probability and tier_for, applied to the whole chunk at once)."""
    scores = scorer.scores_from_probabilities(probabilities)
    tiers = scorer.tiers_for(scores, cutoffs)
    return [
        Scored(lead_id, p, score, tier, r)
        for lead_id, p, score, tier, r in zip(
            np.asarray(lead_ids).tolist(), np.asarray(probabilities, dtype=float).tolist(), scores.tolist(),
            tiers.tolist(), reasons, strict=True,
        )
    ]  # fmt: skip


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
        changed += scores_write(rows, version_id=version.pk if loaded else None, scored_at=as_of, stamp_unchanged=True)
    return changed


def _tiers_follow(cutoffs: dict) -> None:
    """When the cut-offs moved since the stored tiers were given (capacity mode, a setting),
    re-tier every scored lead first, so one score shows one tier everywhere."""
    if cache.get(APPLIED_CUTOFFS_KEY) != cutoffs:
        tiers_apply(cutoffs)
        cache.set(APPLIED_CUTOFFS_KEY, cutoffs, None)


def rescore_all_request(*, only_stale: bool = False) -> RescoreRun:
    """Start a rescore of every lead (or only stale ones) with the model in use, in the background:
    the run's task cuts it into partitions and sends one task per partition (rescore_run_dispatch)."""
    run = rescore_run_start(only_stale=only_stale)
    # On a broker failure the run stays `running`, not yet cut; redispatch_queued() sends it.
    transaction.on_commit(lambda: task_dispatch(RESCORE_TASK, kwargs={"run_id": run.pk}))
    return run


def rescore_run_start(*, only_stale: bool = False) -> RescoreRun:
    """Record a new run with the model in use (fixed for the whole run); supersedes running ones."""
    version, loaded = _model_in_use()
    with transaction.atomic():
        RescoreRun.objects.filter(status=RescoreRun.Status.RUNNING).update(
            status=RescoreRun.Status.SUPERSEDED, message="A newer rescore run took over."
        )
        return RescoreRun.objects.create(
            model_version=version if loaded else None,
            active_at_start=active_model_version(),
            as_of=timezone.now(),
            only_stale=only_stale,
        )


def partition_bounds(size: int) -> list[tuple[int, int | None]]:
    """Cut the lead ids into ranges of `size` leads, (after_id, through_id] in id order; the last
    range has no upper bound (None), so leads created while a run goes are scored by it too.
    Every lead falls in exactly one range, and gaps in the ids do not make ranges uneven: each
    bound is the size-th next id, read from the primary key index (one query per range)."""
    ids = Lead.objects.order_by("pk").values_list("pk", flat=True)
    if not ids.exists():
        return []
    bounds: list[tuple[int, int | None]] = []
    after = 0
    while True:
        through_and_next = list(ids.filter(pk__gt=after)[size - 1 : size + 1])
        if len(through_and_next) < 2:  # no lead after this range: it is the last, open-ended
            bounds.append((after, None))
            return bounds
        bounds.append((after, through_and_next[0]))
        after = through_and_next[0]


def rescore_run_plan(run: RescoreRun) -> list[RescorePartition]:
    """Cut a running run into partitions (once: a second call cuts nothing) and fix its tier
    cut-offs; return its unfinished partitions. A run over no leads is done at once."""
    with transaction.atomic():
        locked = RescoreRun.objects.select_for_update().filter(pk=run.pk, status=RescoreRun.Status.RUNNING).first()
        if locked is None:
            return []
        if locked.partitions_total == 0:
            version = locked.model_version
            cutoffs = tier_cutoffs(version)
            if locked.only_stale:
                _tiers_follow(cutoffs)
            else:
                # This run gives every lead its tier; an overridden lead keeps its own through a
                # rescore, so it gets the run's cut-offs here.
                tiers_apply(cutoffs, only_overridden=True)
                cache.set(APPLIED_CUTOFFS_KEY, cutoffs, None)
            bounds = partition_bounds(settings.SCORING_RESCORE_PARTITION_SIZE)
            RescorePartition.objects.bulk_create(
                RescorePartition(run=locked, after_id=after, through_id=through, last_lead_id=after)
                for after, through in bounds
            )
            locked.tier_cutoffs = cutoffs
            locked.partitions_total = len(bounds)
            fields = ["tier_cutoffs", "partitions_total"]
            if not bounds:
                locked.status, locked.finished_at = RescoreRun.Status.DONE, timezone.now()
                fields += ["status", "finished_at"]
            locked.save(update_fields=fields)
        return list(locked.partitions.filter(status=RescorePartition.Status.PENDING).order_by("after_id"))


def rescore_run_dispatch(run: RescoreRun) -> int:
    """Cut the run (when not yet cut) and send a task for each unfinished partition; returns how
    many were sent. Sent again by redispatch_queued() (a starting worker, the beat), so a duplicate
    task must be cheap: it fails to claim the partition and returns. A partition someone holds is
    sent to arrive when its claim lapses: when its worker died, the task then takes it over."""
    now = timezone.now()
    sent = 0
    for partition in rescore_run_plan(run):
        countdown = None
        if partition.claimed_until is not None and partition.claimed_until > now:
            countdown = (partition.claimed_until - now).total_seconds() + 1
        if not task_dispatch(RESCORE_PARTITION_TASK, kwargs={"partition_id": partition.pk}, countdown=countdown):
            break  # the broker is down: the run stays running, and redispatch_queued() sends it again
        sent += 1
    return sent


def rescore_run_continue(run: RescoreRun, *, max_chunks: int | None = None) -> RescoreRun:
    """Score a run's unfinished partitions in this process (the command, the bootstrap, tests and
    benches): cut it first if needed. Partitions another worker holds are left to it."""
    left = max_chunks
    for partition in rescore_run_plan(run):
        left_before = left
        done = rescore_partition_run(partition, max_chunks=left)
        if left_before is not None:
            left = left_before - done
            if left <= 0:
                break
    run.refresh_from_db()
    return run


def _stale_filter(version_id: int | None) -> Q:
    """Leads (a Lead queryset) whose stored score is stale: never scored, scored by another
    version, or changed or active since. The score is in the lead's rank row: one join."""
    return (
        Q(rank__scored_at__isnull=True)
        | ~Q(rank__model_version_id=version_id)
        | Q(updated_at__gt=DbF("rank__scored_at"))
        | Q(last_activity_at__gt=DbF("rank__scored_at"))
    )


def _pks(queryset) -> list[int]:
    """The primary keys of a queryset's rows, in its order, by one fetchall: iterating
    values_list(flat=True) fetched 100 rows per call and built each value through the ORM, a few
    seconds of a million-lead rescore."""
    sql, params = queryset.values_list("pk").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [pk for (pk,) in cursor.fetchall()]


def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _lease_until() -> ExpressionWrapper:
    """The end of a claim taken or renewed now, by the database's clock: workers on several
    hosts then compare claims on one clock, whatever their own clocks say."""
    lease = Value(timedelta(seconds=settings.SCORING_RESCORE_LEASE_SECONDS), output_field=DurationField())
    return ExpressionWrapper(Now() + lease, output_field=DateTimeField())


def _partition_claim(partition: RescorePartition, worker: str) -> bool:
    """Claim a pending partition of a running run that nobody holds (or whose claim lapsed)."""
    claimed = (
        RescorePartition.objects.filter(
            pk=partition.pk, status=RescorePartition.Status.PENDING, run__status=RescoreRun.Status.RUNNING
        )
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=Now()))
        .update(claimed_by=worker, claimed_until=_lease_until(), attempts=DbF("attempts") + 1)
    )
    return bool(claimed)


def _partition_release(partition_id: int, worker: str) -> None:
    """Give up a claim early (this process stops before the partition is done), so the next
    worker need not wait for the lease to lapse."""
    RescorePartition.objects.filter(pk=partition_id, status=RescorePartition.Status.PENDING, claimed_by=worker).update(
        claimed_until=None
    )


@transaction.atomic
def _partition_stop(partition: RescorePartition, *, message: str) -> bool:
    """Stop a partition, and with it its run (superseded), saying why. True when this call
    stopped the run (it was still running)."""
    RescorePartition.objects.filter(pk=partition.pk, status=RescorePartition.Status.PENDING).update(
        status=RescorePartition.Status.STOPPED, message=message[:255], claimed_until=None
    )
    return bool(
        RescoreRun.objects.filter(pk=partition.run_id, status=RescoreRun.Status.RUNNING).update(
            status=RescoreRun.Status.SUPERSEDED, message=message[:255]
        )
    )


def _chunk_commit(
    partition_id: int,
    run_id: int,
    after_id: int,
    rows: list[Scored],
    last_id: int,
    version_id,
    as_of,
    only_stale: bool,
    previous: Future | None = None,
) -> bool:
    """Write one chunk, move the partition past it (renewing its claim) and count it on the run,
    in one transaction. False (nothing written) when the run was superseded or someone else moved
    the partition. Rows are locked partition first, run last (as everywhere): the run's row, which
    every partition's chunks update, stays locked only for the end of the transaction.

    `previous`: the write of the chunk before, still in flight on another connection. This chunk's
    scores are written meanwhile (other leads, so no lock is shared), but the partition moves
    only after that write committed, and not at all when it failed: chunks land in order."""
    with transaction.atomic():
        if not RescoreRun.objects.filter(pk=run_id, status=RescoreRun.Status.RUNNING).exists():
            return False
        changed = scores_write(rows, version_id=version_id, scored_at=as_of, stamp_unchanged=only_stale)
        if previous is not None and not previous.result():
            transaction.set_rollback(True)
            return False
        moved = RescorePartition.objects.filter(
            pk=partition_id, status=RescorePartition.Status.PENDING, last_lead_id=after_id
        ).update(
            last_lead_id=last_id,
            scored=DbF("scored") + len(rows),
            changed=DbF("changed") + changed,
            claimed_until=_lease_until(),
        )
        if moved:
            moved = RescoreRun.objects.filter(pk=run_id, status=RescoreRun.Status.RUNNING).update(
                scored=DbF("scored") + len(rows), changed=DbF("changed") + changed
            )
        if not moved:  # superseded, or someone else advanced this partition: undo our chunk and stop
            transaction.set_rollback(True)
            return False
    return True


def _chunk_commit_in_thread(*args) -> bool:
    try:
        return _chunk_commit(*args)
    finally:
        connection.close()  # the writer thread's own connection


@transaction.atomic
def _partition_finish(partition_id: int, run_id: int, position: int) -> None:
    """The partition has no lead left: mark it done and count it; the last partition done
    finishes the run. (Two partitions finishing at once queue on the run's row lock, and the
    second sees the first's count.)"""
    now = timezone.now()
    finished = RescorePartition.objects.filter(
        pk=partition_id, status=RescorePartition.Status.PENDING, last_lead_id=position
    ).update(status=RescorePartition.Status.DONE, finished_at=now, claimed_until=None)
    if not finished:
        return
    running = RescoreRun.objects.filter(pk=run_id, status=RescoreRun.Status.RUNNING)
    running.update(partitions_done=DbF("partitions_done") + 1)
    running.filter(partitions_done__gte=DbF("partitions_total")).update(status=RescoreRun.Status.DONE, finished_at=now)


def _version_changed_message(run: RescoreRun) -> str | None:
    """Why a partition of `run` must stop scoring now, or None: another version became active
    after the run started (its own run rescores every lead; this one must not mix versions in)."""
    active = active_model_version()
    active_id = active.pk if active else None
    if active_id == run.active_at_start_id:
        return None
    before = f"v{run.active_at_start_id}" if run.active_at_start_id else "no model"
    now = f"v{active_id}" if active_id else "no model"
    return f"Stopped: the active model changed from {before} to {now} after this run started."


def rescore_partition_run(partition: RescorePartition, *, max_chunks: int | None = None) -> int:
    """Claim one partition and score its leads chunk by chunk in id order with the run's model
    version and tier cut-offs; returns how many chunks this call committed. Each chunk and the
    partition's position are committed together, so a killed worker leaves whole scores and the
    next claim resumes where it stopped. Returns 0 at once when the partition is done, its run
    superseded, or another worker holds it.

    When the active model changes, or the run's version no longer loads, the partition stops
    and says so (on the partition and the run) instead of scoring with another version.

    On PostgreSQL, outside a transaction, chunks are written by SCORING_RESCORE_WRITERS threads
    (each its own connection) while the next chunk is computed: the database's index maintenance
    and Python's scoring overlap instead of taking turns, and when every lead changes (the write
    then costs the database about three times the scoring) two writes share the cores.
    """
    worker = _worker_name()
    if not _partition_claim(partition, worker):
        return 0
    partition.refresh_from_db()
    run = RescoreRun.objects.select_related("model_version").get(pk=partition.run_id)
    version = run.model_version
    loaded = None
    if version is not None:
        try:
            loaded = registry.model_load(version)
        except registry.ArtifactError as exc:
            model_load_failure_record(version, exc)
            if _partition_stop(partition, message=f"Stopped: model v{version.pk} no longer loads ({exc})"):
                rescore_all_request(only_stale=run.only_stale)  # a new run, with the model that loads
            return 0
    version_id = version.pk if loaded else None
    cutoffs = run.tier_cutoffs or tier_cutoffs(version if loaded else None)
    chunk = settings.SCORING_RESCORE_CHUNK
    pipelined = connection.vendor == "postgresql" and not connection.in_atomic_block
    writers = settings.SCORING_RESCORE_WRITERS if pipelined else 0
    pool = ThreadPoolExecutor(max_workers=writers, thread_name_prefix="rescore-writer") if writers else None
    pending: deque[Future] = deque()  # chunk writes in flight, oldest first

    def writes_ok(in_flight: int) -> bool:
        """Wait until at most `in_flight` writes are pending; False when one of them failed."""
        while len(pending) > in_flight:
            if not pending.popleft().result():
                return False
        return True

    done_chunks = 0
    position = partition.last_lead_id
    finished = False
    try:
        while True:
            stop = _version_changed_message(run)
            if stop is not None:
                writes_ok(0)
                _partition_stop(partition, message=stop)
                finished = True
                break
            queryset = Lead.objects.filter(pk__gt=position)
            if partition.through_id is not None:
                queryset = queryset.filter(pk__lte=partition.through_id)
            if run.only_stale:
                queryset = queryset.filter(_stale_filter(version_id))
            ids = _pks(queryset.order_by("pk")[:chunk])
            rows = leads_score(ids, as_of=run.as_of, version=version, loaded=loaded, cutoffs=cutoffs) if ids else []
            if not writes_ok(max(writers - 1, 0) if ids else 0):
                finished = True  # lost the partition or the run: someone else goes on
                break
            if not ids:
                _partition_finish(partition.pk, run.pk, position)
                finished = True
                break
            args = (partition.pk, run.pk, position, rows, ids[-1], version_id, run.as_of, run.only_stale)
            if pool is not None:
                pending.append(pool.submit(_chunk_commit_in_thread, *args, pending[-1] if pending else None))
            elif not _chunk_commit(*args):
                finished = True
                break
            position = ids[-1]
            done_chunks += 1
            if max_chunks is not None and done_chunks >= max_chunks:
                break
        if not writes_ok(0):
            finished = True
    finally:
        if pool is not None:
            pool.shutdown(wait=True)
        if not finished:
            try:
                _partition_release(partition.pk, worker)
            except Exception:  # the database may be why we stop: the claim then lapses by itself
                log.warning("could not release rescore partition %s", partition.pk)
    return done_chunks
