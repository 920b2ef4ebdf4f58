"""htmx requests whose session expired: send the browser to the login page instead of swapping
the login page into the current one.

login_required answers a redirect to the login page; an XMLHttpRequest would follow it and htmx
would swap the whole login page into the lead panel (the typed note lost). For an htmx request
that redirect becomes HX-Redirect to the login page with `next` set to the page the user is on
(not the POST-only endpoint), and static/js/app.js keeps the form's text in sessionStorage
until it is sent again.
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
    current = request.headers.get("HX-Current-URL", "")
    if current and url_has_allowed_host_and_scheme(current, allowed_hosts={request.get_host()}):
        parts = urlsplit(current)
        return parts.path + (f"?{parts.query}" if parts.query else "")
    return "/"


class HtmxLoginRedirectMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            request.headers.get("HX-Request") == "true"
            and response.status_code in (301, 302)
            and urlsplit(response["Location"]).path == resolve_url(settings.LOGIN_URL)
        ):
            login = redirect_to_login(htmx_current_page(request))
            return HttpResponseClientRedirect(login.url)
        return response
