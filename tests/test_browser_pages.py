"""Issue 17 in Debian chromium: no lost work when a session expires, every main page fits a
390 px phone, the queue becomes cards, and axe-core finds no violation of any impact (headings
descend one level at a time), the API docs page included."""

from datetime import timedelta

import pytest
from django.utils import timezone

from leads.models import Lead, LeadRank
from scoring.models import ModelVersion
from tests.conftest import HEADING_JUMPS, PHONE, axe_violations, browser_login, screenshot, sideways_overflow
from tests.reports.conftest import contract_metrics, report_data  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def crm(report_data):  # noqa: F811
    """Leads with scores and reasons, owned by the report fixture's reps, and an active model."""
    reference = {"source": {"kind": "categorical", "fractions": {"Google": 0.6, "Referral": 0.4}}}
    version = ModelVersion.objects.create(
        status="active", algorithm="logreg", metrics=contract_metrics(reference=reference),
        activated_at=timezone.now() - timedelta(days=30),
    )  # fmt: skip
    LeadRank.objects.filter(score__isnull=False).update(model_version=version)
    LeadRank.objects.filter(score__isnull=False).update(
        score_reasons=[{"feature": "source", "text": "Lead Source = Referral (+22)", "impact": 22}]
    )
    lead = Lead.objects.filter(status=Lead.Status.NEW).order_by("pk").first()
    return {"version": version, "lead": lead}


def main_pages(crm) -> list[str]:
    return [
        "/",
        f"/leads/{crm['lead'].pk}/",
        "/imports/",
        "/models/",
        f"/models/{crm['version'].pk}/",
        "/models/retrain/",
        "/reports/",
        "/reports/conversion/",
        "/reports/funnel/",
        "/reports/reps/",
        "/reports/channels/",
        "/reports/channels/spend/",
        "/reports/model/",
        "/reports/drift/",
        # The queue with its bulk-change form open, and the sales team's day (issue 16).
        "/?owner=&bulk=1",
        "/leads/new/",
        "/me/",
        "/notifications/",
        "/users/",
        "/audit/",
        "/imports/new/",
        "/no/such/page/",
    ]


def test_no_page_scrolls_sideways_on_a_390px_phone(browser, live_server, admin_user, crm):
    context = browser.new_context(base_url=live_server.url, viewport=PHONE)
    page = context.new_page()
    try:
        page.goto("/login/")
        assert sideways_overflow(page) <= 0, "/login/"
        browser_login(page, admin_user.username)
        for path in main_pages(crm):
            page.goto(path)
            assert sideways_overflow(page) <= 0, f"{path} is {sideways_overflow(page)} px wider than the screen"
        page.goto("/?owner=")
        card = page.locator("#queue-rows tr.lead-row").first
        box = card.bounding_box()
        assert box is not None and box["width"] <= PHONE["width"]
        # A card: name, score and tier, reasons, next follow-up and "Open" all visible.
        for selector in (".c-name a", ".c-score", ".c-tier .tier", ".c-next", ".c-action a"):
            assert card.locator(selector).is_visible(), selector
        for selector in (".c-status", ".c-owner", ".c-last", ".c-age"):
            assert not card.locator(selector).is_visible(), selector  # the desktop-only columns
        assert not page.locator("#queue thead").is_visible()
        screenshot(page, "queue-phone")
    finally:
        context.close()


def test_axe_finds_no_violation_of_any_impact(page, admin_user, crm):
    page.goto("/login/")
    pages = ["/login/", *[p for p in main_pages(crm) if p not in ("/models/retrain/", "/no/such/page/")]]
    problems = {}
    for index, path in enumerate(pages):
        if index == 1:
            browser_login(page, admin_user.username)
        page.goto(path)
        assert page.locator("h1").count() == 1, path
        found = {"axe": axe_violations(page), "heading jumps": page.evaluate(HEADING_JUMPS)}
        found = {k: v for k, v in found.items() if v}
        if found:
            problems[path] = found
    assert problems == {}


def open_api_docs(page) -> None:
    page.goto("/api/v1/docs/")
    page.wait_for_selector(".opblock-summary-control")
    page.wait_for_load_state("networkidle")


# What axe still finds inside an opened operation, in markup Swagger UI's own components render (only
# its vendored bundle could change it; our template, CSS and plugin cannot without replacing them):
SWAGGER_UI_MARKUP = {
    "select-name": "a parameter's enum <select> has no label of its own (the parameter name is in another cell)",
    "scrollable-region-focusable": "the example response <pre> scrolls but takes no focus",
}


