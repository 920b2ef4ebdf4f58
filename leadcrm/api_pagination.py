"""Keyset ("cursor") pagination for the API.

DRF's CursorPagination keys on one column and breaks ties with an OFFSET capped at 1,000, so
on a sort key with many equal values (every unscored lead has priority -1) it cannot walk
past the first thousand ties. Here the cursor is the (key, id) pair of the last row, and the
next page is `WHERE (key, id) < (k, i)`, a row-value comparison (leadcrm.row_values): one
index range per page whatever the depth, on SQLite and PostgreSQL alike. (Written out as
`key < k OR (key = k AND id < i)` PostgreSQL cannot use it as an index bound.)

A view chooses its sort keys with `cursor_orderings` ({"public name": "model field"}, fields
NOT NULL; or a (key, id) pair of paths into a related table, `("rank__priority", "rank__lead_id")`,
when that table's index holds the order) and `default_cursor_ordering` ("-name" for descending).
Without them the list is ordered by id, newest first.
"""

import base64
import binascii
import json
from datetime import datetime

from django.contrib.admin.utils import get_fields_from_path
from django.db import models
from django.utils.dateparse import parse_datetime
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import BasePagination
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from leadcrm.row_values import keyset_after

_BIGINT = 2**63


def _value_at(row, path: str):
    for name in path.split("__"):
        row = getattr(row, name)
    return row


def _comparable(key_field: models.Field) -> models.Field:
    """The output field of the (key, id) row value: what the cursor's key was decoded as."""
    return models.DateTimeField() if isinstance(key_field, models.DateTimeField) else models.BigIntegerField()


class KeysetCursorPagination(BasePagination):
    page_size = 50
    max_page_size = 500
    cursor_query_param = "cursor"
    page_size_query_param = "page_size"
    ordering_query_param = "ordering"

    # --- configuration read from the view -------------------------------------------------
    def _orderings(self, view) -> dict[str, str | tuple[str, str]]:
        return getattr(view, "cursor_orderings", None) or {"id": "id"}

    def _default_ordering(self, view) -> str:
        return getattr(view, "default_cursor_ordering", None) or "-id"

    def _ordering_choices(self, view) -> list[str]:
        names = list(self._orderings(view))
        return [*names, *[f"-{name}" for name in names]]

    # --- request parsing -----------------------------------------------------------------
    def _reject_blank(self, request) -> None:
        names = (self.cursor_query_param, self.page_size_query_param, self.ordering_query_param)
        blank = [name for name in names if request.query_params.get(name) == ""]
        if blank:
            raise ValidationError({name: ["May not be blank: leave the parameter out."] for name in blank})

    def _parse_ordering(self, request, view) -> str:
        ordering = request.query_params.get(self.ordering_query_param) or self._default_ordering(view)
        if ordering.lstrip("-") not in self._orderings(view) or ordering.count("-") > 1:
            raise ValidationError(
                {self.ordering_query_param: [f"Use one of: {', '.join(self._ordering_choices(view))}."]}
            )
        return ordering

    def _parse_page_size(self, request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw in (None, ""):
            return self.page_size
        try:
            size = int(raw)
        except ValueError:
            raise ValidationError({self.page_size_query_param: ["A whole number is required."]}) from None
        if size < 1:
            raise ValidationError({self.page_size_query_param: ["Must be at least 1."]})
        if size > self.max_page_size:  # refused, not capped: the schema's maximum is the server's
            raise ValidationError({self.page_size_query_param: [f"At most {self.max_page_size}."]})
        return size

    def _decode_cursor(self, raw: str, ordering: str, key_field: models.Field) -> tuple | None:
        if not raw:
            return None
        invalid = ValidationError({self.cursor_query_param: ["Invalid cursor."]})
        try:
            padded = raw + "=" * (-len(raw) % 4)
            data = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
            if not isinstance(data, dict) or data.get("o") != ordering:
                raise invalid
            key, pk = data.get("k"), data.get("i")
        except (ValueError, UnicodeError, binascii.Error, RecursionError):
            raise invalid from None
        if not isinstance(pk, int) or isinstance(pk, bool) or abs(pk) >= _BIGINT:
            raise invalid
        if isinstance(key_field, models.DateTimeField):
            key = parse_datetime(key) if isinstance(key, str) else None
            if key is None:
                raise invalid
        elif isinstance(key_field, (models.IntegerField, models.AutoField)):
            if not isinstance(key, int) or isinstance(key, bool) or abs(key) >= _BIGINT:
                raise invalid
        else:
            raise invalid
        return key, pk

    @staticmethod
    def _encode_cursor(ordering: str, key, pk: int) -> str:
        if isinstance(key, datetime):
            key = key.isoformat()
        payload = json.dumps({"o": ordering, "k": key, "i": pk}, separators=(",", ":"))
        return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")

    # --- BasePagination ------------------------------------------------------------------
    def paginate_queryset(self, queryset, request, view=None):
        self._reject_blank(request)
        ordering = self._parse_ordering(request, view)
        descending = ordering.startswith("-")
        field_name = self._orderings(view)[ordering.lstrip("-")]
        field_name, pk_name = field_name if isinstance(field_name, tuple) else (field_name, "pk")
        key_field = get_fields_from_path(queryset.model, field_name)[-1]
        page_size = self._parse_page_size(request)
        cursor = self._decode_cursor(request.query_params.get(self.cursor_query_param, ""), ordering, key_field)

        lt = "lt" if descending else "gt"
        if cursor is not None:
            key, pk = cursor
            if field_name in ("id", "pk"):
                queryset = queryset.filter(**{f"pk__{lt}": pk})
            else:
                queryset = keyset_after(
                    queryset,
                    key=field_name,
                    key_value=key,
                    pk_value=pk,
                    descending=descending,
                    output_field=_comparable(key_field),
                    pk=pk_name,
                )
        sign = "-" if descending else ""
        order = [f"{sign}{field_name}", f"{sign}{pk_name}"] if field_name not in ("id", "pk") else [f"{sign}pk"]
        rows = list(queryset.order_by(*order)[: page_size + 1])

        self._next = None
        if len(rows) > page_size:
            rows = rows[:page_size]
            last = rows[-1]
            token = self._encode_cursor(ordering, _value_at(last, field_name), last.pk)
            url = request.build_absolute_uri()
            self._next = replace_query_param(url, self.cursor_query_param, token)
        return rows

    def get_paginated_response(self, data):
        return Response({"next": self._next, "results": data})

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["next", "results"],
            "properties": {
                "next": {
                    "type": "string",
                    "nullable": True,
                    "format": "uri",
                    "description": "URL of the next page; null on the last page.",
                },
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view):
        return [
            {
                "name": self.cursor_query_param,
                "required": False,
                "in": "query",
                "description": "Opaque cursor from the previous page's `next` URL.",
                "schema": {"type": "string", "minLength": 1},
            },
            {
                "name": self.page_size_query_param,
                "required": False,
                "in": "query",
                "description": f"Rows per page (default {self.page_size}, at most {self.max_page_size}).",
                "schema": {"type": "integer", "minimum": 1, "maximum": self.max_page_size},
            },
            {
                "name": self.ordering_query_param,
                "required": False,
                "in": "query",
                "description": f"Sort key; a leading '-' sorts descending. Default {self._default_ordering(view)}.",
                "schema": {"type": "string", "enum": self._ordering_choices(view)},
            },
        ]
