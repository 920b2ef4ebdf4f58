"""The Procfile's processes (gunicorn, a worker per queue, beat) start under honcho against
PostgreSQL + Redis, report healthy, process an import and a rescore, and all stop on Ctrl-C."""

import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from django.conf import settings
from django.db import connection
from rest_framework.authtoken.models import Token

from leadcrm.celery import app as celery_app
from leads.models import ImportJob, Lead
from scoring import rescoring
from scoring.models import RescoreRun
from tests.conftest import ARTIFACTS, ROOT, _database_url_for_subprocess, _port_open, require, wait_for
from tests.factories import AdminFactory
from tests.leads.import_samples import x_education_profile, xeducation_csv

ROWS = 300


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def procfile_processes(transactional_db, tmp_path):
    redis_url = os.environ.get("REDIS_URL", "")
    parts = urlsplit(redis_url)
    require(bool(redis_url) and _port_open(parts.hostname or "127.0.0.1", parts.port or 6379), "Redis (REDIS_URL)")
    require(connection.vendor == "postgresql", "PostgreSQL (DATABASE_URL)")
    honcho = Path(sys.executable).with_name("honcho")
    require(honcho.exists() or shutil.which("honcho") is not None, "honcho (requirements.txt)")
    port = _free_port()
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "DATABASE_URL": _database_url_for_subprocess(),
        "REDIS_URL": redis_url,
        "REDIS_CACHE_URL": str(settings.CACHES["default"]["LOCATION"]),
        "DB_CONN_MAX_AGE": "0",
        "LEADCRM_VAR_DIR": str(tmp_path),
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "WEB_CONCURRENCY": "1",
        "SCORING_WORKERS": "1",
        "WORKER_HEARTBEAT_SECONDS": "1",
        "HOST": "127.0.0.1",
    }
    celery_app.conf.task_always_eager = False
    with celery_app.connection_for_write() as conn:
        for queue in celery_app.conf.task_queues:
            conn.default_channel.queue_purge(queue.name)
    ARTIFACTS.mkdir(exist_ok=True)
    log_path = ARTIFACTS / f"honcho-{os.getpid()}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [str(honcho) if honcho.exists() else "honcho", "start", "-f", "Procfile", "-p", str(port)],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        yield process, f"http://127.0.0.1:{port}", log_path
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
        celery_app.conf.task_always_eager = True


@pytest.mark.worker
@pytest.mark.xdist_group("celery")
def test_procfile_processes_serve_an_import_and_a_rescore_and_stop_on_ctrl_c(procfile_processes, tmp_path):
    process, base, log_path = procfile_processes
    admin = AdminFactory(username="ops")
    token = Token.objects.create(user=admin).key
    profile = x_education_profile()

    def healthy():
        if process.poll() is not None:
            pytest.fail(f"honcho exited; see {log_path}")
        try:
            return requests.get(f"{base}/health/", headers={"Accept": "application/json"}, timeout=5).status_code == 200
        except requests.ConnectionError:
            return False

    wait_for(healthy, timeout=90, interval=0.5, what=f"every Procfile process to report healthy (see {log_path})")

    # An import through the API answers 202 at once; the imports worker runs it.
    upload = requests.post(
        f"{base}/api/v1/imports/",
        headers={"Authorization": f"Token {token}"},
        files={"file": ("leads.csv", xeducation_csv(ROWS).encode())},
        data={"profile": profile.name, "mode": "skip_bad"},
        timeout=30,
    )
    assert upload.status_code == 202, upload.text
    job = ImportJob.objects.get(pk=upload.json()["id"])

    def imported():
        job.refresh_from_db()
        return job.status in (ImportJob.Status.SUCCEEDED, ImportJob.Status.FAILED)

    wait_for(imported, timeout=60, what="the import to finish on the imports worker")
    assert job.status == ImportJob.Status.SUCCEEDED, job.error
    assert (job.created_count, job.attempts) == (ROWS, 1)
    assert Lead.objects.count() == ROWS

    # A full rescore goes to the scoring worker. (The import's outcomes may also have asked for a
    # retrain, whose activation starts a rescore run of its own that supersedes this one.)
    run = rescoring.rescore_all_request()

    def rescored():
        return not RescoreRun.objects.filter(status=RescoreRun.Status.RUNNING).exists()

    wait_for(rescored, timeout=90, what="the rescore to finish on the scoring worker")
    last = RescoreRun.objects.filter(pk__gte=run.pk, status=RescoreRun.Status.DONE).latest("pk")
    assert last.scored == ROWS
    assert not Lead.objects.filter(rank__scored_at__lt=last.as_of).exists()
    assert not Lead.objects.filter(rank__scored_at__isnull=True).exists()

    metrics = requests.get(f"{base}/metrics", timeout=10).text
    assert 'leadcrm_tasks_total{state="succeeded",task="leads.import_run"} 1.0' in metrics
    assert 'task="scoring.rescore_leads"' in metrics

    # Ctrl-C: honcho stops every process it started.
    os.killpg(process.pid, signal.SIGINT)
    process.wait(30)
    wait_for(lambda: not _group_alive(process.pid), timeout=30, what="every Procfile process to exit")
