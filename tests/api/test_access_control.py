"""Table-driven access control over EVERY route of the project (HTML pages and API).

`ROUTES` below says, for each route of django.urls.get_resolver(), what access it must enforce:

- lead(...)        the route takes a lead id (`pk`, else say lead_kwarg=), maybe a nested object too. A rep asking for
                   ANOTHER rep's lead, with every HTTP method, gets 403/404 (405 for methods the
                   route does not serve) and the database does not change. A manager reaching the
                   same URL does not get 404, so the URL really points at the lead.
- signed_in(...)   no lead in the URL, any signed-in user. Anonymous callers are sent to the
                   login page (HTML) or get 401/403 (API). A rep's GET, even with
                   ?owner=<other rep>&search=<their lead>, never shows another rep's lead.
- role(...)        like signed_in, but only managers / admins: a rep (and, for "admin", a
                   manager) gets 403/404 (or the login page) and changes nothing, while the role
                   itself can GET it. Ids in the URL: role("admin", "GET", pk=import_job) with a
                   function that creates the object (see import_job / model_version below).
- public(reason)   anyone may call it (login page, API docs). Still checked to leak no lead.
- EXEMPT_PREFIXES  whole trees with their own access control (Django admin), with the reason.

Adding a route? test_every_route_is_registered fails until you add its full route string
(as printed in the failure, e.g. "api/v1/leads/<int:pk>/score/") to ROUTES with one of the
helpers above. A route whose URL has a lead id MUST use lead(); give `nested=` a function
that creates the nested object on a lead and returns {"<url kwarg>": id} when the URL has
a second id (see the follow-up routes).
"""

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from django.apps import apps
from django.urls import URLPattern, URLResolver, get_resolver

from tests.factories import ActivityFactory, FollowUpFactory, LeadFactory

MARKER = "zz-secret-lead-of-bob"
ALL_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


@dataclass(frozen=True)
class Rule:
    kind: str  # lead, signed_in, role, public
    methods: tuple[str, ...] = ("GET",)
    api: bool = False
    role: str = ""  # role routes: "manager" or "admin"
    nested: Callable | None = None  # lead routes: makes {"kwarg": id} for a nested object of a lead
    lead_kwarg: str = "pk"  # lead routes: the URL kwarg holding the lead id
    params: dict = field(default_factory=dict)  # other URL kwargs: values, or functions making an object
    reason: str = ""
    setup: Callable | None = None  # public routes: brings about the state the route reports on


def lead(*methods: str, api: bool = False, nested: Callable | None = None, lead_kwarg: str = "pk") -> Rule:
    return Rule("lead", methods=methods or ("GET",), api=api, nested=nested, lead_kwarg=lead_kwarg)


def signed_in(*methods: str, api: bool = False, **params) -> Rule:
    return Rule("signed_in", methods=methods or ("GET",), api=api, params=params)


def role(name: str, *methods: str, api: bool = False, **params) -> Rule:
    return Rule("role", methods=methods or ("GET",), api=api, role=name, params=params)


def public(reason: str, *methods: str, setup: Callable | None = None, **params) -> Rule:
    return Rule("public", methods=methods or ("GET",), reason=reason, setup=setup, params=params)


def processes_alive() -> None:
    """Heartbeats of a worker on every queue and of beat, as a running deployment records them."""
    from leadcrm import heartbeats

    heartbeats.worker_heartbeat_record(queues=["imports", "scoring", "default"], hostname="test@host")
    heartbeats.beat_tick_record()


def follow_up_of(lead_obj) -> dict:
    return {"follow_up_pk": FollowUpFactory(lead=lead_obj).pk}


# Real objects for ids in role routes, so a refusal is not just "no such object".
def import_job() -> int:
    from leads.models import ImportJob

    return ImportJob.objects.create(file="imports/x.csv", original_name="x.csv").pk


def model_version() -> int:
    from scoring.models import ModelVersion

    return ModelVersion.objects.create(algorithm="logistic").pk


def training_run() -> int:
    from scoring.models import TrainingRun

    return TrainingRun.objects.create().pk


def a_rep() -> int:
    from tests.factories import RepFactory

    return RepFactory(username="rep_carol").pk


