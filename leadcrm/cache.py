"""A Redis cache that degrades instead of failing: with Redis down, pages keep serving.

Every read is a miss and every write a no-op while Redis cannot be reached (each failure logs a
warning, at most one every few seconds). Short socket timeouts keep a dead or unreachable Redis
from holding a request for long. `cache.degraded` tells callers that a miss may be an outage
(see scoring.rescoring.lead_rescore_request).
"""

import logging
import time

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger(__name__)

UNAVAILABLE = (RedisConnectionError, RedisTimeoutError, ConnectionError, TimeoutError, OSError)
DEFAULT_SOCKET_TIMEOUT = 0.5
WARN_EVERY_SECONDS = 10.0
DEGRADED_FOR_SECONDS = 30.0


class ResilientRedisCache(RedisCache):
    def __init__(self, server, params):
        params = {**params}
        options = {**params.get("OPTIONS", {})}
        options.setdefault("socket_connect_timeout", DEFAULT_SOCKET_TIMEOUT)
        options.setdefault("socket_timeout", DEFAULT_SOCKET_TIMEOUT)
        params["OPTIONS"] = options
        super().__init__(server, params)
        self._failed_at = 0.0
        self._warned_at = 0.0

    @property
    def degraded(self) -> bool:
        """True when a cache call failed recently (a miss may mean "Redis is down")."""
        return bool(self._failed_at) and time.monotonic() - self._failed_at < DEGRADED_FOR_SECONDS

    def _unavailable(self, operation: str, exc: Exception) -> None:
        now = time.monotonic()
        self._failed_at = now
        if now - self._warned_at >= WARN_EVERY_SECONDS:
            self._warned_at = now
            log.warning("cache unavailable (%s treated as a miss/no-op): %s: %s", operation, type(exc).__name__, exc)

    def _ok(self) -> None:
        if self._failed_at:
            self._failed_at = 0.0
            log.warning("cache is reachable again")

    def _call(self, operation: str, fallback, *args, **kwargs):
        try:
            result = getattr(super(), operation)(*args, **kwargs)
        except UNAVAILABLE as exc:
            self._unavailable(operation, exc)
            return fallback
        self._ok()
        return result

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        # False ("someone holds it"): a lock taken while Redis is down must not be granted.
        return self._call("add", False, key, value, timeout, version)

    def get(self, key, default=None, version=None):
        return self._call("get", default, key, default, version)

    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        return self._call("set", None, key, value, timeout, version)

    def touch(self, key, timeout=DEFAULT_TIMEOUT, version=None):
        return self._call("touch", False, key, timeout, version)

    def delete(self, key, version=None):
        return self._call("delete", False, key, version)

    def get_many(self, keys, version=None):
        return self._call("get_many", {}, keys, version)

    def has_key(self, key, version=None):
        return self._call("has_key", False, key, version)

    def incr(self, key, delta=1, version=None):
        try:
            result = super().incr(key, delta, version)
        except UNAVAILABLE as exc:
            self._unavailable("incr", exc)
            raise ValueError(f"Key '{key}' not found (cache unavailable)") from exc
        self._ok()
        return result

    def set_many(self, data, timeout=DEFAULT_TIMEOUT, version=None):
        # Django's contract: the keys that failed to be set.
        return self._call("set_many", list(data), data, timeout, version)

    def delete_many(self, keys, version=None):
        return self._call("delete_many", None, keys, version)

    def clear(self):
        return self._call("clear", False)
