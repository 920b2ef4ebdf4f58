"""htmx requests whose session expired: send the browser to the login page instead of swapping
the login page into the current one.

login_required answers a redirect to the login page; an XMLHttpRequest would follow it and htmx
would swap the whole login page into the lead panel (the typed note lost). For an htmx request
that redirect becomes HX-Redirect to the login page with `next` set to the page the user is on
(not the POST-only endpoint), and static/js/app.js keeps the form's text in sessionStorage
until it is sent again. A plain form POST that meets an expired session likewise comes back, after
logging in, to the page the form was on (its Referer), not to a POST-only URL that would answer 405.
"""

from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import resolve_url
from django.utils.http import url_has_allowed_host_and_scheme
from django_htmx.http import HttpResponseClientRedirect


def htmx_current_page(request: HttpRequest) -> str:
    """The path (and query) of the page an htmx request came from, or "/" when it is unknown
    or on another host."""
    return _same_host_path(request, request.headers.get("HX-Current-URL", ""))


def _same_host_path(request: HttpRequest, current: str) -> str:
    if current and url_has_allowed_host_and_scheme(current, allowed_hosts={request.get_host()}):
        parts = urlsplit(current)
        return parts.path + (f"?{parts.query}" if parts.query else "")
    return "/"


class HtmxLoginRedirectMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code not in (301, 302) or urlsplit(response["Location"]).path != resolve_url(
            settings.LOGIN_URL
        ):
            return response
        if request.headers.get("HX-Request") == "true":
            return HttpResponseClientRedirect(redirect_to_login(htmx_current_page(request)).url)
        if request.method == "POST":
            return redirect_to_login(_same_host_path(request, request.headers.get("Referer", "")))
        return response
