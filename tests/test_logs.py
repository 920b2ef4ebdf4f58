"""Logs: LOG_FORMAT=json writes one JSON object a line, with the request id and the task id."""

import json
import logging

import pytest
from celery import shared_task
from django.http import HttpResponse
from django.test import override_settings
from django.urls import path

from leadcrm.logs import ContextFilter, JsonFormatter

log = logging.getLogger("leadcrm.tests.logs")


class _Capture(logging.Handler):
    def __init__(self):
        super().__init__()
        self.lines: list[dict] = []
        self.addFilter(ContextFilter())
        self.setFormatter(JsonFormatter())

    def emit(self, record):
        self.lines.append(json.loads(self.format(record)))


@pytest.fixture
def captured():
    handler = _Capture()
    log.addHandler(handler)
    yield handler.lines
    log.removeHandler(handler)


def _logging_view(request):
    log.info("inside the request", extra={"lead_id": 7})
    return HttpResponse("ok")


urlpatterns = [path("log-something/", _logging_view)]


@shared_task(name="tests.log_something")
def _logging_task():
    log.info("inside the task")


@override_settings(ROOT_URLCONF=__name__)
def test_every_line_of_a_request_carries_its_request_id(client, captured):
    response = client.get("/log-something/", HTTP_X_REQUEST_ID="lb-abc-123")
    assert response["X-Request-ID"] == "lb-abc-123"
    line = next(entry for entry in captured if entry["message"] == "inside the request")
    assert line["request_id"] == "lb-abc-123"
    assert line["task_id"] == "-"
    assert line["level"] == "INFO" and line["logger"] == "leadcrm.tests.logs"
    assert line["lead_id"] == 7


@override_settings(ROOT_URLCONF=__name__)
def test_a_request_without_an_id_gets_one_and_a_malformed_one_is_replaced(client, captured):
    made = client.get("/log-something/")["X-Request-ID"]
    assert len(made) == 32
    replaced = client.get("/log-something/", HTTP_X_REQUEST_ID='bad"id\nforged')["X-Request-ID"]
    assert replaced != 'bad"id\nforged' and len(replaced) == 32
    assert [entry["request_id"] for entry in captured] == [made, replaced]


def test_every_line_of_a_task_carries_its_task_id(captured):
    result = _logging_task.apply(task_id="task-42")
    assert result.successful()
    line = next(entry for entry in captured if entry["message"] == "inside the task")
    assert line["task_id"] == "task-42"


def test_exceptions_are_one_json_line():
    formatter = JsonFormatter()
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, exc_info=True)
        import sys

        record.exc_info = sys.exc_info()
    ContextFilter().filter(record)
    text = formatter.format(record)
    assert "\n" not in text
    assert "ValueError: boom" in json.loads(text)["exception"]
