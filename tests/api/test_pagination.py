"""leadcrm/api_pagination.py: the next page is one (key, id) row comparison, an index bound."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from leads.models import Activity
from tests.factories import ActivityFactory, LeadFactory

LIST = "/api/v1/leads/"


def walk(client, url: str) -> list[list[int]]:
    pages = []
    while url:
        body = client.get(url).json()
        pages.append([row["id"] for row in body["results"]])
        url = body["next"]
    return pages


def chunks(ids: list[int], size: int) -> list[list[int]]:
    return [ids[i : i + size] for i in range(0, len(ids), size)]


def lead_list_sql(captured) -> str:
    return next(q["sql"] for q in captured if 'FROM "leads_lead"' in q["sql"] and "ORDER BY" in q["sql"])


def test_pages_across_a_run_of_equal_scores_are_the_ordered_list_cut_in_pages(api_manager):
    # Five leads share priority 40 and straddle the page boundaries (page size 3).
    leads = [LeadFactory(priority=p) for p in (90, 40, 40, 70, 40, 40, 40, 10)]
    expected = [lead.pk for lead in sorted(leads, key=lambda lead: (-lead.priority, -lead.pk))]
    assert walk(api_manager, f"{LIST}?page_size=3") == chunks(expected, 3)


def test_ascending_pages_across_equal_timestamps_are_the_ordered_list_cut_in_pages(api_manager):
    when = timezone.now() - timedelta(days=1)
    leads = [LeadFactory(created_at=when + timedelta(minutes=m)) for m in (5, 0, 0, 0, 2, 0, 5)]
    expected = [lead.pk for lead in sorted(leads, key=lambda lead: (lead.created_at, lead.pk))]
    assert walk(api_manager, f"{LIST}?page_size=2&ordering=created") == chunks(expected, 2)


def test_activity_pages_across_equal_times_are_the_ordered_list_cut_in_pages(api_manager):
    lead = LeadFactory()
    when = timezone.now() - timedelta(hours=3)
    for minutes in (0, 10, 10, 10, 20, 10):
        ActivityFactory(lead=lead, occurred_at=when + timedelta(minutes=minutes))
    rows = Activity.objects.filter(lead=lead).order_by("-occurred_at", "-pk").values_list("pk", flat=True)
    assert walk(api_manager, f"/api/v1/leads/{lead.pk}/activities/?page_size=2") == chunks(list(rows), 2)


def test_the_next_page_is_one_row_value_comparison_not_an_or(api_manager):
    LeadFactory.create_batch(3, priority=40)
    first = api_manager.get(LIST, {"page_size": 1}).json()
    with CaptureQueriesContext(connection) as captured:
        assert api_manager.get(first["next"]).status_code == 200
    sql = lead_list_sql(captured)
    assert '("leads_leadrank"."priority", "leads_leadrank"."lead_id") < (' in sql
    assert " OR " not in sql.split("WHERE", 1)[1]


def test_postgresql_walks_the_priority_index_from_the_cursor(api_manager, requires_postgres):
    LeadFactory.create_batch(5, priority=40)
    first = api_manager.get(LIST, {"page_size": 2}).json()
    with CaptureQueriesContext(connection) as captured:
        api_manager.get(first["next"])
    sql = lead_list_sql(captured)
    with connection.cursor() as cursor:
        # A handful of rows would be read by a sequential scan: ask what an index plan uses as its bound.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + sql)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    bounds = [line for line in plan.splitlines() if "Index Cond:" in line]
    assert any("ROW(priority, lead_id) < ROW(" in line for line in bounds), plan


@pytest.mark.parametrize("ordering", ["-priority", "priority", "-created", "created"])
def test_every_lead_once_in_each_ordering_with_ties(api_manager, ordering):
    now = timezone.now()
    leads = [LeadFactory(priority=i % 2, created_at=now - timedelta(minutes=i % 3)) for i in range(9)]
    pages = walk(api_manager, f"{LIST}?page_size=4&ordering={ordering}")
    seen = [pk for page in pages for pk in page]
    assert sorted(seen) == sorted(lead.pk for lead in leads) and len(seen) == len(set(seen))
