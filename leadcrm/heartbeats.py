"""Heartbeats the health check reads: each worker records one per queue it consumes, beat one per tick.

They live in the cache (Redis in production, files in the embedded default), which every web
process, worker and beat of a deployment shares; a heartbeat expires on its own when its process dies.
"""

import logging
import time

from django.conf import settings
from django.core.cache import cache

log = logging.getLogger(__name__)

WORKER_KEY = "leadcrm:heartbeat:worker:{}"
BEAT_KEY = "leadcrm:heartbeat:beat"


def worker_heartbeat_record(*, queues: list[str], hostname: str) -> None:
    now = time.time()
    timeout = settings.WORKER_HEARTBEAT_SECONDS * 4
    try:
        cache.set_many({WORKER_KEY.format(q): {"at": now, "hostname": hostname} for q in queues}, timeout=timeout)
    except Exception:  # a heartbeat must never take its worker down; the health check reports the gap
        log.warning("could not record the worker heartbeat", exc_info=True)


def worker_heartbeat_age(queue: str) -> float | None:
    """Seconds since a worker consuming `queue` last reported, or None when none has lately."""
    beat = cache.get(WORKER_KEY.format(queue))
    return None if beat is None else max(0.0, time.time() - beat["at"])


def beat_tick_record() -> None:
    try:
        cache.set(BEAT_KEY, time.time(), timeout=settings.BEAT_LOCK_SECONDS * 4)
    except Exception:
        log.warning("could not record beat's tick", exc_info=True)


def beat_tick_age() -> float | None:
    at = cache.get(BEAT_KEY)
    return None if at is None else max(0.0, time.time() - at)
