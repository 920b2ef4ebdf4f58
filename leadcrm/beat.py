"""Celery beat that runs exactly once per deployment, however many beat processes are started.

Each beat process tries to hold a lock in the shared cache (Redis in production: it spans hosts)
before sending anything; the holder renews it on every tick, the others stand by and take over
within BEAT_LOCK_SECONDS of the holder stopping. So a second beat (a redeploy overlapping the old
one, a standby host) never sends a periodic task twice. Every tick is recorded for /health/.
"""

import logging
import os
import socket
import uuid
from pathlib import Path

from celery.beat import PersistentScheduler
from django.conf import settings
from django.core.cache import cache

from leadcrm.heartbeats import beat_tick_record

log = logging.getLogger(__name__)

LOCK_KEY = "leadcrm:beat:lock"
STANDBY_SECONDS = 5.0


class LockedScheduler(PersistentScheduler):
    def __init__(self, *args, **kwargs):
        self.lock_owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.lock_held = False
        super().__init__(*args, **kwargs)

    def setup_schedule(self):
        Path(self.schedule_filename).parent.mkdir(parents=True, exist_ok=True)
        super().setup_schedule()

    def lock_acquire(self) -> bool:
        """Take or renew the lock; False while another beat holds it (or the cache is down)."""
        timeout = settings.BEAT_LOCK_SECONDS
        try:
            if cache.add(LOCK_KEY, self.lock_owner, timeout=timeout):
                held = True
            elif cache.get(LOCK_KEY) == self.lock_owner:
                cache.touch(LOCK_KEY, timeout=timeout)
                held = True
            else:
                held = False
        except Exception:
            log.warning("beat lock: the cache is unreachable; standing by", exc_info=True)
            held = False
        if held != self.lock_held:
            log.info("beat lock %s by %s", "acquired" if held else "lost", self.lock_owner)
        self.lock_held = held
        return held

    def tick(self, *args, **kwargs):
        if not self.lock_acquire():
            return STANDBY_SECONDS
        beat_tick_record()
        # Come back before the lock expires, however far off the next task is.
        return min(super().tick(*args, **kwargs), settings.BEAT_LOCK_SECONDS / 3)

    def close(self):
        if self.lock_held:
            try:
                if cache.get(LOCK_KEY) == self.lock_owner:
                    cache.delete(LOCK_KEY)
            except Exception:
                log.warning("beat lock: could not release", exc_info=True)
            self.lock_held = False
        super().close()
