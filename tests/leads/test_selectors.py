import pytest
from django.utils import timezone

from leads import selectors
from leads.models import Lead
from leads.selectors import QueueFilters, queue_for
from tests.factories import LeadFactory

pytestmark = pytest.mark.django_db


def _names(page):
    return [lead.name for lead in page.leads]


def test_queue_puts_overdue_follow_ups_first_then_score_descending(rep):
    now = timezone.now()
    LeadFactory(owner=rep, name="mid", priority=50)
    LeadFactory(owner=rep, name="top", priority=95)
    LeadFactory(owner=rep, name="unscored", priority=-1)
    LeadFactory(owner=rep, name="late-2h", priority=10, next_follow_up_at=now - timezone.timedelta(hours=2))
    LeadFactory(owner=rep, name="late-1d", priority=5, next_follow_up_at=now - timezone.timedelta(days=1))
    LeadFactory(owner=rep, name="due-tomorrow", priority=70, next_follow_up_at=now + timezone.timedelta(days=1))
    page = queue_for(rep, QueueFilters(), now=now)
    assert _names(page) == ["late-1d", "late-2h", "top", "due-tomorrow", "mid", "unscored"]
    assert page.overdue_ids == {lead.pk for lead in page.leads[:2]}
    assert page.next_cursor is None


def test_queue_hides_closed_leads_and_other_reps_leads_and_the_pool(rep, other_rep):
    LeadFactory(owner=rep, name="mine")
    LeadFactory(owner=rep, name="won", status=Lead.Status.CONVERTED)
    LeadFactory(owner=other_rep, name="bobs")
    LeadFactory(owner=None, name="pool")
    assert _names(queue_for(rep, QueueFilters())) == ["mine"]
    assert _names(queue_for(rep, QueueFilters(owner="pool"))) == ["pool"]
    assert _names(queue_for(rep, QueueFilters(status="converted"))) == ["won"]


def test_rep_cannot_see_another_reps_leads_by_owner_filter(rep, other_rep):
    LeadFactory(owner=other_rep, name="bobs")
    assert _names(queue_for(rep, QueueFilters(owner=str(other_rep.pk)))) == []


def test_manager_sees_everyone_and_can_filter_by_owner(manager, rep, other_rep):
    LeadFactory(owner=rep, name="a", priority=3)
    LeadFactory(owner=other_rep, name="b", priority=2)
    LeadFactory(owner=None, name="c", priority=1)
    assert _names(queue_for(manager, QueueFilters())) == ["a", "b", "c"]
    assert _names(queue_for(manager, QueueFilters(owner=str(other_rep.pk)))) == ["b"]


def test_filters_by_tier_source_search_and_due(rep):
    now = timezone.now()
    LeadFactory(owner=rep, name="Hot Google", tier="hot", source="Google", company="Initech")
    LeadFactory(owner=rep, name="Cold Referral", tier="cold", source="Referral", email="zed@zulu.io")
    LeadFactory(owner=rep, name="Due soon", tier="warm", next_follow_up_at=now + timezone.timedelta(minutes=5))
    LeadFactory(owner=rep, name="Late", tier="warm", next_follow_up_at=now - timezone.timedelta(minutes=5))
    assert _names(queue_for(rep, QueueFilters(tier="hot"), now=now)) == ["Hot Google"]
    assert _names(queue_for(rep, QueueFilters(source="Referral"), now=now)) == ["Cold Referral"]
    assert _names(queue_for(rep, QueueFilters(q="initech"), now=now)) == ["Hot Google"]
    assert _names(queue_for(rep, QueueFilters(q="ZULU"), now=now)) == ["Cold Referral"]
    assert _names(queue_for(rep, QueueFilters(due="overdue"), now=now)) == ["Late"]
    assert sorted(_names(queue_for(rep, QueueFilters(due="today"), now=now.replace(hour=12)))) in (
        ["Due soon", "Late"],
        ["Late"],  # when "now + 5 min" crosses midnight
    )


