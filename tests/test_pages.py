"""The pages around the pages: styled error pages (DEBUG off, as pytest-django runs), the CSRF
failure answered in place on htmx, expired sessions on htmx, the favicon, the confirm pattern."""

import pytest
from django.contrib.auth.models import AnonymousUser
from django.test import Client, RequestFactory
from django.urls import reverse

from leadcrm.confirm import confirm_page
from tests.factories import LeadFactory

pytestmark = pytest.mark.django_db


def _assert_styled(response, code: int, *texts: str) -> None:
    page = response.content.decode()
    assert response.status_code == code
    assert 'topbar"' in page and "Back to the work queue" in page  # the header and a way back
    assert page.count("<h1") == 1
    for text in texts:
        assert text in page
    assert "URLconf" not in page and "Traceback" not in page  # never Django's debug pages


def test_debug_is_off_in_tests(settings):
    assert settings.DEBUG is False


def test_404_is_the_styled_page_without_url_patterns(rep_client):
    _assert_styled(rep_client.get("/no/such/page/"), 404, "There is nothing here")
    _assert_styled(rep_client.get("/leads/999999/"), 404)


def test_403_is_styled_with_the_reason(rep_client):
    _assert_styled(rep_client.get("/models/"), 403, "Only managers can see models.")


def test_400_page_is_styled(rf):
    from django.views import defaults

    request = rf.get("/")
    request.user = AnonymousUser()
    _assert_styled(defaults.bad_request(request, exception=None), 400, "could not be understood")


def test_500_page_is_styled_and_renders_without_a_request_context():
    from django.views import defaults

    response = defaults.server_error(RequestFactory().get("/"))
    _assert_styled(response, 500, "Something went wrong")


def test_an_unhandled_error_answers_the_styled_500(rep, settings, monkeypatch):
    from leads import views

    def boom(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(views.selectors, "queue_for", boom)
    client = Client(raise_request_exception=False)
    client.force_login(rep)
    _assert_styled(client.get(reverse("leads:queue")), 500, "Something went wrong")


def test_csrf_failure_on_a_full_page_is_the_styled_403(rep):
    client = Client(enforce_csrf_checks=True)
    client.force_login(rep)
    lead = LeadFactory(owner=rep)
    response = client.post(reverse("leads:activity_create", args=[lead.pk]), {"kind": "call", "notes": "hi"})
    _assert_styled(response, 403, "This form has expired")


def test_csrf_failure_on_htmx_is_a_message_for_the_form(rep):
    client = Client(enforce_csrf_checks=True)
    client.force_login(rep)
    lead = LeadFactory(owner=rep)
    page_url = f"http://testserver/leads/{lead.pk}/"
    response = client.post(
        reverse("leads:activity_create", args=[lead.pk]),
        {"kind": "call", "notes": "hi"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_CURRENT_URL=page_url,
    )
    assert response.status_code == 403 and response["X-Session-Expired"] == "1"
    body = response.content.decode()
    assert "Your session expired" in body and "what you typed is kept" in body
    assert f"/login/?next=/leads/{lead.pk}/" in body
    assert "<html" not in body  # a fragment for the form, not a page


def test_expired_session_on_htmx_redirects_to_login_with_the_page_as_next(client, rep):
    lead = LeadFactory(owner=rep)
    response = client.post(
        reverse("leads:activity_create", args=[lead.pk]),
        {"kind": "call", "notes": "my note"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_CURRENT_URL=f"http://testserver/leads/{lead.pk}/?queue=tier%3Dhot",
    )
    assert response.status_code == 200
    assert response["HX-Redirect"] == f"/login/?next=/leads/{lead.pk}/%3Fqueue%3Dtier%253Dhot"
    assert response.content == b""  # nothing for htmx to swap in


def test_expired_session_on_htmx_from_another_host_goes_to_the_queue(client, rep):
    lead = LeadFactory(owner=rep)
    response = client.post(
        reverse("leads:status_change", args=[lead.pk]),
        {"status": "contacted"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_CURRENT_URL="https://evil.example/phish",
    )
    assert response["HX-Redirect"] == "/login/?next=/"


def test_plain_requests_keep_the_ordinary_login_redirect(client):
    response = client.get(reverse("leads:queue"))
    assert response.status_code == 302 and "HX-Redirect" not in response


def test_favicon(client, rep_client):
    response = client.get("/favicon.ico")
    assert response.status_code == 301 and response.url.endswith("favicon.svg")
    page = rep_client.get(reverse("leads:queue")).content.decode()
    assert 'rel="icon"' in page


def test_confirm_page_says_what_happens_and_posts_back(rf, rep):
    request = rf.get("/bulk/assign/")
    request.user = rep
    response = confirm_page(
        request,
        title="Assign 12 leads?",
        what_happens=["Moves 12 leads to Alice Smith."],
        submit_label="Assign 12 leads",
        cancel_url="/",
        fields={"ids": "1,2,3"},
    )
    page = response.content.decode()
    assert "Moves 12 leads to Alice Smith." in page
    assert 'action="/bulk/assign/"' in page and 'name="ids" value="1,2,3"' in page
    assert page.count("<h1") == 1


def test_a_plain_post_with_an_expired_session_returns_to_the_form_page_after_login(client, rep):
    lead = LeadFactory(owner=rep)
    response = client.post(
        reverse("leads:activity_create", args=[lead.pk]),
        {"kind": "call"},
        HTTP_REFERER=f"http://testserver/leads/{lead.pk}/",
    )
    assert response.status_code == 302 and response.url == f"/login/?next=/leads/{lead.pk}/"
