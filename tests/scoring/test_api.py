import pytest
from rest_framework.test import APIClient

from leads.models import Lead
from scoring.models import ModelVersion
from tests.factories import LeadFactory


@pytest.fixture
def api():
    return APIClient()


@pytest.mark.django_db
def test_score_endpoint_scores_an_unsaved_lead(api, rep, trained):
    api.force_authenticate(rep)
    before = Lead.objects.count()

    response = api.post(
        "/api/v1/score/", {"source": "Referral", "attributes": {"plan": "pro", "visits": 4}}, format="json"
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"probability", "score", "tier", "reasons", "model_version"}
    assert body["model_version"] == trained.pk and body["score"] == round(100 * body["probability"])
    assert Lead.objects.count() == before


@pytest.mark.django_db
@pytest.mark.parametrize(
    "payload",
    [
        {"sauce": "x"},
        {"attributes": "not an object"},
        {"attributes": {"visits": "many"}},
        {"attributes": {"plan": {"nested": 1}}},
        {"attributes": {"newsletter": "perhaps"}},
        {"source": "x" * 500},
    ],
)
def test_score_endpoint_answers_400_on_bad_fields(api, rep, trained, payload):
    api.force_authenticate(rep)

    response = api.post("/api/v1/score/", payload, format="json")

    assert response.status_code == 400, response.content


@pytest.mark.django_db
def test_score_endpoint_needs_a_login(api):
    assert api.post("/api/v1/score/", {}, format="json").status_code in (401, 403)


@pytest.mark.django_db
def test_score_endpoint_at_cold_start_gives_the_base_rate(api, rep):
    api.force_authenticate(rep)

    body = api.post("/api/v1/score/", {"source": "Web"}, format="json").json()

    assert body["model_version"] is None and body["reasons"] == []


@pytest.mark.django_db
def test_managers_list_and_read_model_versions(api, manager, trained):
    api.force_authenticate(manager)

    listing = api.get("/api/v1/models/")
    detail = api.get(f"/api/v1/models/{trained.pk}/")

    assert listing.status_code == 200 and listing.json()[0]["id"] == trained.pk
    assert detail.json()["metrics"]["cv"]["folds"] == 3


@pytest.mark.django_db
def test_reps_cannot_list_activate_or_retrain(api, rep, trained):
    api.force_authenticate(rep)

    assert api.get("/api/v1/models/").status_code == 403
    assert api.post(f"/api/v1/models/{trained.pk}/activate/").status_code == 403
    assert api.post("/api/v1/models/retrain/").status_code == 403


@pytest.mark.django_db
def test_managers_cannot_activate_but_admins_can(api, manager, admin_user, trained):
    trained.status = ModelVersion.Status.RETIRED
    trained.save()
    api.force_authenticate(manager)
    assert api.post(f"/api/v1/models/{trained.pk}/activate/").status_code == 403

    api.force_authenticate(admin_user)
    response = api.post(f"/api/v1/models/{trained.pk}/activate/")

    assert response.status_code == 200 and response.json()["status"] == "active"


@pytest.mark.django_db
def test_admin_retrain_returns_the_run_to_poll(api, admin_user, trained):
    api.force_authenticate(admin_user)

    response = api.post("/api/v1/models/retrain/")

    assert response.status_code == 202
    run = api.get(f"/api/v1/models/runs/{response.json()['id']}/").json()
    assert run["status"] in ("queued", "running", "succeeded")


@pytest.mark.django_db
def test_score_history_respects_lead_visibility(api, rep, other_rep, trained):
    from scoring import rescoring

    mine = LeadFactory(owner=rep, attributes={"plan": "pro"})
    theirs = LeadFactory(owner=other_rep)
    rescoring.leads_rescore(lead_ids=[mine.pk, theirs.pk])
    api.force_authenticate(rep)

    own = api.get(f"/api/v1/leads/{mine.pk}/score-history/")
    other = api.get(f"/api/v1/leads/{theirs.pk}/score-history/")

    assert own.status_code == 200 and own.json()[0]["model_version"] == trained.pk
    assert other.status_code == 404


@pytest.mark.django_db
def test_activating_a_gated_version_needs_a_reason(api, admin_user, trained, settings):
    trained.status = ModelVersion.Status.RETIRED
    trained.save()
    settings.SCORING_GATE_MIN_AUC = 0.999
    api.force_authenticate(admin_user)

    refused = api.post(f"/api/v1/models/{trained.pk}/activate/")
    too_long = api.post(f"/api/v1/models/{trained.pk}/activate/", {"reason": "x" * 300}, format="json")
    accepted = api.post(f"/api/v1/models/{trained.pk}/activate/", {"reason": "board approved"}, format="json")

    assert refused.status_code == 400
    assert "failed its activation gates: holdout ROC AUC" in refused.json()["error"]["fields"]["reason"][0]
    assert too_long.status_code == 400 and "reason" in too_long.json()["error"]["fields"]
    assert accepted.status_code == 200 and accepted.json()["status"] == "active"
    assert accepted.json()["gates_failed"]