@pytest.mark.parametrize("page_size", [1, 2, 3, 7])
def test_keyset_pages_cover_every_lead_once_in_order(rep, page_size):
    now = timezone.now()
    for i in range(6):
        LeadFactory(owner=rep, priority=i % 3 * 30, name=f"s{i}")
    for i in range(4):
        LeadFactory(owner=rep, priority=80, name=f"o{i}", next_follow_up_at=now - timezone.timedelta(hours=i + 1))
    expected = _names(queue_for(rep, QueueFilters(), page_size=100, now=now))
    seen, cursor = [], ""
    for _ in range(20):
        page = queue_for(rep, QueueFilters(cursor=cursor), page_size=page_size, now=now)
        assert len(page.leads) <= page_size
        seen.extend(_names(page))
        if not page.next_cursor:
            break
        cursor = page.next_cursor
    assert seen == expected
    assert len(seen) == 10


@pytest.mark.parametrize("cursor", ["garbage", "x.1.2", "s.notanumber.3", "o..", "s.1"])
def test_malformed_cursor_starts_from_the_top(rep, cursor):
    LeadFactory(owner=rep, name="only")
    assert _names(queue_for(rep, QueueFilters(cursor=cursor))) == ["only"]


def test_lead_get_for_hides_other_reps_leads(rep, other_rep):
    from django.http import Http404

    theirs = LeadFactory(owner=other_rep)
    pool = LeadFactory(owner=None)
    with pytest.raises(Http404):
        selectors.lead_get_for(rep, theirs.pk)
    assert selectors.lead_get_for(rep, pool.pk) == pool
    with pytest.raises(Http404):
        selectors.lead_get_for(rep, pool.pk, for_update=True)


def test_sources_list_is_distinct_sorted_and_cached(rep, django_assert_num_queries):
    LeadFactory(source="Referral")
    LeadFactory(source="Google")
    LeadFactory(source="Google")
    LeadFactory(source="")
    assert selectors.sources_list() == ["Google", "Referral"]
    with django_assert_num_queries(0):
        selectors.sources_list()


def test_search_finds_name_email_or_company_in_any_case(manager):
    LeadFactory(name="Ada Lovelace", email="ada@example.com", company="Engines", owner=None)
    LeadFactory(name="", email="", company="")
    LeadFactory(name="Grace", email="grace@navy.example", company="Navy", owner=None)
    for text in ("lovelace", "ADA@EX", "engin"):
        page = queue_for(manager, QueueFilters(q=text))
        assert [lead.name for lead in page.leads] == ["Ada Lovelace"], text


