"""The request being served, for code that records who did something but is not handed the request.

The audit trail (leads.audit) records who acted and from which IP. Services are called with the
acting user, but model signals (a role changed in the admin) and deep services are not: they read
the request this middleware keeps for the duration of the response. Outside a request (Celery,
commands) there is none, and the audit names the system.
"""

from contextvars import ContextVar

from django.http import HttpRequest

_current: ContextVar[HttpRequest | None] = ContextVar("leadcrm_current_request", default=None)


def current_request() -> HttpRequest | None:
    return _current.get()


class RequestContextMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = _current.set(request)
        try:
            return self.get_response(request)
        finally:
            _current.reset(token)
