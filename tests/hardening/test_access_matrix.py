"""Every route of the project, as every kind of caller, on a lived-in database: never a 500, and
every HTML form refuses a POST without its CSRF token.

tests/api/test_access_control.py says WHO may reach each route (its ROUTES table, which fails
when a new route is not registered). This module reuses that table and asks a different
question of every route: does it hold up for anonymous callers, two reps, a manager and an admin,
with GET and an empty or junk POST, on data that looks like a deployment's (demo leads with
activities, follow-ups, notifications, spend without a recorder, a trained model with its
training run, an import job)? A 500 anywhere is a bug; so is an HTML POST that works without
the CSRF token.
"""

import pytest
from django.test import Client

from leads.demo import demo_data_create
from leads.models import ImportJob, Lead, Notification, SavedView, Spend, User
from tests.api.test_access_control import ROUTES, Rule, is_exempt, project_routes, send, url_for
from tests.factories import ActivityFactory, FollowUpFactory, LeadFactory
from tests.scoring.conftest import rescore_all

pytestmark = pytest.mark.django_db

JUNK = {"status": "<bogus>", "rep": "abc", "pk": "-1", "ids": "1,x", "score": "1e999", "due_at": "31/31/31",
        "month": "0000-00", "amount": "NaN", "action": "\x00", "version": "'", "threshold": "inf"}  # fmt: skip


@pytest.fixture
def world(db):
    """The demo's users and leads, a trained and active model, and the odd rows a real database has."""
    from scoring import training_runs

    demo_data_create(leads=240, seed=3)
    training_runs.model_train(folds=3)
    rescore_all()
    users = {u.username: u for u in User.objects.filter(username__in=["alice", "bob", "manager", "admin"])}
    Spend.objects.create(month="2019-01-01", source="Legacy Fair", amount="5.00", recorded_by=None)
    for user in users.values():
        Notification.objects.create(user=user, kind="lead_assigned", title="A lead for you")
        SavedView.objects.create(user=user, name="Mine", query="tier=hot")
    ImportJob.objects.create(file="imports/x.csv", original_name="x.csv", status=ImportJob.Status.FAILED)
    return users


def alices_lead(users) -> Lead:
    """A fresh lead of Alice's with a timeline, so a POST that closes or erases it spoils no other route."""
    lead = LeadFactory(owner=users["alice"])
    ActivityFactory(lead=lead, user=users["alice"], kind="call", notes="spoke")
    FollowUpFactory(lead=lead, assigned_to=users["alice"], note="call back")
    return lead


def params_for(route: str, rule: Rule, users) -> dict:
    if rule.kind == "lead":
        lead = alices_lead(users)
        return {rule.lead_kwarg: lead.pk, **(rule.nested(lead) if rule.nested else {})}
    return {name: value() if callable(value) else value for name, value in rule.params.items()}


ROLES = (None, "alice", "bob", "manager", "admin")
CHECKED = sorted(r for r in ROUTES if r != "metrics")  # metrics: refuses by address, see tests/test_metrics.py


def test_the_table_covers_every_route():
    assert {r for r in project_routes() if not is_exempt(r)} == set(ROUTES)


def test_no_route_answers_500_to_any_caller(world):
    failures = []
    for route in CHECKED:
        rule = ROUTES[route]
        shared = None if rule.kind == "lead" else params_for(route, rule, world)  # objects made once
        for who in ROLES:
            client = Client(raise_request_exception=False)
            if who:
                client.force_login(world[who])
            url = url_for(route, **(shared if shared is not None else params_for(route, rule, world)))
            for method, data in (("GET", None), ("POST", None), ("POST", JUNK)):
                if data is None:
                    response = send(client, method, url, api=rule.api)
                elif rule.api:
                    response = client.post(url, data, content_type="application/json")
                else:
                    response = client.post(url, data)
                # /health/ answers 503 by design when a dependency is down (tests/test_health.py)
                if response.status_code >= 500 and route != "health/":
                    failures.append(
                        f"{who or 'anonymous'} {method} {url} {'junk' if data else ''}: {response.status_code}"
                    )
    assert failures == []


def test_admin_pages_never_answer_500_to_an_admin(world):
    from django.contrib import admin

    client = Client(raise_request_exception=False)
    admin_user = world["admin"]
    admin_user.is_staff = admin_user.is_superuser = True
    admin_user.save()
    client.force_login(admin_user)
    failures = []
    for model, _model_admin in admin.site._registry.items():
        meta = model._meta
        base = f"/admin/{meta.app_label}/{meta.model_name}/"
        urls = [base, f"{base}?q=%27%3C", f"{base}add/"]
        first = model._default_manager.order_by("pk").first()
        if first is not None:
            urls.append(f"{base}{first.pk}/change/")
        for url in urls:
            status = client.get(url).status_code
            if status >= 500:
                failures.append(f"GET {url}: {status}")
    assert failures == []


HTML_POST_ROUTES = sorted(r for r, rule in ROUTES.items() if "POST" in rule.methods and not r.startswith("api/"))


def a_lead_of(user) -> dict:
    return {"pk": LeadFactory(owner=user).pk}


def csrf_checked_client_for(route, rep, admin_user) -> tuple[Client, str]:
    """A client that enforces CSRF, signed in with every right to `route` (the owner of its lead, or
    an admin), and the route's URL."""
    rule = ROUTES[route]
    user = rep if rule.kind == "lead" else admin_user
    params = a_lead_of(rep) if rule.kind == "lead" else {k: v() if callable(v) else v for k, v in rule.params.items()}
    if rule.nested:
        params.update(rule.nested(Lead.objects.get(pk=params["pk"])))
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client, url_for(route, **params)


@pytest.mark.parametrize("route", HTML_POST_ROUTES)
def test_every_html_post_needs_the_csrf_token(route, rep, admin_user):
    """Signed in with every right (an admin, or the lead's owner), a POST without the token is refused."""
    client, url = csrf_checked_client_for(route, rep, admin_user)
    before = Lead.objects.count(), User.objects.filter(is_active=True).count()
    response = client.post(url, {"status": "lost", "name": "x", "lost_reason": "x"})
    assert response.status_code == 403, f"POST {route} without a CSRF token: {response.status_code}"
    assert (Lead.objects.count(), User.objects.filter(is_active=True).count()) == before


API_POST_ROUTES = sorted(r for r, rule in ROUTES.items() if rule.api and "POST" in rule.methods)


@pytest.mark.parametrize("route", API_POST_ROUTES)
def test_api_posts_with_a_session_need_the_csrf_token(route, rep, admin_user):
    """DRF's SessionAuthentication: a browser session alone cannot make an API write (a token can)."""
    client, url = csrf_checked_client_for(route, rep, admin_user)
    response = client.post(url, "{}", content_type="application/json")
    assert response.status_code == 403, f"POST {route} with a session and no CSRF token: {response.status_code}"
    assert "CSRF" in response.content.decode()
