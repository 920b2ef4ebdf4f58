"""An admin imports a file through the Django admin: choose the profile, see the dry-run
preview, confirm, and the leads are there."""

import pytest

from leads.models import Lead
from tests.conftest import PHONE, axe_serious_problems, browser_login, screenshot, sideways_overflow
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


WIZARD_STEPS = (
    "#wizard-map",
    "#wizard-outcomes",
    "#wizard-columns",
    "#preview-summary",
    '#job-status [data-status="succeeded"]',
)


def _through_the_wizard(page, path, check) -> None:
    """Upload `path` on /imports/ and take the wizard to a finished job, mapping WIZARD_CSV's
    columns; `check(step)` runs as each step (a selector of WIZARD_STEPS) has appeared."""
    page.goto("/imports/")
    page.click("#new-import")
    page.set_input_files("input[name=file]", str(path))
    page.click("#wizard-upload button[type=submit]")

    page.wait_for_selector("#wizard-map")
    check("#wizard-map")
    page.select_option("select[name=name]", "First name")
    page.select_option("select[name=last_name]", "Last name")
    page.select_option("select[name=company]", "Company")
    page.select_option("select[name=outcome_column]", "Stage")
    page.select_option("select[name=second_outcome_column]", "Disqualified")
    page.click("#wizard-map button[type=submit]")

    page.wait_for_selector("#wizard-outcomes")
    page.check('fieldset[data-column="Stage"] tr[data-value="Won"] input[value=converted]')
    page.check('fieldset[data-column="Disqualified"] tr[data-value="yes"] input[value=lost]')
    check("#wizard-outcomes")
    page.click("#wizard-outcomes button[type=submit]")

    page.wait_for_selector("#wizard-columns")
    page.select_option('tr[data-column="Signed up"] select[name$="_date_order"]', "dmy")
    page.fill('tr[data-column="Budget"] input[name$="_min"]', "-10")
    check("#wizard-columns")
    page.click("#wizard-columns button[type=submit]")

    page.wait_for_selector("#preview-summary")
    check("#preview-summary")
    page.fill("input[name=profile_name]", "telemarketing")
    page.click("#wizard-save button[type=submit]")

    page.wait_for_selector('#job-status [data-status="succeeded"]')
    check('#job-status [data-status="succeeded"]')


@pytest.mark.browser
def test_wizard_imports_a_file_without_an_id_column(page, tmp_path, transactional_db, settings):
    from leads.models import ImportJob

    settings.MEDIA_ROOT = tmp_path / "media"
    AdminFactory(username="root")
    path = write(tmp_path, WIZARD_CSV, name="telemarketing.csv")

    def check(step: str) -> None:
        if step == "#wizard-map":
            assert "comma" in page.inner_text("#file-facts") and "utf-8" in page.inner_text("#file-facts")
            assert "number" in page.inner_text('td[data-column="Budget"]')
            screenshot(page, "import-wizard-sample")
        elif step == "#wizard-outcomes":
            screenshot(page, "import-wizard-outcomes")
        elif step == "#preview-summary":
            assert "no id column: rows are matched by content" in page.inner_text("#keyless-note").lower()
            assert page.inner_text("#count-new") == "4" and page.inner_text("#count-failed") == "0"
            assert Lead.objects.count() == 0
            screenshot(page, "import-wizard-preview")

    browser_login(page, "root")
    _through_the_wizard(page, path, check)

    job = ImportJob.objects.get()
    assert job.created_count == 4 and job.profile.name == "telemarketing"
    assert page.inner_text("#job-progress") is not None
    assert Lead.objects.get(name="Ann Lee").status == Lead.Status.CONVERTED
    assert Lead.objects.get(name="Bob Ray").status == Lead.Status.LOST
    assert Lead.objects.get(name="Cy Do").attributes["Signed up"] == "2024-03-14"
    screenshot(page, "import-wizard-done")


@pytest.mark.browser
def test_every_wizard_step_fits_a_phone_and_passes_axe(browser, live_server, tmp_path, transactional_db, settings):
    settings.MEDIA_ROOT = tmp_path / "media"
    AdminFactory(username="root")
    path = write(tmp_path, WIZARD_CSV, name="telemarketing.csv")
    context = browser.new_context(base_url=live_server.url, viewport=PHONE)
    page = context.new_page()
    page.set_default_timeout(15000)
    seen, problems = [], {}

    def check(step: str) -> None:
        seen.append(step)
        assert page.locator("h1").count() == 1, step
        assert sideways_overflow(page) <= 0, f"{step}: {sideways_overflow(page)} px wider than the screen"
        bad = axe_serious_problems(page)
        if bad:
            problems[step] = bad

    try:
        browser_login(page, "root")
        page.goto("/imports/new/")
        check("/imports/new/")
        _through_the_wizard(page, path, check)
    finally:
        context.close()
    assert seen == ["/imports/new/", *WIZARD_STEPS]
    assert problems == {}
