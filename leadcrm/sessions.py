"""Idle timeout: a browser session ends after SESSION_IDLE_TIMEOUT_SECONDS without a request.

The session (and its cookie) lives SESSION_COOKIE_AGE (= the idle timeout) from its last save.
Saving on every request would write the session row on every page; instead an active session is
re-saved when its last refresh is more than REFRESH_EVERY seconds old, so the timeout is exact to
within that margin and a busy user writes the row at most once every few minutes.
"""

import time

from django.contrib.auth import SESSION_KEY

REFRESH_EVERY = 300
_REFRESHED_KEY = "_leadcrm_refreshed"


class IdleSessionMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        session = getattr(request, "session", None)
        user = getattr(request, "user", None)
        if session is not None and user is not None and user.is_authenticated:
            now = int(time.time())
            if now - session.get(_REFRESHED_KEY, 0) >= REFRESH_EVERY:
                session[_REFRESHED_KEY] = now  # marks the session modified: saved with a fresh expiry
        return self.get_response(request)


def session_mark_refreshed(sender, request, user, **kwargs):
    """user_logged_in receiver (connected by leads.apps): a new session starts refreshed."""
    session = getattr(request, "session", None)
    if session is not None and session.get(SESSION_KEY):  # a session login (not an API token)
        session[_REFRESHED_KEY] = int(time.time())
