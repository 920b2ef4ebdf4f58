"""An admin imports a file through the Django admin: choose the profile, see the dry-run
preview, confirm, and the leads are there."""

import pytest

from leads.models import Lead
from tests.conftest import browser_login, screenshot
from tests.factories import AdminFactory
from tests.leads.import_samples import write, x_education_profile, xeducation_csv


@pytest.mark.browser
def test_admin_imports_a_file_with_the_preview_step(page, tmp_path, transactional_db):
    AdminFactory(username="root")
    profile = x_education_profile()
    path = write(tmp_path, xeducation_csv(9), name="x_education_sample.csv")

    browser_login(page, "root")
    page.goto("/admin/leads/lead/import/")
    page.set_input_files("input[name=import_file]", str(path))
    page.select_option("select[name=format]", label="csv")
    page.select_option("select[name=profile]", value=str(profile.pk))
    page.click("input[type=submit][value=Submit]")

    page.wait_for_selector("text=Preview")
    assert page.locator("table.import-preview, table").first.is_visible()
    assert Lead.objects.count() == 0  # the preview wrote nothing
    screenshot(page, "import-admin-preview")

    page.click("input[name=confirm]")
    page.wait_for_url("**/admin/leads/lead/**")
    assert Lead.objects.count() == 9
    assert Lead.objects.filter(status__in=Lead.CLOSED_STATUSES).count() == 9
    screenshot(page, "import-admin-done")
