"""/health/: 200 when every dependency answers, 503 naming the one that does not; no login, no secrets."""

import asyncio
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.db import connections
from django.db.utils import OperationalError

from leadcrm import heartbeats
from leadcrm.celery import app as celery_app
from scoring import registry, training_runs
from tests.conftest import celery_point_at
from tests.scoring.conftest import outcome_leads_create


def _all_alive():
    heartbeats.worker_heartbeat_record(queues=["imports", "scoring", "default"], hostname="test@host")
    heartbeats.beat_tick_record()


def _health(client):
    return client.get("/health/", HTTP_ACCEPT="application/json")


def _failing(response) -> dict:
    return {name: state for name, state in response.json().items() if state != "OK"}


@contextmanager
def _broker_at(url: str):
    old = (celery_app.conf.broker_url, celery_app.conf.result_backend, dict(celery_app.conf.broker_transport_options))
    celery_point_at(url, None, {"socket_connect_timeout": 0.5, "socket_timeout": 0.5})
    try:
        yield
    finally:
        celery_point_at(*old)


@pytest.mark.django_db(transaction=True)
def test_healthy_answers_200_without_login(client):
    """(The broker is the tests' Redis, or on SQLite the embedded default's filesystem spool.)"""
    _all_alive()
    response = _health(client)
    assert response.status_code == 200, response.content
    body = response.json()
    names = " ".join(body)
    for check in ("Database", "Cache", "Broker", "Workers", "Beat", "ActiveModel"):
        assert check in names
    assert set(body.values()) == {"OK"}


@pytest.mark.django_db(transaction=True)
def test_html_and_text_formats_name_the_checks(client):
    _all_alive()
    assert "Database" in client.get("/health/", HTTP_ACCEPT="text/plain").content.decode()
    assert "Database" in client.get("/health/").content.decode()


@pytest.mark.django_db(transaction=True)
def test_database_down_is_503_naming_the_database(client, monkeypatch):
    _all_alive()

    def refuse(self):
        raise OperationalError("connection refused")

    monkeypatch.setattr(type(connections["default"]), "temporary_connection", refuse)
    response = _health(client)
    assert response.status_code == 503
    assert list(_failing(response)) == ["Database(alias='default')"]


@pytest.mark.django_db(transaction=True)
def test_cache_down_is_503_naming_the_cache(client, settings):
    _all_alive()
    settings.CACHES = {"default": {"BACKEND": "leadcrm.cache.ResilientRedisCache", "LOCATION": "redis://127.0.0.1:1/0"}}
    response = _health(client)
    assert response.status_code == 503
    failing = _failing(response)
    assert "Cache(alias='default')" in failing
    # (The heartbeats live in the cache too, so they cannot be read either.)
    assert set(failing) <= {"Cache(alias='default')", "Workers()", "Beat()"}


@pytest.mark.django_db(transaction=True)
def test_broker_down_is_503_naming_the_broker_without_its_password(client):
    _all_alive()
    with _broker_at("redis://:sup3r-secret@127.0.0.1:1/0"):
        response = _health(client)
    assert response.status_code == 503
    assert list(_failing(response)) == ["Broker()"]
    assert "sup3r-secret" not in response.content.decode()
    assert "127.0.0.1:1" not in response.content.decode()


@pytest.mark.django_db(transaction=True)
def test_no_worker_on_a_queue_is_503_naming_the_queue(client):
    heartbeats.worker_heartbeat_record(queues=["imports", "default"], hostname="test@host")
    heartbeats.beat_tick_record()
    response = _health(client)
    assert response.status_code == 503
    failing = _failing(response)
    assert list(failing) == ["Workers()"]
    assert "scoring" in failing["Workers()"] and "imports" not in failing["Workers()"]


@pytest.mark.django_db(transaction=True)
def test_a_stale_worker_heartbeat_counts_as_no_worker(client, settings, monkeypatch):
    _all_alive()
    later = time.time() + settings.WORKER_HEARTBEAT_SECONDS * 3 + 1
    monkeypatch.setattr(heartbeats.time, "time", lambda: later)
    heartbeats.beat_tick_record()
    response = _health(client)
    assert response.status_code == 503
    assert list(_failing(response)) == ["Workers()"]


@pytest.mark.django_db(transaction=True)
def test_beat_not_ticking_is_503_naming_beat(client):
    heartbeats.worker_heartbeat_record(queues=["imports", "scoring", "default"], hostname="test@host")
    response = _health(client)
    assert response.status_code == 503
    assert list(_failing(response)) == ["Beat()"]


@pytest.mark.django_db(transaction=True)
def test_active_model_file_missing_is_503_naming_the_model(client):
    _all_alive()
    outcome_leads_create(300)
    version = training_runs.model_train(folds=3)
    assert _health(client).status_code == 200
    Path(version.artifact_path).unlink()
    registry.cache_clear()
    response = _health(client)
    assert response.status_code == 503
    failing = _failing(response)
    assert list(failing) == ["ActiveModel()"]
    assert f"v{version.pk}" in failing["ActiveModel()"]


@pytest.mark.django_db(transaction=True)
def test_health_answers_in_a_thread_that_already_runs_an_event_loop(client, monkeypatch):
    """(Playwright's sync API runs a loop in the browser tests' thread; some servers do too.)"""
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    _all_alive()

    async def inside_a_loop():
        return _health(client)

    try:
        asyncio.get_running_loop()  # after a browser test, Playwright's loop runs in this thread already
    except RuntimeError:
        response = asyncio.run(inside_a_loop())
    else:
        response = _health(client)
    assert response.status_code == 200, response.content
