"""One error body for every 4xx the API returns, and its place in the OpenAPI schema.

    {"error": {"status": 400, "code": "invalid", "message": "...", "fields": {"email": ["..."]}}}

`fields` is present only for validation errors; `retry_after` (seconds) only for 429;
`claimed_by` only for a 409 on claiming a lead someone else took from the pool.
Services raise Django's ValidationError / PermissionDenied / Http404; they are mapped here so a
view never has to translate them, and a bad input can never surface as a 500.
"""

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from django.http import Http404, JsonResponse
from django.views import csrf, defaults
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, serializers, status
from rest_framework.views import exception_handler as drf_exception_handler


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state of the resource."
    default_code = "conflict"


class AlreadyClaimed(Conflict):
    """A pool lead someone else took first; `claimed_by` names them (every rep saw the lead in the pool)."""

    def __init__(self, claimed_by: str | None):
        self.claimed_by = claimed_by
        who = claimed_by or "someone else"
        super().__init__(f"Already claimed by {who}.")


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
    if isinstance(exc, AlreadyClaimed) and exc.claimed_by:
        body["claimed_by"] = exc.claimed_by
    if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
        body["retry_after"] = int(exc.wait)
    response.data = {"error": body}
    return response


class ApiErrorDetailSerializer(serializers.Serializer):
    status = serializers.IntegerField(help_text="The HTTP status, repeated.")
    code = serializers.CharField(
        help_text="Machine-readable: invalid, parse_error, not_authenticated, authentication_failed, "
        "permission_denied, not_found, conflict, gone, too_large, unsupported_media_type, throttled, server_error."
    )
    message = serializers.CharField(allow_blank=True, help_text="One human-readable sentence.")
    fields = serializers.DictField(
        required=False,
        help_text="Validation errors only: field name -> list of messages (nested for lists of rows).",
    )
    retry_after = serializers.IntegerField(required=False, help_text="Seconds to wait (429 only).")
    claimed_by = serializers.CharField(
        required=False, help_text="409 on claim only: the name of the user who holds the lead."
    )


class ApiErrorSerializer(serializers.Serializer):
    """The one error body of every 4xx and 5xx answer."""

    error = ApiErrorDetailSerializer()


def _is_api(request) -> bool:
    return request.path.startswith("/api/")


@csrf_exempt  # a POST to an unknown API path is a 404, not a CSRF page
def api_not_found(request, *args, **kwargs):
    """The last /api/ route: a path no API route matches is a JSON 404 whatever DEBUG is
    (with DEBUG on, Django would answer handler404's URL with its HTML debug page)."""
    body = {"error": {"status": 404, "code": "not_found", "message": "No such endpoint or resource."}}
    return JsonResponse(body, status=404)


def not_found(request, exception=None):
    """handler404: a URL under /api/ that matches no route answers in the API's error body."""
    if _is_api(request):
        return api_not_found(request)
    return defaults.page_not_found(request, exception)


def csrf_failure(request, reason=""):
    """CSRF_FAILURE_VIEW: the API's error body under /api/ (a browser session without its CSRF token)."""
    if _is_api(request):
        body = {"error": {"status": 403, "code": "csrf_failed", "message": f"CSRF check failed: {reason}"}}
        return JsonResponse(body, status=403)
    return csrf.csrf_failure(request, reason)


def server_error(request):
    """handler500: JSON for the API (no details leak), the usual page elsewhere."""
    if _is_api(request):
        body = {"error": {"status": 500, "code": "server_error", "message": "Internal error; it has been logged."}}
        return JsonResponse(body, status=500)
    return defaults.server_error(request)