def bobs_notification() -> int:
    """A notification of the other rep (rep_bob): a rep opening it by id gets 404."""
    from leads.models import Notification
    from tests.factories import RepFactory

    bob = RepFactory(username="rep_bob")
    return Notification.objects.create(user=bob, kind="lead_assigned", title=MARKER).pk


def bobs_saved_view() -> int:
    from leads.models import SavedView
    from tests.factories import RepFactory

    return SavedView.objects.create(user=RepFactory(username="rep_bob"), name=MARKER, query="").pk


API = "api/v1/"

ROUTES: dict[str, Rule] = {
    # --- pages (leads/urls.py) ---
    "": signed_in("GET"),
    "count/": signed_in("GET"),  # the user's own queue only (selectors.queue_leads_matching)
    "claim/": signed_in("POST"),
    # Bulk changes name their leads in the POST body: leads_bulk_update 404s another rep's
    # (tests/leads/test_bulk_changes.py, test_views.py). Saved views are their owner's only.
    "bulk/": signed_in("POST"),
    "views/": signed_in("POST"),
    "views/<int:pk>/delete/": signed_in("POST", pk=lambda: bobs_saved_view()),
    "leads/<int:pk>/": lead("GET"),
    "leads/<int:pk>/claim/": lead("POST"),
    "leads/<int:pk>/activities/": lead("POST"),
    "leads/<int:pk>/follow-ups/": lead("POST"),
    "leads/<int:pk>/follow-ups/<int:follow_up_pk>/done/": lead("POST", nested=follow_up_of),
    "leads/<int:pk>/status/": lead("POST"),
    "leads/<int:pk>/assign/": lead("POST"),
    # data-protection duties (leads/privacy_views.py): admins only, so a manager is refused too
    "leads/<int:pk>/personal-data/": lead("GET"),
    "leads/<int:pk>/erase/": lead("POST"),
    "audit/": role("admin", "GET"),
    "favicon.ico": public("a redirect to the static icon", "GET"),
    "login/": public("the sign-in form", "GET"),
    # --- the sales team's day (issue 16): lead forms, a rep's own page, notifications, users, routing ---
    "leads/new/": signed_in("GET", "POST"),
    "leads/<int:pk>/edit/": lead("GET", "POST"),
    "leads/<int:pk>/merge/": lead("POST"),
    "me/": signed_in("GET"),
    "notifications/": signed_in("GET"),
    "notifications/badge/": signed_in("GET"),
    "notifications/read-all/": signed_in("POST"),
    "notifications/settings/": signed_in("GET", "POST"),
    "notifications/<int:pk>/open/": signed_in("POST", pk=bobs_notification),
    "users/": role("admin", "GET"),
    "users/new/": role("admin", "POST"),
    "users/<int:pk>/": role("admin", "GET", "POST", pk=a_rep),
    "users/<int:pk>/deactivate/": role("admin", "POST", pk=a_rep),
    "users/<int:pk>/reactivate/": role("admin", "POST", pk=a_rep),
    "routing/": role("admin", "GET", "POST"),
    "password-reset/": public(
        "asks for a reset link by email; says the same whether the address exists", "GET", "POST"
    ),
    "password-reset/sent/": public("a static 'check your email' page"),
    "password-reset/<uidb64>/<token>/": public("needs a valid one-time token to do anything", uidb64="MQ", token="x-y"),
    "password-reset/done/": public("a static 'password set' page"),
    "health/": public(
        "the load balancer's health check: names failing dependencies, holds no data", "GET", setup=processes_alive
    ),
    "metrics": public("Prometheus metrics, for allow-listed addresses or the token (tests/test_metrics.py)", "GET"),
    "logout/": public("signing out needs no rights", "POST"),
    # --- API v1 (leads/api.py) ---
    f"{API}leads/": signed_in("GET", "POST", api=True),
    f"{API}leads/bulk/": role("admin", "POST", api=True),
    f"{API}follow-ups/": signed_in("GET", api=True),
    f"{API}leads/<int:pk>/": lead("GET", "PUT", "PATCH", api=True),
    f"{API}leads/<int:pk>/claim/": lead("POST", api=True),
    f"{API}leads/<int:pk>/assign/": lead("POST", api=True),
    f"{API}leads/<int:pk>/close/": lead("POST", api=True),
    f"{API}leads/<int:pk>/status/": lead("POST", api=True),
    f"{API}leads/<int:pk>/activities/": lead("GET", "POST", api=True),
    f"{API}leads/<int:pk>/follow-ups/": lead("GET", "POST", api=True),
    f"{API}leads/<int:pk>/follow-ups/<int:follow_up_pk>/complete/": lead("POST", api=True, nested=follow_up_of),
    # data-protection duties (leads/privacy_api.py): admins only
    f"{API}leads/<int:pk>/personal-data/": lead("GET", api=True),
    f"{API}leads/<int:pk>/erase/": lead("POST", api=True),
    f"{API}auth/token/": public(
        "exchanges a username and password for a token; throttled per IP, locked out by django-axes", "POST"
    ),
    f"{API}schema/": signed_in("GET", api=True),
    f"{API}docs/": signed_in("GET"),
    "^api/": public("any other /api/ path: a JSON 404, serves nothing"),
    # --- imports (leads/importing): admins only ---
    f"{API}imports/": role("admin", "GET", "POST", api=True),
    f"{API}imports/<int:pk>/": role("admin", "GET", api=True, pk=import_job),
    f"{API}imports/<int:pk>/resume/": role("admin", "POST", api=True, pk=import_job),
    f"{API}imports/<int:pk>/errors.csv": role("admin", "GET", api=True, pk=import_job),
    "imports/": role("admin", "GET", "POST"),
    "imports/<int:pk>/": role("admin", "GET", pk=import_job),
    "imports/<int:pk>/resume/": role("admin", "POST", pk=import_job),
    "imports/<int:pk>/errors.csv": role("admin", "GET", pk=import_job),
    # The import wizard (issue 14).
    "imports/new/": role("admin", "GET", "POST"),
    "imports/new/map/": role("admin", "GET", "POST"),
    "imports/new/outcomes/": role("admin", "GET", "POST"),
    "imports/new/columns/": role("admin", "GET", "POST"),
    "imports/new/preview/": role("admin", "GET", "POST"),
    # --- reports (leads/reports): managers ---
    "reports/": role("manager", "GET"),
    "reports/conversion/": role("manager", "GET"),
    "reports/funnel/": role("manager", "GET"),
    "reports/reps/": role("manager", "GET"),
    "reports/channels/": role("manager", "GET"),
    "reports/channels/spend/": role("admin", "GET", "POST"),
    "reports/model/": role("manager", "GET"),
    "reports/drift/": role("manager", "GET"),
    # --- scoring (scoring/api.py, scoring/urls.py) ---
    f"{API}leads/<int:pk>/score-history/": lead("GET", api=True),
    f"{API}score/": signed_in("POST", api=True),
    f"{API}models/": role("manager", "GET", api=True),
    f"{API}models/<int:pk>/": role("manager", "GET", api=True, pk=model_version),
    f"{API}models/<int:pk>/activate/": role("admin", "POST", api=True, pk=model_version),
    f"{API}models/retrain/": role("admin", "POST", api=True),
    f"{API}models/runs/<int:pk>/": role("manager", "GET", api=True, pk=training_run),
    "models/": role("manager", "GET"),
    "models/compare/": role("manager", "GET"),
    "models/<int:pk>/": role("manager", "GET", pk=model_version),
    "models/<int:pk>/activate/": role("admin", "GET", "POST", pk=model_version),  # GET: the confirmation
    "models/<int:pk>/threshold/": role("admin", "POST", pk=model_version),
    "models/retrain/": role("admin", "GET", "POST"),  # GET: the confirmation
    "models/rollback/": role("admin", "GET", "POST"),
    "models/settings/": role("admin", "POST"),
    "models/runs/<int:pk>/": role("manager", "GET", pk=training_run),
    "models/leads/<int:pk>/override/": lead("POST"),
    "models/leads/<int:pk>/override/clear/": lead("POST"),
}

