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


WIZARD_CSV = (
    "First name,Last name,Company,Stage,Disqualified,Budget,Signed up\n"
    'Ann,Lee,Acme,Won,,"$1,200.00",31/01/2024\n'
    "Bob,Ray,Beta,Open,yes,-2.5,01/02/2024\n"
    "Cy,Do,Gamma,Open,,300,14/03/2024\n"
    "Di,Fu,Delta,Won,,450,15/03/2024\n"
)


@pytest.mark.browser
def test_wizard_imports_a_file_without_an_id_column(page, tmp_path, transactional_db, settings):
    from leads.models import ImportJob

    settings.MEDIA_ROOT = tmp_path / "media"
    AdminFactory(username="root")
    path = write(tmp_path, WIZARD_CSV, name="telemarketing.csv")

    browser_login(page, "root")
    page.goto("/imports/")
    page.click("#new-import")
    page.set_input_files("input[name=file]", str(path))
    page.click("#wizard-upload button[type=submit]")

    page.wait_for_selector("#wizard-map")
    assert "comma" in page.inner_text("#file-facts") and "utf-8" in page.inner_text("#file-facts")
    assert "number" in page.inner_text('td[data-column="Budget"]')
    screenshot(page, "import-wizard-sample")
    page.select_option("select[name=name]", "First name")
    page.select_option("select[name=last_name]", "Last name")
    page.select_option("select[name=company]", "Company")
    page.select_option("select[name=outcome_column]", "Stage")
    page.select_option("select[name=second_outcome_column]", "Disqualified")
    page.click("#wizard-map button[type=submit]")

    page.wait_for_selector("#wizard-outcomes")
    page.check('fieldset[data-column="Stage"] tr[data-value="Won"] input[value=converted]')
    page.check('fieldset[data-column="Disqualified"] tr[data-value="yes"] input[value=lost]')
    screenshot(page, "import-wizard-outcomes")
    page.click("#wizard-outcomes button[type=submit]")

    page.wait_for_selector("#wizard-columns")
    page.select_option('tr[data-column="Signed up"] select[name$="_date_order"]', "dmy")
    page.fill('tr[data-column="Budget"] input[name$="_min"]', "-10")
    page.click("#wizard-columns button[type=submit]")

    page.wait_for_selector("#preview-summary")
    assert "no id column: rows are matched by content" in page.inner_text("#keyless-note").lower()
    assert page.inner_text("#count-new") == "4" and page.inner_text("#count-failed") == "0"
    assert Lead.objects.count() == 0
    screenshot(page, "import-wizard-preview")
    page.fill("input[name=profile_name]", "telemarketing")
    page.click("#wizard-save button[type=submit]")

    page.wait_for_selector('#job-status [data-status="succeeded"]')
    job = ImportJob.objects.get()
    assert job.created_count == 4 and job.profile.name == "telemarketing"
    assert page.inner_text("#job-progress") is not None
    assert Lead.objects.get(name="Ann Lee").status == Lead.Status.CONVERTED
    assert Lead.objects.get(name="Bob Ray").status == Lead.Status.LOST
    assert Lead.objects.get(name="Cy Do").attributes["Signed up"] == "2024-03-14"
    screenshot(page, "import-wizard-done")
