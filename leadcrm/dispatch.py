"""Publishing Celery tasks without failing the request when the broker is down.

Every dispatch site calls task_dispatch(). When the broker cannot be reached (after Celery's short
publish retry policy, see CELERY_TASK_PUBLISH_RETRY_POLICY), `on_failure` records the work in the
database, the caller shows "queued, will retry", and the beat task `leadcrm.redispatch_queued`
sends it again once the broker is back. After a failure, the next few seconds fail fast instead of
waiting on the broker again for every request.
"""

import logging
import threading
import time
from collections.abc import Callable

from celery import Task, current_app

log = logging.getLogger(__name__)

BROKER_UNAVAILABLE = "Broker unavailable — queued, will retry automatically."
FAIL_FAST_SECONDS = 5.0

_lock = threading.Lock()
_down_until = 0.0


class BrokerUnavailable(Exception):
    """Raised instead of publishing while the broker is known to be down (fail fast)."""


def broker_marked_down() -> bool:
    return time.monotonic() < _down_until


def broker_mark_up() -> None:
    global _down_until
    with _lock:
        _down_until = 0.0


def task_dispatch(
    task: str | Task,
    *,
    args: tuple = (),
    kwargs: dict | None = None,
    countdown: float | None = None,
    on_failure: Callable[[Exception], None] | None = None,
) -> bool:
    """Send `task` (a task or its registered name); True when the broker took it (or it ran
    eagerly). On a broker failure log a warning, call `on_failure(exc)` to record the work
    durably, and return False. Exceptions raised by an eager task propagate as before.

    Services name their own package's tasks by name, so that a service module never imports
    the tasks module that imports it (the task loads by id and calls the service)."""
    global _down_until
    if isinstance(task, str):
        task = current_app.tasks[task]
    if current_app.conf.task_always_eager:
        task.apply_async(args=args, kwargs=kwargs or {}, countdown=countdown)
        return True
    try:
        if broker_marked_down():
            raise BrokerUnavailable("the broker failed moments ago")
        # Nobody waits on these results; ignore_result also keeps publishing off the result
        # backend, whose reconnect loop would hold the request for ~20 s with Redis down.
        task.apply_async(args=args, kwargs=kwargs or {}, countdown=countdown, ignore_result=True)
    except Exception as exc:  # kombu/redis/socket errors differ by transport; all mean "not sent"
        if not isinstance(exc, BrokerUnavailable):
            with _lock:
                _down_until = time.monotonic() + FAIL_FAST_SECONDS
        log.warning("could not queue %s (%s: %s); recorded for a retry", task.name, type(exc).__name__, exc)
        if on_failure is not None:
            on_failure(exc)
        return False
    return True


def debounced_dispatch(task: str, *, key: str, seconds: float, needed: Callable[[], bool] | None = None) -> None:
    """Send `task` `seconds` after the current transaction commits, once for a burst of calls:
    the first call sets the cache `key` and sends it; later calls while the key stands (until the
    run is due, plus a minute) send nothing. `needed()`, asked on commit, can call it off. Eager
    (tests): sent at once. Broker down: the key is dropped again, and the caller's beat task
    catches up."""
    from django.core.cache import cache
    from django.db import transaction

    def dispatch() -> None:
        if needed is not None and not needed():
            return
        if current_app.conf.task_always_eager:
            task_dispatch(task)
            return
        if not cache.add(key, 1, timeout=seconds + 60):
            return  # a run is already on its way
        if not task_dispatch(task, countdown=seconds):
            cache.delete(key)

    transaction.on_commit(dispatch)
