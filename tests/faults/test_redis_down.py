"""Redis stopped: pages and the API keep serving, task actions say "queued, will retry", and
when Redis is back a real worker does the queued work."""

import socket

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from leadcrm.cache import ResilientRedisCache
from leadcrm.dispatch import BROKER_UNAVAILABLE, broker_mark_up
from leads.importing.tasks import import_redispatch_queued
from leads.models import Activity, ImportJob, Lead
from scoring.models import RescoreRun, TrainingRun
from scoring.tasks import redispatch_queued
from tests.api.conftest import token_client
from tests.conftest import wait_for
from tests.factories import LeadFactory
from tests.leads.import_samples import x_education_profile, xeducation_csv

IMPORT_ROWS = 30


@pytest.mark.worker
@pytest.mark.xdist_group("celery")
def test_with_redis_down_pages_serve_and_queued_work_runs_when_it_is_back(
    private_redis, private_worker, client, rep, admin_user
):
    lead = LeadFactory(owner=rep, name="Ada Call")
    LeadFactory.create_batch(3, owner=rep)
    profile = x_education_profile()
    private_redis.stop()

    client.force_login(rep)
    assert client.get(reverse("leads:queue")).status_code == 200
    assert client.get(reverse("leads:detail", args=[lead.pk])).status_code == 200
    logged = client.post(reverse("leads:activity_create", args=[lead.pk]), {"kind": "call", "outcome": "connected"})
    assert logged.status_code == 302
    assert Activity.objects.filter(lead=lead, kind="call").exists()
    api = token_client(rep).get("/api/v1/leads/")
    assert api.status_code == 200 and len(api.json()["results"]) == 4
    # The rescore the call asked for could not be queued: a stale-lead rescore run records it.
    assert RescoreRun.objects.filter(status=RescoreRun.Status.RUNNING, only_stale=True).count() == 1

    client.force_login(admin_user)
    broker_mark_up()  # each action below meets the dead broker itself, not the fail-fast window
    retrain = client.post(reverse("scoring:retrain"), HTTP_HX_REQUEST="true")
    assert retrain.status_code == 200
    assert "Queued" in retrain.content.decode() and BROKER_UNAVAILABLE in retrain.content.decode()
    run = TrainingRun.objects.get()
    assert (run.status, run.message, run.broker_pending) == (TrainingRun.Status.QUEUED, BROKER_UNAVAILABLE, True)
    assert client.get(reverse("scoring:run", args=[run.pk])).status_code == 200

    broker_mark_up()
    upload = SimpleUploadedFile("leads.csv", xeducation_csv(IMPORT_ROWS).encode())
    created = client.post(reverse("imports:list"), {"file": upload, "profile": profile.pk, "mode": "atomic"})
    assert created.status_code == 302
    job = ImportJob.objects.get()
    assert (job.status, job.error, job.broker_pending) == (ImportJob.Status.PENDING, BROKER_UNAVAILABLE, True)
    detail = client.get(created["Location"])
    assert detail.status_code == 200 and BROKER_UNAVAILABLE in detail.content.decode()
    assert Lead.objects.count() == 4

    private_redis.start()
    private_worker.start()
    # What the beat entries send every minute (a starting worker sends them too: both run).
    redispatch_queued.delay()
    import_redispatch_queued.delay()

    def import_done():
        job.refresh_from_db()
        return job.status == ImportJob.Status.SUCCEEDED

    wait_for(import_done, timeout=60, what="the queued import to run")
    assert not job.broker_pending
    assert job.created_count == IMPORT_ROWS and Lead.objects.count() == 4 + IMPORT_ROWS

    def retrain_done():
        run.refresh_from_db()
        return run.is_finished

    wait_for(retrain_done, timeout=60, what="the queued retrain to run")
    # Four leads with no outcome: the retrain ran and refused (not enough outcomes yet).
    assert run.status == TrainingRun.Status.REFUSED, run.message
    assert TrainingRun.objects.count() == 1

    wait_for(
        lambda: not RescoreRun.objects.filter(status=RescoreRun.Status.RUNNING).exists(),
        timeout=60,
        what="the queued rescore to finish",
    )
    lead.refresh_from_db()
    assert lead.scored_at is not None and lead.scored_at >= lead.last_activity_at


def test_the_cache_treats_an_unreachable_redis_as_misses_and_no_ops():
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cache = ResilientRedisCache(f"redis://127.0.0.1:{port}/0", {})
    assert not cache.degraded

    assert cache.get("k", "default") == "default"
    assert cache.degraded
    assert cache.get_many(["a", "b"]) == {}
    assert cache.add("lock", 1) is False  # a lock is never granted while Redis is down
    assert cache.set("k", 1) is None and cache.delete("k") is False and cache.has_key("k") is False
    assert cache.set_many({"a": 1, "b": 2}) == ["a", "b"]
    assert cache.get_or_set("k", "computed") == "computed"
    with pytest.raises(ValueError):
        cache.incr("counter")
