import pytest

from leads.reports.selectors import ReportFilters
from leads.reports.summaries import funnel_summary
from leads.reports.tasks import refresh_summaries

pytestmark = pytest.mark.django_db


def test_refresh_task_recomputes_the_summaries(report_data, django_assert_num_queries):
    timings = refresh_summaries.delay().get()
    assert {"dashboard", "conversion", "funnel", "reps"} <= set(timings)
    with django_assert_num_queries(0):
        assert funnel_summary(ReportFilters()).value["stages"][0]["reached"] == 10


def test_refresh_task_is_registered_with_the_worker():
    from leadcrm.celery import app

    app.loader.import_default_modules()
    assert "reports.refresh_summaries" in app.tasks
