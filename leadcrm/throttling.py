"""API throttles that keep serving when the cache is down, and the login throttle."""

import logging

from rest_framework import throttling

logger = logging.getLogger(__name__)


class FailOpenMixin:
    """Throttling keeps its counters in the cache (Redis in production). When the cache is
    down the API keeps serving instead of answering 500: a missed throttle beats an outage."""

    def allow_request(self, request, view):
        try:
            return super().allow_request(request, view)
        except Exception:  # the cache backend's connection errors vary by client library
            logger.warning("API throttle skipped: cache unavailable", exc_info=True)
            return True


class LoginThrottle(FailOpenMixin, throttling.SimpleRateThrottle):
    """Password attempts per client IP (scope "login"), signed in or not. django-axes locks a
    username + IP after a few failures; this bounds how fast one IP can try many usernames."""

    scope = "login"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
