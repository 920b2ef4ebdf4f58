"""JSON from outside the app, parsed with a size and a nesting-depth limit.

Python's json module recurses once per nesting level: a 2 KB body of 1,000 `[` raises
RecursionError (a 500), and a body a little shallower parses but crashes the code that walks it.
Every place that parses JSON a client or a file sent goes through `json_loads_limited`: DRF's
default parser (`LimitedJSONParser`), the import API's inline mapping, the admin's JSON form
fields (`LimitedJSONDecoder`) and the admin import's attributes column. The depth is counted on
the text before parsing, without recursion, so no input can reach the parser's recursion.
"""

import json
import re

from django.conf import settings
from rest_framework import exceptions
from rest_framework.parsers import JSONParser
from rest_framework.utils import json as drf_json

# A JSON string literal (escapes included): brackets inside strings do not nest anything.
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


class JSONLimitError(ValueError):
    """The JSON is too large or too deeply nested (a ValueError, like any malformed JSON)."""


def json_depth(text: str) -> int:
    """The deepest nesting of arrays and objects in `text`, counted without recursion."""
    brackets = _NOT_BRACKET.sub("", _STRING.sub('""', text))
    depth = deepest = 0
    for char in brackets:
        if char in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
        else:
            depth -= 1
    return deepest


def json_check_limits(text: str | bytes, *, max_bytes: int | None = None, max_depth: int | None = None) -> str:
    """`text` as str once it is within the limits (settings.JSON_MAX_BYTES / JSON_MAX_DEPTH)."""
    max_bytes = settings.JSON_MAX_BYTES if max_bytes is None else max_bytes
    max_depth = settings.JSON_MAX_DEPTH if max_depth is None else max_depth
    if len(text) > max_bytes:
        raise JSONLimitError(f"JSON is larger than {max_bytes} bytes.")
    if isinstance(text, bytes | bytearray):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise JSONLimitError(f"JSON is not UTF-8: {exc}") from exc
    if json_depth(text) > max_depth:
        raise JSONLimitError(f"JSON is nested more than {max_depth} levels deep.")
    return text


def json_loads_limited(text: str | bytes, *, max_bytes: int | None = None, max_depth: int | None = None, **kwargs):
    """json.loads with the limits; JSONLimitError (a ValueError) when they are exceeded."""
    return json.loads(json_check_limits(text, max_bytes=max_bytes, max_depth=max_depth), **kwargs)


class LimitedJSONDecoder(json.JSONDecoder):
    """For `json.loads(..., cls=...)` callers such as Django's forms.JSONField (the admin)."""

    def decode(self, s, *args, **kwargs):
        try:
            s = json_check_limits(s)
        except JSONLimitError as exc:  # the error those callers catch and show as "invalid JSON"
            raise json.JSONDecodeError(str(exc), s if isinstance(s, str) else "", 0) from exc
        return super().decode(s, *args, **kwargs)


class LimitedJSONParser(JSONParser):
    """DRF's JSON parser with the limits: a hostile body is a 400 in the common error body."""

    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        raw = stream.read() if stream is not None else b""
        try:
            text = json_check_limits(raw.decode(encoding))
            return json.loads(text, parse_constant=drf_json.strict_constant if self.strict else None)
        except ValueError as exc:
            raise exceptions.ParseError(f"JSON parse error - {exc}") from exc
