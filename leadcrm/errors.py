"""The CSRF failure page. The other error pages are Django's default handlers rendering
templates/400.html, 403.html, 404.html and 500.html (handler404/handler500 answer JSON under
/api/, leadcrm/api_errors.py).

A CSRF failure on a page usually means the session (and its CSRF cookie) expired while the form
was open. On an htmx request the answer is a short message that static/js/app.js shows inside
the form, the typed text kept; on a full page it is the styled 403 page with a way back.
"""

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.template.loader import render_to_string

from leadcrm.htmx import htmx_current_page

SESSION_EXPIRED = "Your session expired — log in again; what you typed is kept."


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    if request.headers.get("HX-Request") == "true":
        login_url = redirect_to_login(htmx_current_page(request)).url
        html = render_to_string(
            "_session_expired.html", {"message": SESSION_EXPIRED, "login_url": login_url}, request=request
        )
        response = HttpResponseForbidden(html)
        response["X-Session-Expired"] = "1"
        return response
    html = render_to_string(
        "403.html",
        {
            "heading": "This form has expired",
            "exception": "The page was open too long or your session ended, so the form was not sent. "
            "Go back, reload the page and send it again.",
        },
        request=request,
    )
    return HttpResponseForbidden(html)
