from datetime import date

import pytest

from leads.reports.forms import ReportFilterForm
from leads.reports.selectors import ReportFilters


def _form(data, owners=()):
    return ReportFilterForm(data, sources=["Google", "Chat"], origins=["Web Form"], owners=list(owners))


@pytest.mark.django_db
def test_filter_form_builds_report_filters(rep):
    form = _form({"date_from": "2026-06-01", "date_to": "2026-06-30", "source": "Google", "owner": str(rep.pk)}, [rep])
    assert form.report_filters() == ReportFilters(
        date_from=date(2026, 6, 1), date_to=date(2026, 6, 30), source="Google", owner=str(rep.pk)
    )


def test_filter_form_rejects_reversed_dates_and_unknown_choices():
    form = _form({"date_from": "2026-06-30", "date_to": "2026-06-01"})
    assert not form.is_valid() and "date_to" in form.errors
    assert form.report_filters() == ReportFilters()
    assert not _form({"source": "=evil"}).is_valid()
    assert _form({"owner": "pool"}).report_filters().owner == "pool"
