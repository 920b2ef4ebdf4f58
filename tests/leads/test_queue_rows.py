from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
from django.contrib.humanize.templatetags import humanize
from django.utils import dateformat, timezone, translation
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.timesince import timesince
from django.utils.translation import gettext_lazy

from leads.models import Lead
from leads.queue_rows import PageTimes, queue_rows, queue_rows_html
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


# --- queue_rows_html against the format_html markup it replaced, byte for byte ----------------------
_REFERENCE_ROW = (
    '\n<tr class="lead-row{overdue_class}" data-lead="{pk}">\n'
    '  <td class="c-name"><input type="checkbox" name="lead" value="{pk}" form="bulk-form" class="pick"'
    ' aria-label="Tick {name}"> <a href="{url}">{name}</a>{company}</td>\n'
    '  <td class="c-contact">{contact}</td>\n'
    '  <td class="score c-score">{score}</td>\n'
    '  <td class="c-tier"><span class="tier tier-{tier}">{tier_label}</span></td>\n'
    '  <td class="reasons">{reasons}</td>\n'
    '  <td class="c-status">{status_label}</td>\n'
    '  <td class="c-owner">{owner}</td>\n'
    '  <td class="c-next{late_class}"><span class="cell-label">Next follow-up: </span>{next_follow_up}</td>\n'
    '  <td class="c-last">{last_activity}</td>\n'
    '  <td class="c-age">{age}</td>\n'
    '  <td class="card-only c-action"><a href="{url}" role="button" class="small"'
    ' aria-label="Open {name}">Open</a></td>\n'
    "</tr>\n"
)
_DASH = mark_safe('<span class="muted">\u2013</span>')


def _reference_html(rows: list[dict]) -> str:
    """The queue's rows as format_html placed them (leads/queue_rows.py before it used f-strings)."""

    def log_link(scheme, address, log_url, action, name):
        if not address:
            return ""
        return format_html(
            '<a href="{}:{}" data-log-url="{}" aria-label="{} {}">{}</a>',
            scheme,
            address,
            log_url,
            action,
            name,
            action,
        )

    def row_html(row):
        email = log_link("mailto", row["email"], row["log_email_url"], "Email", row["name"])
        phone = log_link("tel", row["phone"], row["log_call_url"], "Call", row["name"])
        next_follow_up = (
            format_html("{}{}", row["next_follow_up"], mark_safe(" <strong>overdue</strong>") if row["overdue"] else "")
            if row["next_follow_up"]
            else _DASH
        )
        return format_html(
            _REFERENCE_ROW,
            overdue_class=" overdue" if row["overdue"] else "",
            late_class=" late" if row["overdue"] else "",
            pk=row["pk"],
            name=row["name"],
            url=row["url"],
            company=format_html('<br><small class="muted">{}</small>', row["company"]) if row["company"] else "",
            contact=format_html("{}{}{}", email, " · " if email and phone else "", phone),
            score=_DASH if row["score"] is None else row["score"],
            tier=row["tier"],
            tier_label=row["tier_label"],
            reasons=format_html_join("", '<span class="reason {}">{}</span>', row["reasons"]) or _DASH,
            status_label=row["status_label"],
            owner=row["owner"] or mark_safe("<em>pool</em>"),
            next_follow_up=next_follow_up,
            last_activity=row["last_activity"] or mark_safe('<span class="muted">never</span>'),
            age=row["age"],
        )

    return "".join(row_html(row) for row in rows)


def _row(**values) -> dict:
    row = {
        "pk": 7, "overdue": False, "name": "Ann", "company": "", "url": "/leads/7/", "email": "", "phone": "",
        "log_email_url": "/leads/7/?log=email#log", "log_call_url": "/leads/7/?log=call#log", "score": None,
        "tier": "unscored", "tier_label": "Unscored", "reasons": [], "status_label": "New", "owner": "",
        "next_follow_up": "", "last_activity": "", "age": "0\xa0minutes",
    }  # fmt: skip
    return {**row, **values}


TRICKY = '<b>"Bo" & Co\'s</b> `x` =y'
ROWS = [
    _row(),
    _row(
        pk=8,
        overdue=True,
        name=TRICKY,
        company=TRICKY,
        url="/leads/8/?queue=q%3D%3Cb%3E&a=<'\">",
        email='a"b@x.com',
        phone="+1 <5>",
        log_email_url="/leads/8/?log=email&x=<>#log",
        score=0,
        tier="<hot>",
        tier_label="H&ot",
        reasons=[("up", TRICKY), ("down", "<script>x</script>"), ("up", 3.5), ("down", None)],
        status_label="Con'tacted",
        owner="O'Brien & <Sons>",
        next_follow_up="Mar 3, 09:05",
        last_activity="5\xa0minutes ago",
        age="1\xa0year, 2\xa0months",
    ),
    _row(email="e@x.com", phone="", score=99, reasons=[("up", "Visited")], next_follow_up="Jan 1, 00:00"),
    _row(email="", phone="123", overdue=True, next_follow_up="Dec 31, 23:59", owner="Rep"),
    # Safe strings stay as they are (conditional_escape), lazy and non-str values are escaped as text.
    _row(
        name=mark_safe("<em>Safe</em> & co"),
        company=mark_safe("<i>Acme</i>"),
        email=mark_safe("s@x.com"),
        phone="1",
        tier_label=gettext_lazy("Hot & <warm>"),
        status_label=mark_safe("<b>New</b>"),
        owner=mark_safe("<u>Boss</u>"),
        last_activity=gettext_lazy("now"),
        age=mark_safe("<i>3 days</i>"),
        reasons=[(mark_safe("up"), mark_safe("<b>safe</b>")), ("down", gettext_lazy("<lazy>"))],
        score=-1,
    ),
]


