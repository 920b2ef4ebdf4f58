"""A rep's day in Debian chromium: log in, see the ranked queue, open a lead, log a call,
schedule a follow-up and see it in the queue."""

import pytest
from django.utils import timezone

from tests.conftest import browser_login, screenshot
from tests.factories import LeadFactory, RepFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_rep_works_a_lead_from_the_queue(page):
    rep = RepFactory(username="walter", first_name="Walter")
    LeadFactory(owner=rep, name="Low Lead", score=12, priority=12, tier="cold")
    LeadFactory(
        owner=rep,
        name="Top Lead",
        company="Globex",
        score=91,
        priority=91,
        tier="hot",
        score_reasons=[{"feature": "Lead Source", "text": "Lead Source = Referral (+22)", "impact": 22}],
    )
    LeadFactory(owner=rep, name="Late Lead", score=30, priority=30, tier="warm",
                next_follow_up_at=timezone.now() - timezone.timedelta(hours=5))  # fmt: skip

    browser_login(page, "walter")
    rows = page.locator("#queue-rows tr.lead-row")
    assert rows.count() == 3
    # The first cell holds the row's tick box, then the lead's name.
    assert rows.nth(0).locator("td.c-name a").inner_text() == "Late Lead"  # overdue first
    assert rows.nth(1).locator("td.c-name a").inner_text() == "Top Lead"  # then by score
    assert "Lead Source = Referral (+22)" in rows.nth(1).inner_text()
    screenshot(page, "queue")

    page.click("text=Top Lead")
    page.wait_for_selector("#activity-form")
    page.select_option("#activity-form select[name=kind]", "call")
    page.fill("#activity-form input[name=outcome]", "connected")
    page.fill("#activity-form textarea[name=notes]", "Interested in the premium plan")
    page.click("#activity-form button[type=submit]")
    page.wait_for_selector("#timeline >> text=Interested in the premium plan")
    assert "Contacted" in page.inner_text("#lead-status")

    page.fill("#follow-up-form input[name=due_at]", "2031-01-15T10:30")
    page.fill("#follow-up-form input[name=note]", "Send the proposal")
    page.click("#follow-up-form button[type=submit]")
    page.wait_for_selector(".follow-ups >> text=Send the proposal")
    screenshot(page, "lead-detail")

    page.click("text=← Work queue")
    top_row = page.locator("#queue-rows tr.lead-row", has_text="Top Lead")
    assert "Jan 15, 10:30" in top_row.inner_text()
    assert "Contacted" in top_row.inner_text()
