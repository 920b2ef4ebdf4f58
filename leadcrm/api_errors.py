"""One error body for every 4xx the API returns, and its place in the OpenAPI schema.

    {"error": {"status": 400, "code": "invalid", "message": "...", "fields": {"email": ["..."]}}}

`fields` is present only for validation errors; `retry_after` (seconds) only for 429.
Services raise Django's ValidationError / PermissionDenied / Http404; they are mapped here so a
view never has to translate them, and a bad input can never surface as a 500.
"""

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from django.http import Http404, JsonResponse
from django.views import defaults
from drf_spectacular.openapi import AutoSchema
from rest_framework import exceptions, serializers, status
from rest_framework.views import exception_handler as drf_exception_handler


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state of the resource."
    default_code = "conflict"


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "too_large"


def django_validation_error_as_drf(exc: DjangoValidationError) -> exceptions.ValidationError:
    if hasattr(exc, "error_dict"):
        return exceptions.ValidationError({field: [str(m) for m in msgs] for field, msgs in exc.message_dict.items()})
    return exceptions.ValidationError({"non_field_errors": [str(m) for m in exc.messages]})


def _first_message(detail) -> str:
    """The first human message in a (possibly nested) DRF error detail."""
    if isinstance(detail, dict):
        for value in detail.values():
            message = _first_message(value)
            if message:
                return message
        return ""
    if isinstance(detail, list):
        for value in detail:
            message = _first_message(value)
            if message:
                return message
        return ""
    return str(detail)


def _field_message(field: str, detail) -> str:
    message = _first_message(detail)
    if field in ("non_field_errors", "detail"):
        return message
    return f"{field}: {message}"


def _code_of(exc: exceptions.APIException) -> str:
    if isinstance(exc, exceptions.ValidationError):
        return "invalid"
    codes = exc.get_codes()
    return codes if isinstance(codes, str) else getattr(exc, "default_code", "error")


def api_exception_handler(exc, context):
    """REST_FRAMEWORK["EXCEPTION_HANDLER"]: wrap every handled error in the common body."""
    if isinstance(exc, DjangoValidationError):
        exc = django_validation_error_as_drf(exc)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or "Not found.")
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    elif isinstance(exc, RequestDataTooBig):  # body over settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        exc = PayloadTooLarge()
    elif isinstance(exc, SuspiciousOperation):
        exc = exceptions.ParseError("Malformed request.")
    elif isinstance(exc, IntegrityError):
        # A unique key taken by a concurrent writer between validation and INSERT.
        exc = Conflict("Another request changed this resource at the same time; retry.")

    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # a real bug: let Django log it and answer 500

    body: dict = {"status": response.status_code, "code": _code_of(exc)}
    if isinstance(exc, exceptions.ValidationError):
        detail = exc.detail
        if isinstance(detail, dict):
            fields = dict(detail)
            first_field = next(iter(fields), "")
            body["message"] = _field_message(first_field, fields[first_field]) if fields else "Invalid input."
        else:
            fields = {"non_field_errors": detail if isinstance(detail, list) else [detail]}
            body["message"] = _first_message(detail) or "Invalid input."
        body["fields"] = fields
    else:
        body["message"] = _first_message(exc.detail)
    if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
        body["retry_after"] = int(exc.wait)
    response.data = {"error": body}
    return response


class ApiErrorDetailSerializer(serializers.Serializer):
    status = serializers.IntegerField()
    code = serializers.CharField()
    message = serializers.CharField(allow_blank=True)
    fields = serializers.DictField(required=False, help_text="Per-field messages (validation errors only).")
    retry_after = serializers.IntegerField(required=False, help_text="Seconds to wait (429 only).")


class ApiErrorSerializer(serializers.Serializer):
    error = ApiErrorDetailSerializer()


_ERROR_RESPONSES = {
    "400": "Invalid input: see error.fields.",
    "401": "Not authenticated.",
    "403": "Not allowed for this user.",
    "404": "No such resource, or not visible to this user.",
    "405": "Method not allowed.",
    "406": "Not acceptable.",
    "413": "Request body too large.",
    "415": "Unsupported media type.",
    "429": "Throttled: see error.retry_after.",
}


class ErrorDocumentingAutoSchema(AutoSchema):
    """Documents the common error body on every operation, so clients (and schemathesis) know
    what a 4xx looks like without each view repeating it."""

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for code, description in _ERROR_RESPONSES.items():
            if code in responses:
                continue
            responses[code] = self._get_response_for_code(ApiErrorSerializer, code, direction=direction)
            responses[code]["description"] = description
        return responses


def _is_api(request) -> bool:
    return request.path.startswith("/api/")


def not_found(request, exception=None):
    """handler404: a URL under /api/ that matches no route answers in the API's error body."""
    if _is_api(request):
        body = {"error": {"status": 404, "code": "not_found", "message": "No such endpoint or resource."}}
        return JsonResponse(body, status=404)
    return defaults.page_not_found(request, exception)


def server_error(request):
    """handler500: JSON for the API (no details leak), the usual page elsewhere."""
    if _is_api(request):
        body = {"error": {"status": 500, "code": "server_error", "message": "Internal error; it has been logged."}}
        return JsonResponse(body, status=500)
    return defaults.server_error(request)
