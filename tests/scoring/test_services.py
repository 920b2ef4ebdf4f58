import threading

import pytest
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.db.models import F as DbF

from leads.models import Lead
from leads.services import activity_log
from scoring import registry, services
from scoring.models import ActivationEvent, ModelVersion, RescoreRun, ScoreHistory, ScoringSettings, TrainingRun
from tests.factories import LeadFactory
from tests.scoring.conftest import outcome_leads_create


@pytest.fixture(autouse=True)
def _fresh_model_cache():
    registry.cache_clear()
    yield
    registry.cache_clear()


def _rescore_all():
    return services.rescore_run_continue(services.rescore_run_start())


@pytest.mark.django_db
def test_cold_start_refuses_training_and_scores_the_base_rate(settings):
    outcome_leads_create(30)
    settings.SCORING_MIN_CONVERTED = 50
    settings.SCORING_MIN_LOST = 50

    with pytest.raises(services.TrainingRefused, match=r"model not trained yet: \d+ of 100 outcomes"):
        services.model_train(folds=3)
    run = _rescore_all()

    readiness = services.training_readiness()
    base = readiness.converted / (readiness.converted + readiness.lost)
    lead = Lead.objects.filter(status=Lead.Status.NEW).first()
    assert run.model_version is None
    assert lead.probability == pytest.approx(base)
    assert lead.score == round(100 * base) == lead.priority
    assert lead.model_version_id is None


@pytest.mark.django_db
def test_admin_rule_score_replaces_the_base_rate_at_cold_start():
    outcome_leads_create(10)
    ScoringSettings.objects.update_or_create(pk=1, defaults={"rule_score": 42})

    _rescore_all()

    assert set(Lead.objects.values_list("score", flat=True)) == {42}


@pytest.mark.django_db
def test_first_model_activates_and_scores_every_lead_with_reasons(django_capture_on_commit_callbacks):
    outcome_leads_create(300)

    with django_capture_on_commit_callbacks(execute=True):
        version = services.model_train(folds=3)

    version.refresh_from_db()
    assert version.status == ModelVersion.Status.ACTIVE
    assert ActivationEvent.objects.filter(model_version=version, previous=None).exists()
    leads = list(Lead.objects.all())
    assert all(lead.model_version_id == version.pk for lead in leads)
    assert all(lead.priority == lead.score for lead in leads)
    lead = next(lead for lead in leads if lead.score_reasons)
    reason = lead.score_reasons[0]
    assert set(reason) == {"feature", "text", "impact"}
    assert reason["text"].endswith(f"({reason['impact']:+.0f})")
    impacts = [abs(r["impact"]) for r in lead.score_reasons]
    assert impacts == sorted(impacts, reverse=True)
    assert ScoreHistory.objects.filter(model_version=version).count() == len(leads)
    assert version.features["used"] and "global_factors" in version.features
    assert version.metrics["holdout"]["roc_auc"] > 0.6


@pytest.mark.django_db
def test_challenger_that_does_not_beat_the_champion_stays_a_candidate(trained):
    second = services.model_train(folds=3)

    second.refresh_from_db()
    trained.refresh_from_db()
    assert second.status == ModelVersion.Status.CANDIDATE
    assert trained.status == ModelVersion.Status.ACTIVE
    assert second.metrics["challenger"]["activate"] is False
    assert "champion" in second.metrics["challenger"]["reason"]


@pytest.mark.django_db
def test_challenger_that_beats_the_champion_by_the_margin_is_activated(trained):
    ScoringSettings.objects.filter(pk=1).update(margin_auc=-1.0, margin_log_loss=-1.0)

    second = services.model_train(folds=3)

    second.refresh_from_db()
    assert second.status == ModelVersion.Status.ACTIVE
    assert ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).count() == 1


