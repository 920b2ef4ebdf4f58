"""XSS: HTML and script in every lead field, attribute, reason, note and user name are escaped on
every page (queue, detail, reports, admin); the API returns them as JSON data, never as HTML."""

import json

import pytest
from django.utils import timezone

from leads.models import Lead
from tests.api.test_access_control import ROUTES, url_for
from tests.factories import ActivityFactory, FollowUpFactory, LeadFactory, RepFactory

SCRIPT = '<script>alert("xss")</script>'
IMG = "<img src=x onerror=alert(1)>"
PAYLOAD = f'"><{SCRIPT[1:]}{IMG}'
# What must never reach a page unescaped.
RAW = ("<script>alert", "<img src=x onerror")


@pytest.fixture
def hostile_lead(db, admin_user):
    owner = RepFactory(username="mallory", first_name=PAYLOAD, last_name=PAYLOAD)
    lead = LeadFactory(
        owner=owner,
        name=f"Name {PAYLOAD}",
        email="x@example.com",
        phone=PAYLOAD[:60],
        company=f"Co {PAYLOAD}",
        source=f"Src {PAYLOAD}"[:128],
        origin=f"Org {PAYLOAD}"[:128],
        external_id=f"ext {PAYLOAD}",
        lost_reason=PAYLOAD,
        attributes={f"key {PAYLOAD}": f"value {PAYLOAD}", "Visits": 3},
        score=90,
        priority=90,
        tier=Lead.Tier.HOT,
        score_reasons=[{"feature": PAYLOAD, "text": f"Because {PAYLOAD}", "impact": 12.0}],
        score_override_reason=PAYLOAD,
        next_follow_up_at=timezone.now() - timezone.timedelta(hours=1),
    )
    ActivityFactory(lead=lead, user=owner, kind="note", outcome=PAYLOAD[:128], notes=PAYLOAD)
    FollowUpFactory(lead=lead, assigned_to=owner, note=PAYLOAD, due_at=timezone.now() - timezone.timedelta(hours=1))
    return lead


def assert_escaped(response, *, expect_visible: bool = True):
    assert response.status_code == 200, response.status_code
    html = response.content.decode()
    for raw in RAW:
        assert raw not in html, f"unescaped {raw!r} in {response.wsgi_request.path}"
    if expect_visible:
        assert "&lt;script&gt;alert(" in html, f"the payload should be shown, escaped, on {response.wsgi_request.path}"


def test_queue_escapes_lead_fields(client, hostile_lead):
    client.force_login(hostile_lead.owner)
    assert_escaped(client.get("/"))


def test_manager_queue_escapes_lead_and_owner_names(client, manager, hostile_lead):
    client.force_login(manager)
    assert_escaped(client.get("/"))


def test_detail_escapes_fields_attributes_reasons_and_timeline(client, hostile_lead):
    client.force_login(hostile_lead.owner)
    response = client.get(f"/leads/{hostile_lead.pk}/")
    assert_escaped(response)
    html = response.content.decode()
    assert "key &quot;&gt;&lt;script&gt;" in html  # attribute names
    assert "Because &quot;&gt;&lt;script&gt;" in html  # score reasons


def test_detail_htmx_fragment_is_escaped_too(client, hostile_lead):
    client.force_login(hostile_lead.owner)
    assert_escaped(client.get(f"/leads/{hostile_lead.pk}/", HTTP_HX_REQUEST="true"))


@pytest.mark.parametrize(
    "url",
    ["/admin/leads/lead/", "/admin/leads/lead/{pk}/change/", "/admin/leads/activity/", "/admin/leads/followup/"],
)
def test_admin_pages_escape_lead_fields(client, admin_user, hostile_lead, url):
    client.force_login(admin_user)
    assert_escaped(client.get(url.format(pk=hostile_lead.pk)))


def test_every_html_page_escapes_lead_fields(client, admin_user, hostile_lead):
    """Walks every GET page of the route registry (reports and imports included) as an admin."""
    client.force_login(admin_user)
    checked = []
    for route, rule in ROUTES.items():
        if rule.api or "GET" not in rule.methods or rule.kind == "public":
            continue
        params = {rule.lead_kwarg: hostile_lead.pk} if rule.kind == "lead" else dict(rule.params)
        params = {name: value() if callable(value) else value for name, value in params.items()}
        url = url_for(route, **params)
        response = client.get(url)
        if response.status_code != 200 or not response["Content-Type"].startswith("text/html"):
            continue
        assert_escaped(response, expect_visible=False)
        checked.append(url)
    assert "/" in checked and f"/leads/{hostile_lead.pk}/" in checked


def test_api_returns_the_payload_as_json_data(client, admin_user, hostile_lead):
    client.force_login(admin_user)
    response = client.get(f"/api/v1/leads/{hostile_lead.pk}/")
    assert response["Content-Type"].startswith("application/json")
    assert response["X-Content-Type-Options"] == "nosniff"
    body = json.loads(response.content)
    assert body["name"] == f"Name {PAYLOAD}"
    assert body["attributes"][f"key {PAYLOAD}"] == f"value {PAYLOAD}"


def test_api_error_bodies_are_json_even_for_hostile_input(client, admin_user):
    client.force_login(admin_user)
    response = client.get("/api/v1/leads/", {"ordering": SCRIPT})
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/json")


def test_browsable_api_pages_escape_lead_fields(client, admin_user, hostile_lead):
    client.force_login(admin_user)
    for url in (f"/api/v1/leads/{hostile_lead.pk}/", "/api/v1/leads/", f"/api/v1/leads/{hostile_lead.pk}/activities/"):
        response = client.get(url, HTTP_ACCEPT="text/html")
        assert response["Content-Type"].startswith("text/html")
        assert_escaped(response, expect_visible=False)
