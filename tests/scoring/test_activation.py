"""Activating, rolling back and serialising model versions (scoring/activation.py)."""

import threading

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection

from scoring import activation, training_runs
from scoring.models import ActivationEvent, ModelVersion, ScoringSettings
from tests.scoring.conftest import outcome_leads_create


@pytest.mark.django_db
def test_rollback_reactivates_the_previous_version(trained, admin_user):
    ScoringSettings.objects.filter(pk=1).update(margin_auc=5.0, margin_log_loss=5.0)  # the retrain replaces it
    second = training_runs.model_train(folds=3)

    previous = activation.model_rollback(by=admin_user)

    assert previous.pk == trained.pk
    assert ModelVersion.objects.get(status=ModelVersion.Status.ACTIVE).pk == trained.pk
    assert ActivationEvent.objects.filter(action="rollback", model_version=trained, previous=second).exists()


@pytest.mark.django_db
def test_managers_cannot_activate(trained, manager):
    with pytest.raises(PermissionDenied):
        activation.model_activate(version=trained, by=manager)


@pytest.mark.django_db(transaction=True)
def test_activation_is_atomic_under_concurrency(requires_postgres):
    outcome_leads_create(300)
    first = training_runs.model_train(folds=3)
    ScoringSettings.objects.filter(pk=1).update(margin_auc=-1.0, margin_log_loss=-1.0)  # retrains stay candidates
    candidates = [training_runs.model_train(folds=3) for _ in range(2)]
    versions = [first, *candidates]
    errors = []
    barrier = threading.Barrier(6)

    def activate(version):
        try:
            barrier.wait()
            activation.model_activate(version=version)
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


@pytest.fixture
def gated(db, settings):
    """A candidate that fails the AUC gate (the floor raised above anything it reaches)."""
    outcome_leads_create(300)
    settings.SCORING_GATE_MIN_AUC = 0.999
    return training_runs.model_train(folds=3)


@pytest.mark.django_db
def test_a_version_failing_its_gates_is_refused_without_a_reason(gated, admin_user):
    with pytest.raises(ValidationError, match=r"failed its activation gates.*activate anyway"):
        activation.model_activate(version=gated, by=admin_user)

    gated.refresh_from_db()
    assert gated.status == ModelVersion.Status.CANDIDATE
    assert not ActivationEvent.objects.exists()


@pytest.mark.django_db
def test_activate_anyway_records_the_reason_who_and_the_gates(gated, admin_user):
    activation.model_activate(version=gated, by=admin_user, anyway_reason="  pilot for the spring campaign ")

    gated.refresh_from_db()
    assert gated.status == ModelVersion.Status.ACTIVE
    event = ActivationEvent.objects.get(model_version=gated)
    assert event.action == ActivationEvent.ACTIVATE_ANYWAY == "activate_anyway"
    assert event.note == "pilot for the spring campaign" and event.by == admin_user
    assert event.gates_overridden and "below 1.00" in event.gates_overridden[0]


@pytest.mark.django_db
def test_only_a_person_can_activate_anyway(gated):
    with pytest.raises(PermissionDenied):
        activation.model_activate(version=gated, anyway_reason="the system has no say")