EXEMPT_PREFIXES = {
    "admin/": "Django admin: staff-only by AdminSite; XSS in admin pages is covered in tests/test_security.py",
}


# --- walking the resolver -----------------------------------------------------------------------


def project_routes() -> list[str]:
    def walk(patterns, prefix: str):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                yield prefix + str(pattern.pattern)

    return sorted(set(walk(get_resolver().url_patterns, "")))


def is_exempt(route: str) -> bool:
    return any(route.startswith(prefix) for prefix in EXEMPT_PREFIXES)


_PARAM = re.compile(r"<(?:(?P<converter>\w+):)?(?P<name>\w+)>")


def url_for(route: str, **params) -> str:
    def substitute(match):
        name = match.group("name")
        if name not in params:
            raise AssertionError(f"{route!r}: no value for <{name}>; give it in the ROUTES entry")
        return str(params[name])

    return "/" + _PARAM.sub(substitute, route)


def database_snapshot() -> dict:
    """Every row of every CRM table, to prove a refused request changed nothing."""
    snapshot = {}
    for label in ("leads", "scoring", "authtoken"):
        for model in apps.get_app_config(label).get_models():
            if model._meta.label == "leads.AuditEntry":
                # The audit trail records requests (force_login()'s login, an admin's export), not CRM
                # data; what it records, and that refusals record nothing, is tests/leads/test_audit.py.
                continue
            rows = list(model.objects.order_by("pk").values())
            for row in rows:
                row.pop("last_login", None)  # force_login() stamps it; not the request under test
            snapshot[model._meta.label] = rows
    return snapshot


