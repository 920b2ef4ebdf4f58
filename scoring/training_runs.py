"""Training runs: train a model on every outcome, store it as a candidate version and activate it
when it passes the gates and is not worse than the champion; the single-flight retrain (lock +
claimed TrainingRun) around it.

May import leads.models, leads.notifications (admins hear of activations and refusals) and
scoring's models, selectors, features, training, gates, challenger, registry, scorer and activation;
only the tasks and management commands import this module.
"""

import uuid
from collections.abc import Callable, Iterator

import numpy as np
from django.conf import settings
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from leads.models import Lead, Notification, User
from leads.notifications import admins_active, notify
from scoring import features as F
from scoring import gates, registry, scorer, training
from scoring.activation import model_activate
from scoring.challenger import Comparison, challenger_decision
from scoring.models import ModelVersion, ScoringSettings, TrainingRun
from scoring.selectors import BANNER_KEY, outcome_leads_for, training_readiness

RETRAIN_LOCK_KEY = "scoring:retrain-lock"
# The champion is compared on holdout leads it never saw when there are at least this many (with
# both outcomes among them); else on the whole holdout, which favours the champion.
MIN_UNSEEN_COMPARISON = 30
MIN_UNSEEN_EACH_OUTCOME = 5


class TrainingRefused(Exception):
    """Not enough outcomes yet: the message says how many there are and how many are needed."""


def model_train(
    *,
    folds: int = 5,
    by: User | None = None,
    progress: Callable[[int, str], None] | None = None,
    may_activate: Callable[[], bool] | None = None,
) -> ModelVersion:
    """Train a model on every outcome, store it as a candidate and activate it when it passes the
    activation gates and, scored on the same unseen leads as the active model, is not worse than it
    by the set margins (or when there is no active model).

    Raises TrainingRefused at cold start and training.TrainingError when nothing usable remains.
    """
    options = ScoringSettings.current()
    readiness = training_readiness(options)
    if not readiness.ready:
        raise TrainingRefused(readiness.message)
    progress = progress or (lambda pct, stage: None)
    progress(1, "loading outcomes and building features")
    as_of = timezone.now()
    positive = options.conversion_status or Lead.Status.CONVERTED
    outcomes = outcome_leads_for(options)
    rows = list(outcomes.order_by("pk").values_list("pk", "status", "created_at", "import_job_id"))
    # Only the imports these leads came from say what their columns mean: never another data set's.
    data_set = F.data_set_settings_for({r[3] for r in rows})
    # Above SCORING_TRAINING_MAX_ROWS the features are built for a sample only: the frame, its
    # fold copies and the fits grow with the rows (6.2 GB at 1M closed leads), the quality does not.
    sample = training.training_sample(
        np.array([r[1] == positive for r in rows], dtype=int),
        np.array([r[2] for r in rows], dtype=object),
        max_rows=settings.SCORING_TRAINING_MAX_ROWS,
    )
    rows = [rows[i] for i in sample.index]
    lead_ids = np.array([r[0] for r in rows], dtype=np.int64)
    y = np.array([1 if r[1] == positive else 0 for r in rows])
    created = np.array([r[2] for r in rows], dtype=object)
    del rows
    labels = F.model_field_labels(data_set)
    fields = {label: field for field, label in labels.items()}
    attribute_types = F.infer_column_types(_attributes_of(lead_ids), data_set.column_types)
    types = F.frame_types(attribute_types, labels)
    dates = F.date_features(attribute_types)
    frame = F.lead_frame(lead_ids, as_of=as_of, types=types, fields=fields, dates=dates)
    excluded = {str(c): "excluded by setting SCORING_EXCLUDED_COLUMNS" for c in settings.SCORING_EXCLUDED_COLUMNS}
    for column in options.excluded_columns or []:
        excluded.setdefault(str(column), "excluded by an admin")
    for column, why in data_set.excluded.items():
        excluded.setdefault(column, why)
    for column, why in F.closed_only_columns(frame, attribute_types, _open_attributes()).items():
        excluded.setdefault(column, why)
    # An excluded date column takes its gap feature with it.
    excluded.update({gap: excluded[source] for gap, (source, _) in dates.items() if source in excluded})

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
        n_jobs=settings.SCORING_TRAINING_JOBS,
    )
    progress(92, "comparing with the active model")
    comparison = None if active is None else champion_comparison(active, result, lead_ids=lead_ids, y=y, as_of=as_of)
    progress(95, "saving the model")
    result.features["fields"] = fields
    result.features["dates"] = {gap: spec for gap, spec in dates.items() if gap in result.types}
    result.features["labels"] = data_set.labels
    result.features["units"] = data_set.units
    result.metrics["training_set"] = {
        "as_of": as_of.isoformat(),
        "n": len(lead_ids),
        "min_lead_id": int(lead_ids.min()),
        "max_lead_id": int(lead_ids.max()),
        "closed_leads": sample.of,
        "sample": sample.described,
    }
    failures = gates.gate_failures(result.metrics)
    result.metrics["gates"] = failures
    # The leads the shipped pipeline was fitted on: all of them, or all but the holdout.
    fitted = lead_ids if result.metrics["refit_on_all"] else np.delete(lead_ids, result.holdout_index)
    version = _version_save(result, by=by, lead_ids=fitted)
    decision = challenger_decision(result, comparison=comparison, options=options, gate_failures=failures)
    metrics = dict(version.metrics)
    metrics["challenger"] = decision
    version.metrics = metrics
    version.save(update_fields=["metrics"])
    if decision["activate"] and (may_activate is None or may_activate()):
        model_activate(version=version, by=by, note=decision["reason"])
        _admins_notify(version, Notification.Kind.MODEL_ACTIVATED, f"Model v{version.pk} is now active", decision)
    elif decision["activate"]:
        version.notes = "Not activated: this training no longer held the retrain lock."
        version.save(update_fields=["notes"])
    else:
        _admins_notify(version, Notification.Kind.MODEL_REFUSED, f"Model v{version.pk} was not activated", decision)
    progress(100, "done")
    return version


