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


def test_row_markup_escapes_every_value_and_fills_the_empty_cells(rep):
    """queue_rows_html places each value escaped; missing values get the page's placeholders."""
    from leads.queue_rows import queue_rows_html

    now = timezone.now()
    LeadFactory(
        owner=rep, name='<b>"Bo" & Co\'s</b>', company="<i>Acme</i>", email="b@example.com", phone="+1 <5>",
        score=40, priority=40, next_follow_up_at=now - timedelta(hours=2),
        score_reasons=[{"text": "<script>x</script>", "impact": 1.0}],
    )  # fmt: skip
    LeadFactory(owner=None, name="Plain", email="", phone="", score=None, priority=1, score_reasons=[])
    html = queue_rows_html(queue_rows(queue_for(rep, QueueFilters(owner=""), now=now), lead_suffix=""))
    html += queue_rows_html(queue_rows(queue_for(rep, QueueFilters(owner="pool"), now=now), lead_suffix=""))

    assert "<b>" not in html and "<script>" not in html and "<i>" not in html
    assert "&lt;b&gt;&quot;Bo&quot; &amp; Co&#x27;s&lt;/b&gt;" in html
    assert '<small class="muted">&lt;i&gt;Acme&lt;/i&gt;</small>' in html
    assert 'href="tel:+1 &lt;5&gt;"' in html and "Email</a> · <a" in html
    assert '<span class="reason up">&lt;script&gt;x&lt;/script&gt;</span>' in html
    assert 'class="lead-row overdue"' in html and "<strong>overdue</strong>" in html
    assert '<td class="c-owner"><em>pool</em></td>' in html
    assert '<td class="c-last"><span class="muted">never</span></td>' in html
    assert html.count('<span class="muted">\u2013</span>') == 3  # the pool lead's score, reasons and follow-up
