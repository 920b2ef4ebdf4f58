"""The Celery app, and what every worker does besides running tasks.

- A heartbeat thread records, every WORKER_HEARTBEAT_SECONDS, that this worker is alive and which
  queues it consumes (read by /health/). A thread, not the worker's timer: with the solo pool a
  long task would hold the timer.
- Each task's id is put in the logging context (leadcrm/logs.py) while it runs.
- Redis URLs use leadcrm/broker.py's transport (a worker survives a Redis outage).
- Each finished task is counted, with its duration, for /metrics (leadcrm/metrics.py).
"""

import contextlib
import os
import threading
import time

from celery import Celery
from celery.signals import task_postrun, task_prerun, worker_ready, worker_shutdown
from kombu.transport import TRANSPORT_ALIASES

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadcrm.settings")
# A Redis transport whose workers outlive a Redis outage (see leadcrm/broker.py).
TRANSPORT_ALIASES["redis"] = TRANSPORT_ALIASES["rediss"] = "leadcrm.broker:Transport"

app = Celery("leadcrm")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Installed apps' tasks modules, plus the leads app's sub-packages that keep their own tasks.
app.autodiscover_tasks()
app.autodiscover_tasks(["leads.importing", "leads.reports"])


# --- heartbeat ------------------------------------------------------------------------------

_heartbeat_stop = threading.Event()


@worker_ready.connect
def _heartbeat_start(sender=None, **kwargs) -> None:
    from django.conf import settings

    from leadcrm.heartbeats import worker_heartbeat_record

    queues = sorted(app.amqp.queues.consume_from)
    hostname = getattr(sender, "hostname", "") or ""

    def beat() -> None:
        while True:
            worker_heartbeat_record(queues=queues, hostname=hostname)
            if _heartbeat_stop.wait(settings.WORKER_HEARTBEAT_SECONDS):
                return

    _heartbeat_stop.clear()
    threading.Thread(target=beat, name="leadcrm-heartbeat", daemon=True).start()


@worker_shutdown.connect
def _heartbeat_stop_now(**kwargs) -> None:
    _heartbeat_stop.set()


# --- task context and metrics ----------------------------------------------------------------

_started: dict[str, tuple[float, list]] = {}


@task_prerun.connect
def _task_started(task_id=None, task=None, **kwargs) -> None:
    from leadcrm.db_router import reports_reading
    from leadcrm.logs import task_id_var

    tokens = [(task_id_var, task_id_var.set(task_id or "-"))]
    if task is not None and task.name.startswith("reports."):
        # The report refreshes read from the reports replica, when there is one.
        tokens.append((reports_reading, reports_reading.set(True)))
    _started[task_id] = (time.monotonic(), tokens)


@task_postrun.connect
def _task_finished(task_id=None, task=None, state=None, **kwargs) -> None:
    from leadcrm import metrics

    started = _started.pop(task_id, None)
    if started is None:
        return
    began, tokens = started
    if state in ("SUCCESS", "FAILURE", "RETRY"):
        name = {"SUCCESS": "succeeded", "FAILURE": "failed", "RETRY": "retried"}[state]
        metrics.task_observe(task=task.name, state=name, seconds=time.monotonic() - began)
    for var, token in reversed(tokens):
        with contextlib.suppress(ValueError):  # (prerun and postrun share a context; never seen otherwise)
            var.reset(token)