@pytest.mark.django_db
def test_rollback_reactivates_the_previous_version(trained, admin_user):
    ScoringSettings.objects.filter(pk=1).update(margin_auc=-1.0, margin_log_loss=-1.0)
    second = services.model_train(folds=3)

    previous = services.model_rollback(by=admin_user)

    assert previous.pk == trained.pk
    assert ModelVersion.objects.get(status=ModelVersion.Status.ACTIVE).pk == trained.pk
    assert ActivationEvent.objects.filter(action="rollback", model_version=trained, previous=second).exists()


@pytest.mark.django_db
def test_managers_cannot_activate(trained, manager):
    with pytest.raises(PermissionDenied):
        services.model_activate(version=trained, by=manager)


@pytest.mark.django_db(transaction=True)
def test_activation_is_atomic_under_concurrency(requires_postgres):
    outcome_leads_create(300)
    first = services.model_train(folds=3)
    ScoringSettings.objects.filter(pk=1).update(margin_auc=5.0, margin_log_loss=5.0)
    candidates = [services.model_train(folds=3) for _ in range(2)]
    versions = [first, *candidates]
    errors = []
    barrier = threading.Barrier(6)

    def activate(version):
        try:
            barrier.wait()
            services.model_activate(version=version)
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=activate, args=(versions[i % 3],)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).count() == 1
    last = ActivationEvent.objects.order_by("-id").first()
    assert ModelVersion.objects.get(status=ModelVersion.Status.ACTIVE).pk == last.model_version_id


@pytest.mark.django_db
def test_corrupt_active_artifact_falls_back_to_the_last_good_model(trained):
    ScoringSettings.objects.filter(pk=1).update(margin_auc=-1.0, margin_log_loss=-1.0)
    second = services.model_train(folds=3)
    second.refresh_from_db()
    with open(second.artifact_path, "r+b") as handle:
        handle.seek(50)
        handle.write(b"corrupt")
    registry.cache_clear()

    version, loaded = services.model_in_use()

    assert version.pk == trained.pk and loaded is not None
    second.refresh_from_db()
    assert "sha256" in second.load_error
    lead = Lead.objects.filter(status=Lead.Status.NEW).first()
    services.leads_rescore(lead_ids=[lead.pk])
    lead.refresh_from_db()
    assert lead.model_version_id == trained.pk


@pytest.mark.django_db
def test_rescore_is_idempotent_and_uses_one_version_per_run(trained, settings):
    settings.SCORING_RESCORE_CHUNK = 64
    first = _rescore_all()
    history = ScoreHistory.objects.count()
    snapshot = list(
        Lead.objects.order_by("pk").values_list(
            "pk", "score", "probability", "tier", "score_reasons", "model_version_id", "priority", "scored_at"
        )
    )

    second = _rescore_all()

    assert first.status == second.status == RescoreRun.Status.DONE
    assert second.scored == Lead.objects.count() and second.changed == 0
    assert ScoreHistory.objects.count() == history
    assert snapshot == list(
        Lead.objects.order_by("pk").values_list(
            "pk", "score", "probability", "tier", "score_reasons", "model_version_id", "priority", "scored_at"
        )
    )
    assert set(Lead.objects.values_list("model_version_id", flat=True)) == {trained.pk}


@pytest.mark.django_db
def test_an_interrupted_rescore_run_resumes_where_it_stopped(trained, settings):
    settings.SCORING_RESCORE_CHUNK = 50
    Lead.objects.update(score=None, model_version=None, priority=-1, scored_at=None)
    run = services.rescore_run_start()

    services.rescore_run_continue(run, max_chunks=2)  # the worker "dies" here
    run.refresh_from_db()
    assert run.status == RescoreRun.Status.RUNNING and run.scored == 100
    assert Lead.objects.filter(scored_at__isnull=False).count() == 100

    services.rescore_run_continue(run)

    run.refresh_from_db()
    assert run.status == RescoreRun.Status.DONE and run.scored == Lead.objects.count()
    assert not Lead.objects.filter(scored_at__isnull=True).exists()


