"""What a locked-out login sees (settings.AXES_LOCKOUT_CALLABLE, called by axes.middleware).

django-axes locks one username from one IP after AXES_FAILURE_LIMIT wrong passwords; until the
cool-off ends even the right password is refused. The API answers in its common error body
(429 with retry_after), the pages with a page that says what happened and what to do.
"""

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

LOCKOUT_MESSAGE = (
    "Too many failed logins for this username from your address: logging in is blocked for {minutes} minutes. "
    "Wait, or ask an admin to unlock the account."
)


def lockout_message() -> str:
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    return LOCKOUT_MESSAGE.format(minutes=minutes)


def lockout_response(request: HttpRequest, original_response=None, credentials=None) -> HttpResponse:
    status = settings.AXES_HTTP_RESPONSE_CODE
    retry_after = int(settings.AXES_COOLOFF_TIME.total_seconds())
    if request.path.startswith("/api/"):
        body = {"status": status, "code": "locked_out", "message": lockout_message(), "retry_after": retry_after}
        response: HttpResponse = JsonResponse({"error": body}, status=status)
    else:
        response = render(request, "registration/locked_out.html", {"message": lockout_message()}, status=status)
    response["Retry-After"] = str(retry_after)
    return response