def test_row_markup_is_byte_for_byte_the_format_html_markup():
    html = queue_rows_html(ROWS)

    assert isinstance(html, SafeString)
    assert html == _reference_html(ROWS)
    assert "&lt;b&gt;&quot;Bo&quot; &amp; Co&#x27;s&lt;/b&gt; `x` =y" in html and "<em>Safe</em> & co" in html


def test_row_markup_of_real_leads_is_the_format_html_markup(rep, other_rep, manager):
    now = timezone.now()
    for i, owner in enumerate([rep, other_rep, None] * 4):
        LeadFactory(
            owner=owner, name=TRICKY if i % 3 == 0 else "" if i == 4 else f"Lead {i}", email="" if i == 4 else f"{i}@x",
            external_id=f"E<{i}>", company="" if i % 2 else "A & <B>", phone="" if i % 4 else "+1 <5>",
            score=i * 9 if i % 5 else None, score_override=7 if i == 2 else None, priority=i,
            status=[Lead.Status.NEW, Lead.Status.CONTACTED, Lead.Status.QUALIFIED][i % 3],
            next_follow_up_at=now + timedelta(hours=5 * i - 30) if i % 3 else None,
            last_activity_at=now - timedelta(days=i * 40, minutes=i) if i % 4 else None,
            created_at=now - timedelta(days=i * 33, hours=i),
            score_reasons=[{"text": f"<r{i}> & more", "impact": 1.0 - i % 2 * 2}] if i % 2 else [],
        )  # fmt: skip
    page = queue_for(manager, QueueFilters(), now=now)
    assert len(page.leads) == 12 and page.overdue_ids

    rows = queue_rows(page, lead_suffix="?queue=q%3D%3Cb%3E")

    assert queue_rows_html(rows) == _reference_html(rows)
    for row, lead in zip(rows, page.leads, strict=True):
        assert row["tier_label"] == lead.get_tier_display() and row["status_label"] == lead.get_status_display()
        assert row["owner"] == (str(lead.owner) if lead.owner_id else "")


# --- PageTimes against Django's timesince, naturaltime and dateformat ------------------------------
NOW = datetime(2024, 3, 31, 12, 30, 15, 500_000, tzinfo=UTC)
# Offsets in seconds: each side of every unit's boundaries, and a spread up to three years.
_UNITS = (60, 3600, 86400, 7 * 86400, 28 * 86400, 30 * 86400, 31 * 86400, 365 * 86400, 366 * 86400)
OFFSETS = sorted(
    {0, 1, 59, 61}
    | {k * unit + d for unit in _UNITS for k in (1, 2, 3, 11, 12, 13) for d in (-1, 0, 1)}
    | {int(1.37**n) for n in range(1, 62)}
    | {n * 7919 + n % 7 for n in range(0, 14000, 7)}
)


@pytest.mark.parametrize(
    "now", [NOW, datetime(2024, 2, 29, 0, 0, 0, tzinfo=UTC), datetime(2023, 1, 31, 23, 59, tzinfo=UTC)]
)
def test_page_times_since_is_djangos_timesince(now):
    times = PageTimes()
    for offset in OFFSETS:
        for d in (now - timedelta(seconds=offset), now + timedelta(seconds=offset)):
            assert times.since(d, now) == timesince(d, now), (d, now)
    assert len(OFFSETS) > 1500


class _Frozen(datetime):
    """humanize's clock, stopped at NOW."""

    @classmethod
    def now(cls, tz=None):
        return NOW if tz else NOW.replace(tzinfo=None)


@pytest.mark.parametrize("language", ["en-us", "de"])
def test_page_times_natural_is_humanizes_naturaltime(language):
    with translation.override(language), mock.patch.object(humanize, "datetime", _Frozen):
        times = PageTimes()
        for offset in OFFSETS:
            for value in (NOW - timedelta(seconds=offset), NOW + timedelta(seconds=offset, microseconds=1)):
                assert times.natural(value) == humanize.naturaltime(value), value
        assert times.natural(NOW) == humanize.naturaltime(NOW)
        assert times.natural(NOW - timedelta(days=2)) != humanize.naturaltime(NOW - timedelta(days=3))


@pytest.mark.parametrize("zone", ["UTC", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"])
@pytest.mark.parametrize("language", ["en-us", "de"])
def test_page_times_month_day_time_is_djangos_dateformat(zone, language):
    with timezone.override(zone), translation.override(language):
        times = PageTimes()
        for hours in range(0, 24 * 400, 7):
            value = NOW + timedelta(hours=hours, minutes=hours % 60)
            assert times.month_day_time(value) == dateformat.format(timezone.localtime(value), "M j, H:i")
        assert times.month_day_time(None) == ""