@pytest.mark.parametrize("where", ["queue", "api"])
def test_search_can_use_the_partial_trigram_index(manager, requires_postgres, where):
    """The search repeats the index's predicate (a name, email or company is set), so PostgreSQL
    can use the partial trigram index (migration 0008); without it, every search scans the table."""
    from django.db import connection

    from leads.filters import LeadFilter

    if where == "queue":
        queryset = selectors.leads_visible_to(manager).filter(selectors.lead_search_q("ada"))
    else:
        queryset = LeadFilter({"search": "ada"}, queryset=Lead.objects.all()).qs
    sql, params = queryset.values("id").query.sql_with_params()
    with connection.cursor() as cursor:
        # Only bitmap scans left (a GIN index has no other kind): with the predicate unproven the
        # planner could only fall back to the disabled sequential scan.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")
        cursor.execute("SET LOCAL enable_indexonlyscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "lead_search_trgm_set" in plan, plan


def _plain_queue_ids(user, text: str, now) -> list[int]:
    """What the queue must show for a search, written the plain way: overdue first, then by score."""
    matching = selectors.leads_workable_by(user).filter(selectors.lead_search_q(text), status__in=Lead.OPEN_STATUSES)
    overdue = matching.filter(next_follow_up_at__lt=now).order_by("next_follow_up_at", "id")
    rest = matching.exclude(next_follow_up_at__lt=now).order_by("-rank__priority", "-id")
    return [lead.pk for lead in overdue] + [lead.pk for lead in rest]


def _paged_ids(user, text: str, now, page_size: int) -> list[int]:
    ids, cursor = [], ""
    while True:
        page = queue_for(user, QueueFilters(q=text, cursor=cursor), page_size=page_size, now=now)
        ids += [lead.pk for lead in page.leads]
        if not page.next_cursor:
            return ids
        cursor = page.next_cursor


@pytest.mark.parametrize("scan_queue_rows", [0, 10**9])
@pytest.mark.parametrize("rare_matches", [0, 1000])
@pytest.mark.parametrize("probe_rows", [5, 2000])
@pytest.mark.parametrize("text", ["rossi", "ZED", "nobody-has-this"])
def test_search_pages_are_the_plain_querys_rows_whichever_way_they_are_found(
    rep, monkeypatch, probe_rows, rare_matches, scan_queue_rows, text
):
    """Common terms fill a page from the probe of the band's first rows, rare ones from their list of
    matches, the others from the trigram index sorted apart (leads.selectors._band_rows): whichever way,
    the pages are the plain query's rows."""
    monkeypatch.setattr(selectors, "SEARCH_PROBE_ROWS", probe_rows)
    monkeypatch.setattr(selectors, "SEARCH_RARE_MATCHES", rare_matches)
    monkeypatch.setattr(selectors, "SEARCH_SCAN_QUEUE_ROWS", scan_queue_rows)
    now = timezone.now()
    for i in range(40):
        LeadFactory(
            owner=rep,
            name=f"Ann Rossi {i}" if i % 3 else f"Bob Other {i}",
            company="Zed Ltd" if i in (4, 17) else "Acme",
            priority=(i * 37) % 100,
            next_follow_up_at=now - timezone.timedelta(hours=i) if i % 4 == 0 else None,
        )
    expected = _plain_queue_ids(rep, text, now)
    assert _paged_ids(rep, text, now, page_size=7) == expected
    assert len(expected) == {"rossi": 26, "ZED": 2, "nobody-has-this": 0}[text]


def _searched_statements(rep, monkeypatch, probe_rows: int) -> list[str]:
    """The statements of a searched queue page: an overdue band (Dee, then Ann) and a score band (Cy,
    then Bob), Ann and Bob matching "rossi"."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    monkeypatch.setattr(selectors, "SEARCH_PROBE_ROWS", probe_rows)
    now = timezone.now()
    LeadFactory(owner=rep, name="Dee Other", next_follow_up_at=now - timezone.timedelta(hours=2))
    overdue = LeadFactory(owner=rep, name="Ann Rossi", next_follow_up_at=now - timezone.timedelta(hours=1))
    scored = LeadFactory(owner=rep, name="Bob Rossi", priority=90)
    LeadFactory(owner=rep, name="Cy Other", priority=95)
    with CaptureQueriesContext(connection) as ctx:
        page = queue_for(rep, QueueFilters(q="rossi"), now=now)
    assert [lead.pk for lead in page.leads] == [overdue.pk, scored.pk]
    return [query["sql"].upper() for query in ctx.captured_queries]


def test_a_rare_term_is_looked_up_once_per_page_for_both_bands(rep, monkeypatch, requires_postgres):
    """A term the probe can't fill the page with is listed once from the trigram index; the score band
    then takes its rows from that list, with no probe and no trigram search of its own."""
    monkeypatch.setattr(selectors, "SEARCH_SCAN_QUEUE_ROWS", 0)  # a big queue: the trigram index
    statements = _searched_statements(rep, monkeypatch, probe_rows=1)
    assert sum("STRPOS" in sql for sql in statements) == 1  # the overdue band's probe only
    assert sum("LIKE" in sql for sql in statements) == 1  # the one list of matches


def test_a_small_queue_lists_a_terms_matches_by_reading_its_rows(rep, monkeypatch, requires_postgres):
    """In a queue estimated at a few thousand leads the matches are listed by reading them (strpos),
    never through the trigram index, whose bitmap for a common surname covers the whole table."""
    monkeypatch.setattr(selectors, "SEARCH_SCAN_QUEUE_ROWS", 10**9)
    statements = _searched_statements(rep, monkeypatch, probe_rows=1)
    assert sum("STRPOS" in sql for sql in statements) == 2  # the probe, then the list
    assert not any("LIKE" in sql for sql in statements)


def test_a_band_the_probe_read_whole_needs_no_other_search(rep, monkeypatch, requires_postgres):
    """Bands no longer than the probe's window give all their matches from the probe: no list of
    matches, no trigram search, no estimate."""
    statements = _searched_statements(rep, monkeypatch, probe_rows=2000)
    assert sum("STRPOS" in sql for sql in statements) == 2  # one probe per band
    assert not any("LIKE" in sql or sql.startswith("EXPLAIN") for sql in statements)
    assert not any(sql.startswith(("BEGIN", "SET", "SAVEPOINT")) for sql in statements)


# --- the queue's total count (issue 16) -----------------------------------------------------------


def test_queue_count_is_exact_up_to_the_limit_and_follows_the_filters(rep, other_rep):
    from leads.selectors import QueueFilters, queue_count_for

    for _ in range(3):
        LeadFactory(owner=rep, tier="hot")
    LeadFactory(owner=rep, tier="cold")
    LeadFactory(owner=other_rep, tier="hot")
    LeadFactory(owner=rep, tier="hot", status="lost", lost_reason="x")
    count = queue_count_for(rep, QueueFilters(tier="hot"), exact_up_to=10)
    assert (count.value, count.estimated, count.label) == (3, False, "3 leads")
    assert queue_count_for(rep, QueueFilters(), exact_up_to=10).label == "4 leads"


def test_queue_count_above_the_limit_is_an_estimate_on_postgresql_never_below_the_limit(rep):
    from django.db import connection

    from leads.selectors import QueueFilters, queue_count_for

    for _ in range(6):
        LeadFactory(owner=rep)
    count = queue_count_for(rep, QueueFilters(), exact_up_to=4)
    if connection.vendor == "postgresql":
        assert count.estimated and count.value >= 5 and count.label.startswith("about ")
    else:
        assert (count.value, count.estimated) == (6, False)


def test_queue_leads_matching_counts_every_page_and_the_due_filters(rep):
    from leads.selectors import QueueFilters, queue_leads_matching

    now = timezone.now()
    overdue = LeadFactory(owner=rep, next_follow_up_at=now - timezone.timedelta(hours=1))
    LeadFactory(owner=rep, next_follow_up_at=now + timezone.timedelta(days=3))
    LeadFactory(owner=rep)
    assert queue_leads_matching(rep, QueueFilters()).count() == 3
    assert list(queue_leads_matching(rep, QueueFilters(due="overdue"))) == [overdue]


def test_queue_leads_matching_and_its_count_follow_the_search(rep):
    """What "all N matching this filter" acts on is what the searched queue shows, every page of it."""
    from leads.selectors import queue_count_for, queue_leads_matching

    rossis = {LeadFactory(owner=rep, name=f"Ann Rossi {i}").pk for i in range(3)}
    LeadFactory(owner=rep, name="Bob Other")
    filters = QueueFilters(q="rossi")
    assert set(queue_leads_matching(rep, filters).values_list("pk", flat=True)) == rossis
    assert queue_count_for(rep, filters, exact_up_to=10).value == 3


def test_the_search_probe_leaves_bitmap_scans_on_for_the_rest_of_the_transaction(rep, requires_postgres):
    """The probe never changes the planner's settings: the trigram search (a GIN index is read by bitmap
    scans alone) and everything after it in the same transaction keep bitmap scans."""
    from django.db import connection

    LeadFactory(owner=rep, name="Ann Rossi")
    queue_for(rep, QueueFilters(q="rossi"))
    with connection.cursor() as cursor:
        cursor.execute("SHOW enable_bitmapscan")
        assert cursor.fetchone()[0] == "on"
