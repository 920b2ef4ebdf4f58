"""REPORTS_DATABASE_URL: report pages and report tasks read the CRM's tables from the replica;
users, sessions and every write stay on the primary; without a replica nothing changes."""

from django.test import RequestFactory

from leadcrm.db_router import ReportsDatabaseMiddleware, ReportsRouter, reports_database, reports_reading
from leads.models import Lead, User
from scoring.models import ModelVersion

router = ReportsRouter()


def test_without_a_replica_every_read_uses_the_default(settings):
    assert "reports" not in settings.DATABASES
    with reports_database():
        assert router.db_for_read(Lead) is None


def test_report_reads_go_to_the_replica_but_users_and_writes_do_not(settings, monkeypatch):
    monkeypatch.setitem(settings.DATABASES, "reports", {**settings.DATABASES["default"]})
    assert router.db_for_read(Lead) is None  # outside a report
    with reports_database():
        assert router.db_for_read(Lead) == "reports"
        assert router.db_for_read(ModelVersion) == "reports"
        assert router.db_for_read(User) is None
        from django.contrib.sessions.models import Session

        assert router.db_for_read(Session) is None
        assert router.db_for_write(Lead) is None
    assert router.allow_migrate("reports", "leads") is False
    assert router.allow_migrate("default", "leads") is None


def test_the_middleware_marks_only_report_pages():
    seen = []
    middleware = ReportsDatabaseMiddleware(lambda request: seen.append(reports_reading.get()) or "ok")
    factory = RequestFactory()
    middleware(factory.get("/reports/conversion/"))
    middleware(factory.get("/leads/1/"))
    assert seen == [True, False]
    assert reports_reading.get() is False


def test_report_tasks_read_from_the_replica_while_they_run():
    from celery import shared_task

    @shared_task(name="reports.tests_reading_probe")
    def probe():
        return reports_reading.get()

    assert probe.apply().result is True
    assert reports_reading.get() is False
