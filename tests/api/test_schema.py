"""The OpenAPI schema: valid, complete, documented, served with an offline Swagger UI, and
honoured by the API (schemathesis, in-process over WSGI, a bounded deterministic run)."""

import json
import re

import hypothesis
import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.urls import get_resolver
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema
from hypothesis import HealthCheck
from hypothesis import strategies as st
from rest_framework.authtoken.models import Token
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from leads.models import Lead
from tests.factories import ActivityFactory, FollowUpFactory, LeadFactory

EXAMPLES_PER_OPERATION = 20


def generated_schema() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


def test_schema_is_valid_openapi(db):
    validate_schema(generated_schema())


def test_schema_generation_has_no_warnings_or_errors():
    from drf_spectacular.drainage import GENERATOR_STATS

    GENERATOR_STATS.reset()
    generated_schema()
    assert not GENERATOR_STATS._warn_cache, list(GENERATOR_STATS._warn_cache)
    assert not GENERATOR_STATS._error_cache, list(GENERATOR_STATS._error_cache)


def test_schema_documents_every_api_route():
    schema_paths = set(generated_schema()["paths"])
    api_routes = []

    def walk(patterns, prefix):
        for pattern in patterns:
            if hasattr(pattern, "url_patterns"):
                walk(pattern.url_patterns, prefix + str(pattern.pattern))
            else:
                api_routes.append(prefix + str(pattern.pattern))

    walk(get_resolver().url_patterns, "")
    undocumented = []
    for route in api_routes:
        if not route.startswith("api/v1/") or route in ("api/v1/schema/", "api/v1/docs/"):
            continue
        path = "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda m: "{" + ("id" if m[1] == "pk" else m[1]) + "}", route)
        if path not in schema_paths:
            undocumented.append(route)
    assert not undocumented


def test_every_operation_has_a_summary_and_documents_errors():
    undocumented, no_errors = [], []
    for path, operations in generated_schema()["paths"].items():
        for method, operation in operations.items():
            if not (operation.get("summary") or operation.get("description")):
                undocumented.append(f"{method.upper()} {path}")
            if not {"401", "403", "404"} <= set(operation["responses"]):
                no_errors.append(f"{method.upper()} {path}")
    assert not undocumented, f"give these a summary (@extend_schema(summary=...)) or a docstring: {undocumented}"
    assert not no_errors


def test_lead_operations_have_examples():
    schema = generated_schema()
    create = schema["paths"]["/api/v1/leads/"]["post"]["requestBody"]["content"]["application/json"]
    assert create["examples"]
    bulk = schema["paths"]["/api/v1/leads/bulk/"]["post"]["requestBody"]["content"]["application/json"]
    assert bulk["examples"]


def test_schema_and_docs_require_login(client):
    assert client.get("/api/v1/schema/").status_code in (401, 403)
    docs = client.get("/api/v1/docs/")
    assert docs.status_code == 302 and docs["Location"].startswith("/login/")


def test_schema_endpoint_serves_json(client, rep):
    client.force_login(rep)
    response = client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    assert "/api/v1/leads/" in json.loads(response.content)["paths"]


def test_swagger_ui_loads_its_assets_from_static_not_a_cdn(client, rep):
    client.force_login(rep)
    response = client.get("/api/v1/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html)
    assert any(a.startswith("/static/drf_spectacular_sidecar/swagger-ui-dist/") for a in assets), assets
    for asset in assets:
        assert not asset.startswith(("http://", "https://", "//")), f"external asset {asset}"
        if asset.startswith("/static/"):
            assert client.get(asset).status_code == 200, asset
    assert "cdn" not in html.lower()


# --- schemathesis ------------------------------------------------------------------------------------

_seeded: dict[str, list[int]] = {"id": [], "follow_up_pk": []}


@pytest.fixture
def api_schema(_wsgi_keeps_the_test_connection, manager):
    """The served schema, called in-process (WSGI) as a manager with real ids to hit."""
    leads = [LeadFactory(owner=manager, attributes={"TotalVisits": 3}) for _ in range(3)] + [LeadFactory()]
    closed = LeadFactory(owner=manager, status=Lead.Status.LOST, lost_reason="Budget")
    ActivityFactory(lead=leads[0])
    follow_up = FollowUpFactory(lead=leads[0])
    _seeded["id"] = [lead.pk for lead in [*leads, closed]]
    _seeded["follow_up_pk"] = [follow_up.pk]

    token, _ = Token.objects.get_or_create(user=manager)
    schema = schemathesis.openapi.from_wsgi(
        "/api/v1/schema/?format=json", get_wsgi_application(), headers={"Authorization": f"Token {token.key}"}
    )
    schema.config.update(headers={"Authorization": f"Token {token.key}"})
    schema.config.generation.update(
        modes=[GenerationMode.POSITIVE], max_examples=EXAMPLES_PER_OPERATION, deterministic=True
    )

    @schema.hook
    def flatmap_path_parameters(context, path_parameters):
        if not path_parameters:
            return st.just(path_parameters)
        # Mostly real ids (so the handlers run), sometimes whatever hypothesis made up.
        strategies = {
            name: st.one_of(st.sampled_from(_seeded[name]), st.just(value)) if _seeded.get(name) else st.just(value)
            for name, value in path_parameters.items()
        }
        return st.fixed_dictionaries(strategies)

    return schema


@pytest.fixture
def _wsgi_keeps_the_test_connection(db):
    """Like Django's test Client: the raw WSGI app would otherwise close the test's database
    connection (and roll back its transaction) around every request."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


# What the API promises: no 5xx, and every response (status code, content type, headers, body)
# as documented. Not "positive_data_acceptance": schema-valid input may still break a business
# rule the schema cannot express (a lost lead needs a reason, a cursor must come from `next`,
# an owner id must exist), and those are documented 400/409 answers.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def test_api_honours_its_schema(api_schema):
    """Zero 5xx, and every response (status, content type, body) as the schema says, for every
    operation. (A plain loop: schemathesis' pytest loader does not support pytest 9 yet.)"""
    failures = []
    operations = 0
    for result in api_schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @hypothesis.settings(
            max_examples=EXAMPLES_PER_OPERATION,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
            phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
        )
        @hypothesis.given(case=operation.as_strategy(generation_mode=GenerationMode.POSITIVE))
        def exercise(case):
            case.call_and_validate(checks=CHECKS)

        try:
            exercise()
        except BaseException as exc:  # one operation's failures must not hide the next one's
            if isinstance(exc, KeyboardInterrupt | SystemExit):
                raise
            failures.append(f"{operation.label}: {exc}")
    assert operations >= 15
    assert not failures, "\n\n".join(failures)


NEGATIVE_EXAMPLES_PER_OPERATION = 8


def test_api_never_answers_invalid_input_with_a_5xx(api_schema):
    """Schema-INVALID requests (wrong types, missing fields, bad enums, junk bodies): always a 4xx."""
    failures = []
    for result in api_schema.get_all_operations():
        operation = result.ok()

        @hypothesis.settings(
            max_examples=NEGATIVE_EXAMPLES_PER_OPERATION,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
            phases=[hypothesis.Phase.generate],
        )
        @hypothesis.given(case=operation.as_strategy(generation_mode=GenerationMode.NEGATIVE))
        def exercise(case):
            case.call_and_validate(checks=[not_a_server_error])

        try:
            exercise()
        except hypothesis.errors.Unsatisfiable:
            continue  # nothing about this operation can be made invalid (no parameters, no body)
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt | SystemExit):
                raise
            failures.append(f"{operation.label}: {exc}")
    assert not failures, "\n\n".join(failures)
