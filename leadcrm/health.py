"""/health/ for load balancers and monitors: 200 when every dependency answers, 503 naming those that do not.

Built on django-health-check: the database, the cache, the broker, a live worker on every queue
(heartbeats, leadcrm/heartbeats.py) and beat's last tick. Apps add their own checks with
`check_register` (scoring checks that the active model's file loads). No login, no secrets: a
check's message names what failed, never a URL or a password.
"""

import asyncio
import dataclasses
import datetime
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.utils.cache import add_never_cache_headers, patch_vary_headers
from django.views import View
from health_check.base import HealthCheck
from health_check.checks import Cache, Database
from health_check.exceptions import ServiceUnavailable
from health_check.views import HealthCheckView

from leadcrm import heartbeats

_registered: list[type[HealthCheck]] = []


def check_register(check: type[HealthCheck]) -> None:
    if check not in _registered:
        _registered.append(check)


@dataclasses.dataclass
class Broker(HealthCheck):
    """The Celery broker accepts a connection."""

    timeout = datetime.timedelta(seconds=3)

    def run(self) -> None:
        from leadcrm.celery import app

        try:
            with app.connection_for_write() as conn:
                conn.ensure_connection(max_retries=1, timeout=2)
                conn.default_channel  # noqa: B018 (opens the channel: a filesystem spool must be there)
        except Exception as exc:  # the exception text may carry the broker URL: name the type only
            raise ServiceUnavailable(f"broker unreachable ({type(exc).__name__})") from None


@dataclasses.dataclass
class Workers(HealthCheck):
    """A worker consuming each queue has sent a heartbeat lately."""

    def run(self) -> None:
        from leadcrm.celery import app

        limit = settings.WORKER_HEARTBEAT_SECONDS * 3
        silent = []
        for queue in app.conf.task_queues:
            age = heartbeats.worker_heartbeat_age(queue.name)
            if age is None or age > limit:
                silent.append(queue.name)
        if silent:
            raise ServiceUnavailable(f"no worker heartbeat in {limit} s for queue(s): {', '.join(silent)}")


@dataclasses.dataclass
class Beat(HealthCheck):
    """Celery beat ticked lately (the periodic tasks are being sent)."""

    def run(self) -> None:
        limit = settings.BEAT_LOCK_SECONDS * 2
        age = heartbeats.beat_tick_age()
        if age is None or age > limit:
            raise ServiceUnavailable(f"beat has not ticked in {limit} s")


BASE_CHECKS: tuple[type[HealthCheck], ...] = (Database, Cache, Broker, Workers, Beat)


class HealthView(HealthCheckView):
    """A synchronous view: the checks run concurrently on an event loop of their own thread, so the
    view works the same under gunicorn's sync workers and in a thread that already runs a loop."""

    def get_checks(self):
        for check in (*BASE_CHECKS, *_registered):
            yield check()

    def dispatch(self, request, *args, **kwargs):
        response = View.dispatch(self, request, *args, **kwargs)
        patch_vary_headers(response, ["Accept"])
        add_never_cache_headers(response)
        return response

    def get(self, request, *args, **kwargs):
        checks = HealthCheckView.get(self, request, *args, **kwargs)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="health") as pool:
            response = pool.submit(asyncio.run, checks).result()
        if response.status_code == 500:  # a failed check: "unavailable", so balancers take the node out
            response.status_code = 503
        return response
