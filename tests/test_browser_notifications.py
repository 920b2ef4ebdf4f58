"""In Debian chromium: a manager assigns three pool leads to a rep; the rep's header shows three
unread notifications, the list shows them, and opening one lands on that lead and counts it read."""

import pytest
from playwright.sync_api import expect

from tests.conftest import browser_login, screenshot
from tests.factories import LeadFactory, ManagerFactory, RepFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_manager_assigns_three_leads_and_the_rep_is_told(page):
    ManagerFactory(username="mona")
    rep = RepFactory(username="rita", first_name="Rita")
    leads = [LeadFactory(owner=None, name=f"Pool Lead {i}") for i in (1, 2, 3)]

    browser_login(page, "mona")
    for lead in leads:
        page.goto(f"/leads/{lead.pk}/")
        page.select_option("#assign-form select[name=owner]", str(rep.pk))
        page.click("#assign-form button[type=submit]")
        page.wait_for_selector("#messages >> text=Lead assigned.")
    page.click("header button:has-text('Log out')")

    browser_login(page, "rita")
    badge = page.locator("#notifications-badge .badge")
    badge.wait_for()
    assert badge.inner_text() == "3"
    page.click("#notifications-badge")
    items = page.locator("#notifications li.unread")
    assert items.count() == 3
    screenshot(page, "notifications")

    page.click("#notifications li >> text=Pool Lead 2 was assigned to you")
    page.wait_for_url(f"**/leads/{leads[1].pk}/")
    assert "Pool Lead 2" in page.inner_text("h1")
    # The badge loads after the page (hx-trigger="load"): wait for it to appear, then for its count.
    expect(page.locator("#notifications-badge .badge")).to_have_text("2")


def test_manager_bulk_assigns_three_leads_from_the_queue_and_the_rep_opens_one(page):
    ManagerFactory(username="mona")
    rep = RepFactory(username="rita", first_name="Rita")
    leads = [LeadFactory(owner=None, name=f"Bulk Lead {i}", priority=90 - i) for i in (1, 2, 3)]
    LeadFactory(owner=None, name="Left Alone", priority=10)

    browser_login(page, "mona")
    page.goto("/?owner=pool")
    for lead in leads:
        page.check(f"#queue-rows input.pick[value='{lead.pk}']")
    page.click("#bulk-actions summary")
    page.select_option("#bulk-assign select[name=owner]", str(rep.pk))
    page.click("#bulk-assign button[value=assign]")
    page.wait_for_selector("#messages >> text=3 leads changed.")
    expect(page.locator("#queue-rows")).not_to_contain_text("Bulk Lead")  # they left the pool
    screenshot(page, "queue-bulk-assigned")
    page.click("header button:has-text('Log out')")

    browser_login(page, "rita")
    expect(page.locator("#notifications-badge .badge")).to_have_text("3")
    page.click("#notifications-badge")
    assert page.locator("#notifications li.unread").count() == 3
    page.click("#notifications li >> text=Bulk Lead 3 was assigned to you")
    page.wait_for_url(f"**/leads/{leads[2].pk}/")
    assert "Bulk Lead 3" in page.inner_text("h1")
    expect(page.locator("#notifications-badge .badge")).to_have_text("2")
