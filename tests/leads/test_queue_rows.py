from datetime import timedelta

from django.utils import timezone

from leads.queue_rows import queue_rows
from leads.selectors import QueueFilters, queue_for
from tests.factories import LeadFactory


def test_each_row_carries_ready_text_for_the_queue_template(rep):
    now = timezone.now()
    late = LeadFactory(
        owner=rep, name="Late Lead", email="late@example.com", phone="+1 555", score=40, priority=40,
        next_follow_up_at=now - timedelta(hours=2), last_activity_at=now - timedelta(minutes=5),
        score_reasons=[{"text": "Visited pricing", "impact": 3.0}, {"text": "No reply", "impact": -1.0}],
    )  # fmt: skip
    LeadFactory(owner=rep, name="Quiet Lead", priority=10)
    page = queue_for(rep, QueueFilters(), now=now)

    first, second = queue_rows(page, lead_suffix="?queue=tier%3Dhot")

    assert first["pk"] == late.pk and first["overdue"] and first["name"] == "Late Lead"
    assert first["url"] == f"/leads/{late.pk}/?queue=tier%3Dhot"
    assert first["log_call_url"] == f"/leads/{late.pk}/?log=call#log"
    assert first["log_email_url"] == f"/leads/{late.pk}/?log=email#log"
    assert first["reasons"] == [("up", "Visited pricing"), ("down", "No reply")]
    assert first["owner"] == str(rep) and first["score"] == 40
    assert first["last_activity"] == "5\xa0minutes ago" and first["next_follow_up"]
    assert second["name"] == "Quiet Lead" and not second["overdue"] and second["next_follow_up"] == ""
    assert second["last_activity"] == ""