def send(client, method: str, url: str, *, api: bool):
    if api:
        return client.generic(method, url, "{}", content_type="application/json")
    return getattr(client, method.lower())(url)


def refused_anonymously(response, *, api: bool) -> bool:
    if response.status_code in (401, 403, 405):
        return True
    return not api and response.status_code == 302 and response["Location"].startswith("/login/")


def refused(response) -> bool:
    if response.status_code in (403, 404):
        return True
    return response.status_code == 302 and "/login/" in response["Location"]


@pytest.fixture(autouse=True)
def _singleton_rows(db):
    """Settings singletons (Model.load()) are created on first read; make them before any snapshot."""
    for label in ("leads", "scoring"):
        for model in apps.get_app_config(label).get_models():
            if callable(getattr(model, "load", None)):
                model.load()


@pytest.fixture
def bobs_lead(other_rep):
    """Another rep's lead; the marker is in its fields and in its nested activity and follow-up."""
    lead = LeadFactory(owner=other_rep, name=MARKER, email=f"{MARKER}@example.com", company=MARKER)
    ActivityFactory(lead=lead, user=other_rep, kind="note", notes=MARKER)
    FollowUpFactory(lead=lead, assigned_to=other_rep, note=MARKER)
    return lead


# --- the tests --------------------------------------------------------------------------------------


def test_every_route_is_registered():
    routes = [r for r in project_routes() if not is_exempt(r)]
    missing = [r for r in routes if r not in ROUTES]
    assert not missing, (
        "Routes without an access-control rule in tests/api/test_access_control.py ROUTES "
        f"(see the module docstring for how to register one): {missing}"
    )
    stale = [r for r in ROUTES if r not in routes]
    assert not stale, f"ROUTES lists routes that no longer exist: {stale}"


def test_every_lead_route_is_registered_as_a_lead_route():
    for route in project_routes():
        if is_exempt(route) or route not in ROUTES:
            continue
        takes_lead = re.search(r"leads?/<(int:)?pk>|<(int:)?lead_(id|pk)>", route) is not None
        assert takes_lead == (ROUTES[route].kind == "lead"), f"{route!r} must be registered with lead()"


LEAD_ROUTES = sorted(r for r, rule in ROUTES.items() if rule.kind == "lead")
OTHER_ROUTES = sorted(r for r, rule in ROUTES.items() if rule.kind != "lead")


