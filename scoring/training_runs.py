"""Training runs: train a model on every outcome, store it as a candidate version and activate it
when it beats the champion; the single-flight retrain (lock + claimed TrainingRun) around it.

May import leads.models, leads.notifications (admins hear of activations and refusals) and
scoring's models, selectors, features, training, challenger, registry and activation; only the
tasks and management commands import this module.
"""

import uuid
from collections.abc import Callable

import numpy as np
from django.conf import settings
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from leads.models import Lead, Notification, User
from leads.notifications import admins_active, notify
from scoring import features as F
from scoring import registry, training
from scoring.activation import model_activate
from scoring.challenger import challenger_decision
from scoring.models import ModelVersion, ScoringSettings, TrainingRun
from scoring.selectors import BANNER_KEY, outcome_leads_for, training_readiness

RETRAIN_LOCK_KEY = "scoring:retrain-lock"


class TrainingRefused(Exception):
    """Not enough outcomes yet: the message says how many there are and how many are needed."""


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
    rows = list(outcome_leads_for(options).order_by("pk").values_list("pk", "status", "created_at", "attributes"))
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
        _admins_notify(version, Notification.Kind.MODEL_ACTIVATED, f"Model v{version.pk} is now active", decision)
    elif decision["activate"]:
        version.notes = "Not activated: this training no longer held the retrain lock."
        version.save(update_fields=["notes"])
    else:
        _admins_notify(version, Notification.Kind.MODEL_REFUSED, f"Model v{version.pk} was not activated", decision)
    progress(100, "done")
    return version


def _admins_notify(version: ModelVersion, kind: str, title: str, decision: dict) -> None:
    notify(
        users=admins_active(),
        kind=kind,
        title=title,
        body=str(decision.get("reason", "")),
        url=reverse("scoring:detail", args=[version.pk]),
        dedupe_key=f"model:{version.pk}:{kind}",
    )


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
