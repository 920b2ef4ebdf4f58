"""/metrics: Prometheus text for allow-listed addresses or the token, 403 for everyone else; task
counters and durations, queue depth, leads scored and the model's age."""

import pytest

from leadcrm import metrics
from scoring import training_runs
from scoring.tasks import rescore_leads
from tests.scoring.conftest import outcome_leads_create


def _scrape(client, **extra):
    return client.get("/metrics", **extra)


@pytest.mark.django_db
def test_an_address_off_the_allow_list_is_refused(client):
    response = _scrape(client, REMOTE_ADDR="203.0.113.9")
    assert response.status_code == 403
    assert b"leadcrm_" not in response.content


@pytest.mark.django_db
def test_a_wrong_token_is_refused(client, settings):
    settings.METRICS_TOKEN = "right-token"
    response = _scrape(client, REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer wrong-token")
    assert response.status_code == 403


@pytest.mark.django_db
def test_the_token_opens_metrics_from_anywhere(client, settings):
    settings.METRICS_TOKEN = "right-token"
    response = _scrape(client, REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer right-token")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")


@pytest.mark.django_db
def test_no_token_configured_never_matches_an_empty_bearer(client, settings):
    settings.METRICS_TOKEN = ""
    assert _scrape(client, REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer ").status_code == 403


@pytest.mark.django_db
def test_allow_listed_networks_are_accepted(client, settings):
    settings.METRICS_ALLOWED_IPS = ["10.0.0.0/8"]
    assert _scrape(client, REMOTE_ADDR="10.20.30.40").status_code == 200
    assert _scrape(client, REMOTE_ADDR="127.0.0.1").status_code == 403


@pytest.mark.django_db
def test_metrics_show_requests_queues_tasks_scoring_and_model_age(client, rep_client):
    outcome_leads_create(300)
    training_runs.model_train(folds=3)
    rescore_leads.delay()  # eager in the tests: the task's signals count it as a worker's would
    rep_client.get("/")  # a request for django-prometheus to count

    text = _scrape(client).content.decode()

    assert "django_http_requests_total_by_method_total" in text
    for queue in ("imports", "scoring", "default"):
        assert f'leadcrm_queue_depth{{queue="{queue}"}}' in text
    assert "leadcrm_broker_up 1.0" in text
    assert 'leadcrm_tasks_total{state="succeeded",task="scoring.rescore_leads"}' in text
    assert 'leadcrm_task_duration_seconds_count{task="scoring.rescore_leads"}' in text
    assert 'leadcrm_task_duration_seconds_bucket{le="+Inf",task="scoring.rescore_leads"}' in text
    scored = next(line for line in text.splitlines() if line.startswith("leadcrm_leads_scored_total "))
    assert float(scored.split()[1]) >= 300
    assert "leadcrm_model_active 1.0" in text
    age = next(line for line in text.splitlines() if line.startswith("leadcrm_model_age_seconds "))
    assert 0 <= float(age.split()[1]) < 3600
    assert "leadcrm_rescore_leads_per_second " in text


@pytest.mark.django_db
def test_task_observe_counts_states_and_buckets():
    metrics.task_observe(task="leads.import_run", state="succeeded", seconds=3.0)
    metrics.task_observe(task="leads.import_run", state="succeeded", seconds=45.0)
    metrics.task_observe(task="leads.import_run", state="failed", seconds=0.5)
    text = metrics.metrics_render().decode()
    assert 'leadcrm_tasks_total{state="succeeded",task="leads.import_run"} 2.0' in text
    assert 'leadcrm_tasks_total{state="failed",task="leads.import_run"} 1.0' in text
    assert 'leadcrm_task_duration_seconds_bucket{le="1.0",task="leads.import_run"} 1.0' in text
    assert 'leadcrm_task_duration_seconds_bucket{le="5.0",task="leads.import_run"} 2.0' in text
    assert 'leadcrm_task_duration_seconds_bucket{le="120.0",task="leads.import_run"} 3.0' in text
    assert 'leadcrm_task_duration_seconds_count{task="leads.import_run"} 3.0' in text
    assert 'leadcrm_task_duration_seconds_sum{task="leads.import_run"} 48.5' in text
