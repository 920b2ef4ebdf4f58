"""Hostile JSON: too deep or too large is a 400 in the common error body on every door, never a 500."""

import json

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.forms import JSONField as JSONFormField

from leadcrm.json_limits import JSONLimitError, LimitedJSONDecoder, json_depth, json_loads_limited
from leads.models import ImportJob
from tests.factories import LeadFactory

DEEP = "[" * 1000 + "]" * 1000  # 2 KB: RecursionError in the stdlib parser (a 500 before)
DEEP_OBJECT = '{"a":' * 1000 + "1" + "}" * 1000


def assert_error_body(response, status: int = 400):
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert error["status"] == status
    assert error["message"]
    return error


# --- the function ---------------------------------------------------------------------------------


def test_depth_counts_nesting_and_ignores_brackets_inside_strings():
    assert json_depth('{"a": [1, {"b": []}]}') == 4
    assert json_depth('["[[[[", "\\"[[[", {"}": "{{{"}]') == 2
    assert json_depth("42") == 0


def test_loads_limited_refuses_deep_and_large_json(settings):
    settings.JSON_MAX_DEPTH = 5
    assert json_loads_limited("[[[[[1]]]]]") == [[[[[1]]]]]
    with pytest.raises(JSONLimitError, match="nested more than 5"):
        json_loads_limited("[[[[[[1]]]]]]")
    with pytest.raises(JSONLimitError, match="larger than 10 bytes"):
        json_loads_limited('"' + "x" * 20 + '"', max_bytes=10)
    with pytest.raises(ValueError):
        json_loads_limited(DEEP)


def test_the_admin_json_fields_refuse_deep_json():
    field = JSONFormField(decoder=LimitedJSONDecoder)
    with pytest.raises(ValidationError, match="Enter a valid JSON"):
        field.clean(DEEP)
    assert field.clean('{"a": [1]}') == {"a": [1]}


# --- every endpoint family: depth 1000 -> 400 ---------------------------------------------------------


@pytest.mark.parametrize("body", [DEEP, DEEP_OBJECT])
def test_token_endpoint_answers_400_to_deep_json(client, db, body):
    response = client.post("/api/v1/auth/token/", body, content_type="application/json")
    error = assert_error_body(response)
    assert "nested" in error["message"]


def test_score_endpoint_answers_400_to_deep_json(api_rep):
    assert_error_body(api_rep.post("/api/v1/score/", DEEP_OBJECT, content_type="application/json"))


def test_lead_patch_answers_400_to_deep_json(api_rep, rep):
    lead = LeadFactory(owner=rep, name="Kept")
    response = api_rep.patch(f"/api/v1/leads/{lead.pk}/", DEEP_OBJECT, content_type="application/json")
    assert_error_body(response)
    lead.refresh_from_db()
    assert lead.name == "Kept"


def test_lead_create_with_deep_attributes_is_400(api_manager):
    body = '{"name": "Ada", "attributes": ' + DEEP_OBJECT + "}"
    assert_error_body(api_manager.post("/api/v1/leads/", body, content_type="application/json"))


def test_bulk_answers_400_to_deep_json(api_admin):
    body = '{"leads": ' + DEEP + "}"
    assert_error_body(api_admin.post("/api/v1/leads/bulk/", body, content_type="application/json"))


def test_import_mapping_field_answers_400_to_deep_json(api_admin):
    upload = SimpleUploadedFile("leads.csv", b"ID,Name\n1,Ada\n", content_type="text/csv")
    response = api_admin.post("/api/v1/imports/", {"file": upload, "mapping": DEEP_OBJECT}, format="multipart")
    error = assert_error_body(response)
    assert "mapping" in error["fields"]
    assert not ImportJob.objects.exists()


def test_import_refuses_a_json_body_even_a_deep_one_with_the_error_body(api_admin):
    # The import takes multipart only (issue 20): a JSON body, deep or not, is a 415 in words, never a 500.
    assert_error_body(api_admin.post("/api/v1/imports/", DEEP, content_type="application/json"), status=415)


def test_a_body_over_the_size_limit_is_400(api_rep, settings):
    settings.JSON_MAX_BYTES = 1000
    body = json.dumps({"source": "x" * 2000})
    error = assert_error_body(api_rep.post("/api/v1/score/", body, content_type="application/json"))
    assert "larger than 1000 bytes" in error["message"]


def test_ordinary_json_still_parses(api_manager):
    response = api_manager.post("/api/v1/leads/", {"name": "Ada", "attributes": {"a": 1, "b": "two"}}, format="json")
    assert response.status_code == 201, response.content