@pytest.mark.parametrize("route", LEAD_ROUTES)
def test_rep_cannot_reach_another_reps_lead(route, client, rep, manager, bobs_lead):
    rule = ROUTES[route]
    my_lead = LeadFactory(owner=rep)
    key = rule.lead_kwarg
    variants = [{key: bobs_lead.pk}]
    if rule.nested:
        # The other rep's nested object, through their lead and smuggled under the rep's own lead.
        nested = rule.nested(bobs_lead)
        variants = [{key: bobs_lead.pk, **nested}, {key: my_lead.pk, **nested}]
    client.force_login(rep)
    before = database_snapshot()
    for params in variants:
        url = url_for(route, **params)
        for method in ALL_METHODS:
            response = send(client, method, url, api=rule.api)
            allowed = (403, 404) if method in rule.methods else (403, 404, 405)
            if method == "OPTIONS":
                allowed = (200, 403, 404, 405)  # DRF describes the endpoint, never the lead
            elif method == "HEAD" and "GET" in rule.methods and rule.api:
                allowed = (403, 404)  # (Django's require_GET pages answer HEAD with 405)
            assert response.status_code in allowed, f"{method} {url} as a rep: {response.status_code}"
            assert MARKER not in response.content.decode(errors="replace"), f"{method} {url} leaked the lead"
    assert database_snapshot() == before, f"{route}: a refused request changed the database"

    # The same URL works for a manager, so the 404s above were about access, not a wrong URL.
    client.force_login(manager)
    for method in rule.methods:
        response = send(client, method, url_for(route, **variants[0]), api=rule.api)
        assert response.status_code not in (404, 405), f"{method} {route} as a manager: {response.status_code}"


@pytest.mark.parametrize("route", LEAD_ROUTES)
def test_anonymous_cannot_reach_a_lead(route, client, bobs_lead):
    rule = ROUTES[route]
    params = {rule.lead_kwarg: bobs_lead.pk, **(rule.nested(bobs_lead) if rule.nested else {})}
    before = database_snapshot()
    for method in ALL_METHODS:
        response = send(client, method, url_for(route, **params), api=rule.api)
        assert refused_anonymously(response, api=rule.api), f"anonymous {method} {route}: {response.status_code}"
    assert database_snapshot() == before


@pytest.mark.parametrize("route", OTHER_ROUTES)
def test_routes_without_a_lead(route, client, rep, manager, admin_user, bobs_lead):
    rule = ROUTES[route]
    url = url_for(route, **{name: value() if callable(value) else value for name, value in rule.params.items()})
    before = database_snapshot()

    if rule.kind != "public":
        for method in rule.methods:
            response = send(client, method, url, api=rule.api)
            assert refused_anonymously(response, api=rule.api), f"anonymous {method} {url}: {response.status_code}"

    client.force_login(rep)
    if rule.kind == "role":
        for method in rule.methods:
            response = send(client, method, url, api=rule.api)
            assert refused(response), f"rep {method} {url}: {response.status_code}"
        if rule.role == "admin":
            client.force_login(manager)
            for method in rule.methods:
                response = send(client, method, url, api=rule.api)
                assert refused(response), f"manager {method} {url}: {response.status_code}"
        # The role it is meant for can read it, so the refusals above were about the role.
        if "GET" in rule.methods:
            client.force_login(admin_user if rule.role == "admin" else manager)
            response = client.get(url)
            assert not refused(response) and response.status_code < 400, (
                f"{rule.role} GET {url}: {response.status_code}"
            )
    elif "GET" in rule.methods:
        if rule.setup:
            rule.setup()
        # Filters can narrow what a rep sees, never widen it.
        # (A substring of the marker: a page may echo the search box back, never the lead.)
        query = {"owner": bobs_lead.owner_id, "search": MARKER[3:-3], "q": MARKER[3:-3], "status": "new"}
        response = client.get(url, query)
        assert response.status_code < 500
        assert MARKER not in response.content.decode(errors="replace"), f"{url} showed another rep's lead"
    assert database_snapshot() == before


def test_admin_pages_are_closed_to_reps_and_managers(client, rep, manager, bobs_lead):
    for user in (None, rep, manager):
        if user:
            client.force_login(user)
        for url in ("/admin/", f"/admin/leads/lead/{bobs_lead.pk}/change/", "/admin/leads/lead/"):
            response = client.get(url)
            assert response.status_code == 302 and response["Location"].startswith("/admin/login/"), url