@pytest.mark.parametrize("viewport", [{"width": 1280, "height": 900}, PHONE], ids=["desktop", "phone"])
def test_the_api_docs_page_passes_axe_and_keeps_its_deep_links(browser, live_server, admin_user, viewport):
    """drf-spectacular's Swagger UI, through our template (templates/drf_spectacular/swagger_ui.html):
    a language, contrast, no link inside the operation buttons, an h2 before the tags, landmarks."""
    context = browser.new_context(base_url=live_server.url, viewport=viewport)
    page = context.new_page()
    page.set_default_timeout(15000)
    try:
        browser_login(page, admin_user.username)
        open_api_docs(page)
        assert page.get_attribute("html", "lang") == "en"
        assert axe_violations(page) == []
        assert page.evaluate(HEADING_JUMPS) == []
        # An operation opened from the keyboard: still clean, and the address follows it (deep linking).
        page.focus("#operations-leads-leads_list .opblock-summary-control")
        page.keyboard.press("Enter")
        page.wait_for_selector("#operations-leads-leads_list.is-open")
        assert page.url.endswith("/api/v1/docs/#/leads/leads_list")
        assert axe_violations(page, allowed=SWAGGER_UI_MARKUP) == []
        # The deep link opens that operation.
        page.goto("/")
        page.goto("/api/v1/docs/#/leads/leads_create")
        page.wait_for_selector("#operations-leads-leads_create.is-open")
        assert page.locator("a[href='/']", has_text="LeadCRM").is_visible()  # the way back to the app
        assert sideways_overflow(page) <= 0
    finally:
        context.close()


def test_an_expired_session_keeps_the_typed_note_through_the_login(page, rep):
    lead = Lead.objects.create(name="Kept Note Lead", owner=rep)
    browser_login(page, rep.username)
    page.goto(f"/leads/{lead.pk}/")
    page.context.clear_cookies(name="sessionid")  # the session expires while the note is typed
    page.fill("#activity-form textarea[name=notes]", "Call back about the premium plan")
    page.fill("#activity-form input[name=outcome]", "voicemail")
    page.click("#activity-form button[type=submit]")

    page.wait_for_url("**/login/?next=**")
    assert page.locator("#lead-panel").count() == 0  # the login page is a page, not swapped into the lead
    page.fill("input[name=username]", rep.username)
    page.fill("input[name=password]", "pw")
    page.click("button[type=submit]")
    page.wait_for_url(f"**/leads/{lead.pk}/")
    assert page.input_value("#activity-form textarea[name=notes]") == "Call back about the premium plan"
    assert page.input_value("#activity-form input[name=outcome]") == "voicemail"
    assert "restored" in page.inner_text("#activity-form .form-alert")

    page.click("#activity-form button[type=submit]")
    page.wait_for_selector("#timeline >> text=Call back about the premium plan")
    page.reload()
    assert page.input_value("#activity-form textarea[name=notes]") == ""  # sent: the draft is gone


@pytest.mark.parametrize(
    "form, fill",
    [
        ("#follow-up-form", {"input[name=note]": "Send the proposal"}),
        ("#status-form", {"input[name=lost_reason]": "went quiet"}),
        ("#assign-form", {}),
        ("#score-override-form", {"input[name=reason]": "met at the trade show"}),
    ],
)
def test_a_csrf_failure_on_any_htmx_form_is_shown_in_place(page, manager, form, fill):
    lead = Lead.objects.create(name="Csrf Lead", owner=manager)
    browser_login(page, manager.username)
    page.goto(f"/leads/{lead.pk}/")
    if form == "#score-override-form":
        page.click("details.score-override summary")
        page.fill(f"{form} input[name=score]", "77")
    if form == "#follow-up-form":
        page.fill(f"{form} input[name=due_at]", "2031-01-15T10:30")
    for selector, value in fill.items():
        page.fill(f"{form} {selector}", value)
    page.context.clear_cookies()  # session and CSRF cookie both gone
    page.click(f"{form} button[type=submit]")
    alert = page.locator(f"{form} .form-alert")
    alert.wait_for()
    assert "Your session expired" in alert.inner_text()
    assert alert.locator("a", has_text="Log in").get_attribute("href") == f"/login/?next=/leads/{lead.pk}/"
    for selector, value in fill.items():
        assert page.input_value(f"{form} {selector}") == value  # nothing typed is lost
    assert page.url.endswith(f"/leads/{lead.pk}/")


def test_back_link_keeps_filters_and_close_takes_the_next_lead(page, rep):
    first = Lead.objects.create(name="First Hot", owner=rep, tier="hot", priority=90, score=90)
    second = Lead.objects.create(name="Second Hot", owner=rep, tier="hot", priority=80, score=80)
    Lead.objects.create(name="Cold One", owner=rep, tier="cold", priority=85, score=85)
    browser_login(page, rep.username)
    page.goto("/?tier=hot")
    page.click("text=First Hot")
    page.select_option("#status-form select[name=status]", "converted")
    page.click("#close-and-next")
    page.wait_for_url(f"**/leads/{second.pk}/?queue=tier%3Dhot")
    assert "First Hot is now Converted." in page.inner_text("#messages")
    page.click("#back-to-queue")
    page.wait_for_url("**/?tier=hot")
    assert page.input_value("select[name=tier]") == "hot"
    first.refresh_from_db()
    assert first.status == Lead.Status.CONVERTED


def test_grey_buttons_show_a_visible_focus_ring(page, rep):
    Lead.objects.create(name="Focus Lead", owner=rep)
    browser_login(page, rep.username)
    page.focus("form.filters button.secondary")
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Tab")  # keyboard focus, so :focus-visible applies
    outline = page.evaluate(
        "(() => { const s = getComputedStyle(document.activeElement); return [s.outlineStyle, s.outlineWidth]; })()"
    )
    assert outline[0] != "none" and outline[1] != "0px"
