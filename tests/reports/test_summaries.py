import pytest
from django.urls import reverse

from leads.reports import summaries
from leads.reports.selectors import ReportFilters
from scoring.drift import monitoring_refresh
from scoring.models import ModelVersion
from tests.factories import LeadFactory
from tests.reports.conftest import contract_metrics

pytestmark = pytest.mark.django_db


def test_summary_is_computed_once_then_read_from_the_cache(report_data, django_assert_num_queries):
    first = summaries.funnel_summary(ReportFilters())
    with django_assert_num_queries(0):
        again = summaries.funnel_summary(ReportFilters())
    assert again.value == first.value and again.computed_at == first.computed_at


def test_filters_have_their_own_summaries(report_data):
    everything = summaries.conversion_summary(ReportFilters())
    google = summaries.conversion_summary(ReportFilters(source="Google"))
    assert sum(r["leads"] for r in everything.value["cube"]) == 10
    assert sum(r["leads"] for r in google.value["cube"]) == 4


def test_refresh_recomputes_a_stale_summary(report_data):
    assert summaries.dashboard_summary().value["open_leads"] == 4
    LeadFactory(status="new")
    assert summaries.dashboard_summary().value["open_leads"] == 4  # cached
    assert summaries.dashboard_summary(refresh=True).value["open_leads"] == 5


def test_reports_refresh_precomputes_every_default_report(report_data, manager_client, django_assert_max_num_queries):
    reference = {"source": {"kind": "categorical", "fractions": {"Google": 1.0}}}
    ModelVersion.objects.create(status="active", metrics=contract_metrics(reference=reference))
    # The CRM reports' beat task, then scoring's for the model pages (scoring.refresh_monitoring).
    timings = {**summaries.reports_refresh(), **monitoring_refresh()}
    assert set(timings) == {"dashboard", "conversion", "funnel", "reps", "channels", "observed", "drift"}
    # With the summaries in the cache a page costs only the session, the user, filter menus and the model.
    for name in ("dashboard", "conversion", "funnel", "reps", "channels", "model", "drift"):
        with django_assert_max_num_queries(6):
            assert manager_client.get(reverse(f"reports:{name}")).status_code == 200


def test_page_says_when_its_numbers_were_computed_and_recomputes_on_request(report_data, manager_client):
    response = manager_client.get(reverse("reports:funnel"))
    assert b"Numbers as of" in response.content and b"refresh=1" in response.content
    LeadFactory(status="new")
    assert manager_client.get(reverse("reports:funnel")).context["stages"][0]["reached"] == 10
    assert manager_client.get(reverse("reports:funnel"), {"refresh": "1"}).context["stages"][0]["reached"] == 11