@pytest.mark.django_db
def test_a_newer_run_supersedes_a_running_one(trained):
    old = services.rescore_run_start()
    new = services.rescore_run_start()

    old = services.rescore_run_continue(old)

    assert old.status == RescoreRun.Status.SUPERSEDED and old.scored == 0
    assert services.rescore_run_continue(new).status == RescoreRun.Status.DONE


@pytest.mark.django_db
def test_a_logged_activity_rescores_the_lead_at_once_in_eager_mode(trained, rep, django_capture_on_commit_callbacks):
    lead = LeadFactory(owner=rep, attributes={"plan": "pro", "visits": 3})
    assert lead.score is None

    with django_capture_on_commit_callbacks(execute=True):
        activity_log(lead=lead, user=rep, kind="call", outcome="connected")

    lead.refresh_from_db()
    assert lead.score is not None and lead.model_version_id == trained.pk
    assert lead.priority == lead.score


@pytest.mark.django_db
def test_rescore_requests_are_debounced_with_a_worker(
    trained, settings, django_capture_on_commit_callbacks, monkeypatch
):
    from leadcrm.celery import app
    from scoring import tasks

    sent = []
    monkeypatch.setattr(tasks.rescore_leads, "apply_async", lambda **kw: sent.append(kw))
    app.conf.task_always_eager = False
    try:
        with django_capture_on_commit_callbacks(execute=True):
            services.lead_rescore_request([1, 2])
        with django_capture_on_commit_callbacks(execute=True):
            services.lead_rescore_request([2, 3])
    finally:
        app.conf.task_always_eager = True

    assert [s["kwargs"]["lead_ids"] for s in sent] == [[1, 2], [3]]
    assert all(s["countdown"] >= 1 for s in sent)


@pytest.mark.django_db
def test_bulk_rescore_requests_skip_the_per_lead_debounce(settings, django_capture_on_commit_callbacks, monkeypatch):
    from django.core.cache import cache

    from leadcrm.celery import app
    from scoring import tasks

    settings.SCORING_RESCORE_CHUNK = 1000
    sent = []
    monkeypatch.setattr(tasks.rescore_leads, "apply_async", lambda **kw: sent.append(kw))
    ids = list(range(1, services.DEBOUNCE_MAX_IDS + 502))
    app.conf.task_always_eager = False
    try:
        with django_capture_on_commit_callbacks(execute=True):
            services.lead_rescore_request(ids)
    finally:
        app.conf.task_always_eager = True

    assert [len(s["kwargs"]["lead_ids"]) for s in sent] == [1000, 501]
    assert [i for s in sent for i in s["kwargs"]["lead_ids"]] == ids
    assert cache.get(services.PENDING_KEY.format(1)) is None


@pytest.mark.django_db
def test_manager_override_is_kept_beside_the_model_score_and_can_be_undone(trained, manager):
    _rescore_all()
    lead = Lead.objects.filter(status=Lead.Status.NEW).first()
    model_score = lead.score

    lead = services.score_override_set(lead=lead, score=99, reason="met at the trade show", by=manager)
    services.leads_rescore(lead_ids=[lead.pk])
    lead.refresh_from_db()

    assert (lead.score_override, lead.score, lead.priority) == (99, model_score, 99)
    assert lead.score_override_by == manager and lead.effective_score == 99
    assert lead.tier == "hot"

    lead = services.score_override_clear(lead=lead, by=manager)

    lead.refresh_from_db()
    assert lead.score_override is None and lead.priority == model_score
    assert ScoreHistory.objects.filter(lead=lead, overridden_by=manager).count() == 2


@pytest.mark.django_db
def test_reps_cannot_override(trained, rep):
    lead = Lead.objects.first()
    with pytest.raises(PermissionDenied):
        services.score_override_set(lead=lead, score=10, reason="x", by=rep)


@pytest.mark.django_db
def test_retrain_is_single_flight(outcome_leads):
    outcome_leads(200)
    cache.add(services.RETRAIN_LOCK_KEY, "someone-else", timeout=60)

    run = services.retrain_run(trigger="test")

    assert run.status == TrainingRun.Status.SKIPPED
    assert not ModelVersion.objects.exists()