def _attributes_of(lead_ids: np.ndarray, chunk: int = 10_000) -> Iterator[dict]:
    """The given leads' attributes in id order, read a chunk of ids at a time: a sample's
    attributes never sit in memory all at once, and no statement carries more ids than SQLite takes."""
    for start in range(0, len(lead_ids), chunk):
        ids = lead_ids[start : start + chunk].tolist()
        yield from Lead.objects.filter(pk__in=ids).order_by("pk").values_list("attributes", flat=True)


OPEN_SAMPLE = 5000


def _open_attributes() -> Iterator[dict]:
    """The attributes of the newest open leads (at most OPEN_SAMPLE): what scoring will see."""
    open_leads = Lead.objects.exclude(status__in=Lead.CLOSED_STATUSES).order_by("-pk")
    yield from open_leads.values_list("attributes", flat=True)[:OPEN_SAMPLE].iterator()


def champion_comparison(
    active: ModelVersion, result: training.TrainResult, *, lead_ids: np.ndarray, y: np.ndarray, as_of
) -> Comparison:
    """Both models' probabilities for the challenger's holdout leads (which the challenger's
    measured pipeline was not fitted on), narrowed to the leads the champion never saw — those
    closed since it was trained — when there are enough of them."""
    hold_ids, y_hold, p_hold = lead_ids[result.holdout_index], y[result.holdout_index], result.holdout_p
    data = f"the challenger's {len(hold_ids)} holdout leads (the champion may have been trained on some)"
    try:
        loaded = registry.model_load(active)
    except registry.ArtifactError as exc:
        return Comparison(y_hold, p_hold, None, data, problem=str(exc))
    seen = loaded.extras.get("lead_ids")
    if seen is not None:
        unseen = ~np.isin(hold_ids, np.asarray(seen))
        converted = int(y_hold[unseen].sum())
        if (
            unseen.sum() >= MIN_UNSEEN_COMPARISON
            and min(converted, unseen.sum() - converted) >= MIN_UNSEEN_EACH_OUTCOME
        ):
            hold_ids, y_hold, p_hold = hold_ids[unseen], y_hold[unseen], p_hold[unseen]
            data = f"{len(hold_ids)} holdout leads neither model was fitted on (closed since v{active.pk} was trained)"
    try:
        frame = F.lead_frame(
            hold_ids, as_of=as_of, types=loaded.types, fields=loaded.extras["fields"], dates=loaded.extras.get("dates")
        )
        p_champion, _ = scorer.score_frame(loaded, frame, with_reasons=False)
    except (KeyError, ValueError) as exc:
        return Comparison(y_hold, p_hold, None, data, problem=f"{type(exc).__name__}: {exc}")
    by_lead = dict(zip(frame.index.tolist(), np.asarray(p_champion, dtype=float), strict=True))
    return Comparison(y_hold, p_hold, np.array([by_lead[int(i)] for i in hold_ids]), data)


def _admins_notify(version: ModelVersion, kind: str, title: str, decision: dict) -> None:
    notify(
        users=admins_active(),
        kind=kind,
        title=title,
        body=str(decision.get("reason", "")),
        url=reverse("scoring:detail", args=[version.pk]),
        dedupe_key=f"model:{version.pk}:{kind}",
    )


def _version_save(result: training.TrainResult, *, by: User | None, lead_ids: np.ndarray) -> ModelVersion:
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
            "dates": result.features.get("dates", {}),
            "labels": result.features.get("labels", {}),
            "units": result.features.get("units", {}),
            # Which leads it learnt from, so a later challenger is compared on leads it never saw.
            "lead_ids": lead_ids,
        },
        name=f"model-{version.pk}-{uuid.uuid4().hex[:8]}",
    )
    version.artifact_path = saved.path
    version.artifact_sha256 = saved.sha256
    version.sklearn_version = saved.sklearn_version
    version.format_version = saved.format_version
    version.save(update_fields=["artifact_path", "artifact_sha256", "sklearn_version", "format_version"])
    return version


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
        status=TrainingRun.Status.RUNNING, started_at=now, message="", broker_pending=False
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
