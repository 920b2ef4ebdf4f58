"""What the OpenAPI schema promises, so a generated client works unchanged.

- Every operation documents the common error body (leadcrm.api_errors.ApiErrorSerializer) on each
  4xx it can answer and on 500; an error response a view documents without a body gets it too.
- A request serializer that rejects unknown keys (RejectUnknownFieldsMixin) says so with
  `additionalProperties: false`.
- A query parameter with a named enum's values refers to that enum (one TierEnum everywhere).
- Enum values that are not identifiers ("-priority") get `x-enum-varnames` ("PRIORITY_DESC"), so
  generators name them instead of numbering them (VALUE_4).
"""

import re

from drf_spectacular.openapi import AutoSchema
from rest_framework import serializers

from leadcrm.api_errors import ApiErrorSerializer

_ERRORS_ON_EVERY_OPERATION = {
    "400": "Invalid input: see error.fields.",
    "401": "Not authenticated.",
    "403": "Not allowed for this user.",
    "404": "No such resource, or not visible to this user.",
    "405": "Method not allowed.",
    "406": "Not acceptable.",
    "429": "Throttled: see error.retry_after.",
    "500": "Internal error (logged); the body never carries details.",
}
_ERRORS_ON_REQUESTS_WITH_A_BODY = {
    "409": "Conflicts with the resource's current state (a concurrent write); see error.message.",
    "413": "Request body too large.",
    "415": "Unsupported media type.",
}


class RejectUnknownFieldsMixin:
    """A request serializer that answers 400 for keys it does not know (typos never pass silently)."""

    unknown_field_message = "Unknown field."

    def validate(self, data):
        initial = getattr(self, "initial_data", None)
        fields = getattr(self, "fields", {})
        unknown = set(initial) - set(fields) if isinstance(initial, dict) else set()
        if unknown:
            raise serializers.ValidationError({name: [self.unknown_field_message] for name in sorted(unknown)})
        return super().validate(data)


class ClientReadyAutoSchema(AutoSchema):
    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        expected = dict(_ERRORS_ON_EVERY_OPERATION)
        if self.method in ("POST", "PUT", "PATCH"):
            expected.update(_ERRORS_ON_REQUESTS_WITH_A_BODY)
        for code, description in expected.items():
            if code not in responses:
                responses[code] = {"description": description}
        for code, response in responses.items():
            if code >= "400" and "content" not in response:
                error = self._get_response_for_code(ApiErrorSerializer, code, direction=direction)
                responses[code] = {**error, "description": response.get("description") or error["description"]}
        return dict(sorted(responses.items()))

    def _map_basic_serializer(self, serializer, direction):
        schema = super()._map_basic_serializer(serializer, direction)
        if direction == "request" and isinstance(serializer, RejectUnknownFieldsMixin):
            schema["additionalProperties"] = False
        return schema


def _variable_name(value: str) -> str:
    descending = value.startswith("-")
    name = re.sub(r"\W+", "_", value.lstrip("-")).strip("_").upper() or "BLANK"
    if name[0].isdigit():
        name = f"VALUE_{name}"
    return f"{name}_DESC" if descending else name


def name_enum_values(result, generator, request, public):
    """SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"]: x-enum-varnames where a value is no identifier."""

    def walk(node):
        if isinstance(node, dict):
            values = node.get("enum")
            strings = isinstance(values, list) and all(isinstance(v, str) for v in values)
            if strings and any(not v[:1].isalpha() for v in values):
                node["x-enum-varnames"] = [_variable_name(v) for v in values]
            for child in node.values():
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk(result)
    _query_enums_as_components(result)
    _query_strings_not_blank(result)
    return result


def _query_strings_not_blank(result) -> None:
    """Query parameters are never blank (leadcrm.api_filters, leadcrm.api_pagination): say so."""
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []) if isinstance(operation, dict) else []:
                schema = parameter.get("schema", {})
                if parameter.get("in") == "query" and schema.get("type") == "string" and "enum" not in schema:
                    schema.setdefault("minLength", 1)


def _query_enums_as_components(result) -> None:
    """A query parameter whose values are exactly a named enum's (`?tier=hot`) uses that enum, so a
    client has one TierEnum for the field and the filter."""
    named = {
        tuple(sorted(schema["enum"])): name
        for name, schema in result.get("components", {}).get("schemas", {}).items()
        if isinstance(schema.get("enum"), list) and all(isinstance(v, str) for v in schema["enum"])
    }
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []) if isinstance(operation, dict) else []:
                schema = parameter.get("schema", {})
                target = schema.get("items", schema) if schema.get("type") == "array" else schema
                name = named.get(tuple(sorted(target.get("enum") or [None])))
                if name is None:
                    continue
                ref = {"$ref": f"#/components/schemas/{name}"}
                if target is schema:
                    parameter["schema"] = ref
                else:
                    schema["items"] = ref


class StrictJsonTypesMixin:
    """A JSON request serializer that takes each field in its documented JSON type: text fields take
    strings, booleans true/false, integers and ids whole numbers, floats numbers. (DRF would coerce
    "true", 1 or 0 silently, which the schema does not allow.)"""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            errors = {}
            for name, field in getattr(self, "fields", {}).items():
                if name not in data or field.read_only:
                    continue
                if not _json_type_ok(field, data[name]):
                    errors[name] = [f"Expected {_json_type_name(field)}."]
                elif isinstance(data[name], str) and len(data[name]) > (getattr(field, "max_length", None) or 2**31):
                    # Checked before DRF trims whitespace: the schema's maxLength is about what is sent.
                    errors[name] = [f"Ensure this field has no more than {field.max_length} characters."]
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)


def _json_type_name(field) -> str:
    if isinstance(field, serializers.BooleanField):
        return "true or false"
    if isinstance(field, serializers.IntegerField | serializers.PrimaryKeyRelatedField):
        return "a whole number" + (" or null" if field.allow_null else "")
    if isinstance(field, serializers.FloatField):
        return "a number"
    if isinstance(field, serializers.DecimalField):
        return 'a decimal as a string, e.g. "1250.00"' + (" or null" if field.allow_null else "")
    return "a string" + (" or null" if field.allow_null else "")


def _json_type_ok(field, value) -> bool:
    if value is None:
        return bool(field.allow_null)
    if isinstance(field, serializers.BooleanField):
        return isinstance(value, bool)
    if isinstance(field, serializers.IntegerField | serializers.PrimaryKeyRelatedField):
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(field, serializers.FloatField):
        return isinstance(value, int | float) and not isinstance(value, bool)
    if isinstance(field, serializers.DecimalField):  # the schema says string (format: decimal)
        return isinstance(value, str)
    if isinstance(field, serializers.CharField | serializers.ChoiceField | serializers.DateTimeField):
        return isinstance(value, str)
    return True  # objects and lists check their own shape
