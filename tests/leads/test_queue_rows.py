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


def test_a_page_of_rows_reads_nothing_more_than_the_queue_query(rep, other_rep, manager, django_assert_num_queries):
    """The queue loads only the columns its rows show (selectors.QUEUE_ROW_FIELDS): building the
    rows must not fetch a deferred field lead by lead."""
    now = timezone.now()
    for i, owner in enumerate([rep, other_rep, None] * 3):
        LeadFactory(
            owner=owner, name="" if i in (4, 5) else f"Lead {i}", email="" if i == 5 else f"l{i}@example.com",
            external_id=f"EXT-{i}", score_override=7 if i == 2 else None,
            next_follow_up_at=now - timedelta(hours=i) if i % 2 else None, last_activity_at=now - timedelta(days=i),
            score_reasons=[{"text": "Visited pricing", "impact": 3.0}],
        )  # fmt: skip
    page = queue_for(manager, QueueFilters(), now=now)
    assert len(page.leads) == 9
    with django_assert_num_queries(0):
        rows = queue_rows(page, lead_suffix="")
        names = [str(lead) for lead in page.leads]
    assert {row["owner"] for row in rows} == {str(rep), str(other_rep), ""}
    assert {"l4@example.com", "EXT-5"} <= set(names) and any(row["score"] == 7 for row in rows)