@pytest.mark.django_db
def test_retrain_that_lost_its_lock_does_not_activate(outcome_leads, monkeypatch):
    outcome_leads(200)
    original = services.model_train

    def train_then_lose_lock(**kwargs):
        may_activate = kwargs["may_activate"]

        def lost():
            cache.set(services.RETRAIN_LOCK_KEY, "another-run", 60)
            return may_activate()

        return original(**{**kwargs, "may_activate": lost})

    monkeypatch.setattr(services, "model_train", train_then_lose_lock)

    run = services.retrain_run(trigger="test", folds=3)

    assert run.status == TrainingRun.Status.SUCCEEDED
    assert run.model_version.status == ModelVersion.Status.CANDIDATE
    assert not ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).exists()


@pytest.mark.django_db
def test_retrain_run_reports_progress_and_refusal(settings):
    outcome_leads_create(20)

    run = services.retrain_run(trigger="test", folds=3)

    assert run.status == TrainingRun.Status.REFUSED and run.progress == 100
    assert run.message.startswith("model not trained yet")


@pytest.mark.django_db
def test_import_with_enough_new_outcomes_asks_for_a_retrain(outcome_leads, django_capture_on_commit_callbacks):
    leads = outcome_leads(200)

    with django_capture_on_commit_callbacks(execute=True):
        services.import_completed(lead_ids=[lead.pk for lead in leads], new_outcomes=200)

    assert TrainingRun.objects.filter(trigger="import").exists()
    assert ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).exists()


@pytest.mark.django_db
def test_score_unsaved_lead_returns_probability_score_tier_reasons(trained):
    result = services.score_unsaved(source="Referral", attributes={"plan": "enterprise", "visits": 11})

    assert result["model_version"] == trained.pk
    assert 0 <= result["probability"] <= 1 and result["score"] == round(100 * result["probability"])
    assert result["tier"] in ("hot", "warm", "cold")
    assert any(r["feature"] == "plan" for r in result["reasons"])


@pytest.mark.django_db
def test_percentile_tiers_use_the_training_score_distribution(trained):
    ScoringSettings.objects.filter(pk=1).update(tier_mode="percentile", hot_percentile=90, warm_percentile=50)

    cutoffs = services.tier_cutoffs(trained)

    quantiles = trained.tier_cutoffs["quantiles"]
    assert cutoffs == {"hot": quantiles[90], "warm": quantiles[50]}


@pytest.mark.django_db
def test_capacity_tiers_make_the_top_k_open_leads_hot(trained, rep, other_rep):
    _rescore_all()
    ScoringSettings.objects.filter(pk=1).update(tier_mode="capacity", capacity_per_rep=3)
    services.settings_changed()

    cutoffs = services.tier_cutoffs(trained)

    best = list(
        Lead.objects.filter(status__in=Lead.OPEN_STATUSES)
        .order_by("-probability")
        .values_list("probability", flat=True)
    )
    assert cutoffs["hot"] == best[5]  # 2 reps x 3 leads


@pytest.mark.django_db(transaction=True)
def test_rescore_outside_a_transaction_overlaps_writes_and_stays_whole(requires_postgres, settings):
    outcome_leads_create(300)
    version = services.model_train(folds=3)  # activation also rescored every lead, pipelined
    settings.SCORING_RESCORE_CHUNK = 40
    Lead.objects.update(score=None, model_version=None, priority=-1, scored_at=None)
    assert not connection.in_atomic_block

    run = services.rescore_run_continue(services.rescore_run_start())

    assert run.status == RescoreRun.Status.DONE
    assert run.scored == Lead.objects.count() == run.changed
    assert set(Lead.objects.values_list("model_version_id", flat=True)) == {version.pk}
    assert not Lead.objects.exclude(priority=DbF("score")).exists()
