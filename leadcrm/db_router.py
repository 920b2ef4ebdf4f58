"""Manager reports on a read replica (optional): REPORTS_DATABASE_URL adds a "reports" database.

While a request under /reports/ is served (ReportsDatabaseMiddleware) or a `reports.*` task runs
(leadcrm/celery.py), reads of the CRM's and the model's tables go to the replica; users and
sessions, and every write, stay on the primary (a replica a few seconds behind must never log
anyone out). Report queries read rows that are minutes old at most, which reports tolerate.
Without REPORTS_DATABASE_URL nothing changes.
"""

import contextvars
from contextlib import contextmanager

from django.conf import settings

REPORTS = "reports"
_REPLICA_APPS = {"leads", "scoring"}
reports_reading: contextvars.ContextVar[bool] = contextvars.ContextVar("reports_reading", default=False)


@contextmanager
def reports_database():
    """Within this block, report reads go to the replica when one is configured."""
    token = reports_reading.set(True)
    try:
        yield
    finally:
        reports_reading.reset(token)


class ReportsRouter:
    def db_for_read(self, model, **hints):
        if not (reports_reading.get() and REPORTS in settings.DATABASES):
            return None
        if model._meta.app_label not in _REPLICA_APPS or model._meta.label == settings.AUTH_USER_MODEL:
            return None
        return REPORTS

    def db_for_write(self, model, **hints):
        return None

    def allow_relation(self, obj1, obj2, **hints):
        return True  # the replica holds the same rows as the primary

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return False if db == REPORTS else None  # a replica follows the primary's schema


class ReportsDatabaseMiddleware:
    prefix = "/reports/"

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.path.startswith(self.prefix):
            return self.get_response(request)
        with reports_database():
            return self.get_response(request)
