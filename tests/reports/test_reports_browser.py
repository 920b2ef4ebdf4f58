from datetime import timedelta

import pytest
from django.utils import timezone

from leads.models import LeadRank
from scoring.models import ModelVersion
from tests.conftest import browser_login, screenshot
from tests.reports.conftest import contract_metrics

REPORT_PAGES = (
    ("/reports/", "Reports overview"),
    ("/reports/conversion/", "Conversion"),
    ("/reports/funnel/", "Funnel"),
    ("/reports/reps/", "Rep discipline"),
    ("/reports/model/", "Model quality"),
    ("/reports/drift/", "Drift"),
)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_manager_opens_every_report_and_sees_charts(page, manager, report_data):
    reference = {
        "source": {"kind": "categorical", "fractions": {"Google": 0.6, "Referral": 0.3, "Chat": 0.1}},
        "__score__": {"kind": "numeric", "edges": [0, 0.25, 0.5, 0.75, 1.0], "fractions": [0.4, 0.3, 0.2, 0.1]},
    }
    version = ModelVersion.objects.create(
        status="active", algorithm="logreg", metrics=contract_metrics(reference=reference),
        activated_at=timezone.now() - timedelta(days=30),
    )  # fmt: skip
    LeadRank.objects.filter(score__isnull=False).update(model_version=version)

    browser_login(page, manager.username)
    for path, heading in REPORT_PAGES:
        page.goto(path)
        assert page.locator("h1").first.inner_text().startswith(heading)
        assert page.locator("svg.chart").count() >= (0 if path == "/reports/" else 1)
        name = "reports-" + (path.strip("/").split("/")[-1] if path != "/reports/" else "dashboard")
        screenshot(page, name)

    page.goto("/reports/conversion/")
    page.select_option("select[name=source]", "Google")
    page.click("form.report-filters button[type=submit]")
    page.wait_for_url("**source=Google**")
    assert "4" in page.locator("p.summary strong").first.inner_text()
    with page.expect_download() as download:
        page.locator("#table-by_source a.csv").click()
    assert download.value.suggested_filename == "conversion-by_source.csv"
