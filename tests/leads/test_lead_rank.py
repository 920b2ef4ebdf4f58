"""LeadRank: a lead's score row, added and kept in step with the lead by database triggers."""

import pytest
from django.db import connection
from django.db.models import Q

from leads.models import BY_SCORE, RANKED_POOL, Lead, LeadRank
from tests.factories import LeadFactory, RepFactory

pytestmark = pytest.mark.django_db


def _rank(lead: Lead) -> dict:
    return LeadRank.objects.values("owner_id", "status", "score", "tier", "priority").get(pk=lead.pk)


def test_every_new_lead_gets_an_unscored_rank_row_from_the_database():
    lead = Lead.objects.create(name="Ada", status=Lead.Status.CONTACTED)

    assert _rank(lead) == {"owner_id": None, "status": "contacted", "score": None, "tier": "unscored", "priority": -1}


def test_leads_inserted_by_raw_sql_get_their_rank_rows_too():
    rep = RepFactory()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO leads_lead (name, email, phone, company, source, origin, campaign, status, lost_reason, "
            "attributes, created_at, updated_at, external_id, owner_id) VALUES "
            "('A', '', '', '', '', '', '', 'new', '', '{}', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 'RAW-1', %s), "
            "('B', '', '', '', '', '', '', 'lost', 'x', '{}', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 'RAW-2', NULL)",
            [rep.pk],
        )

    ranks = {lead.external_id: _rank(lead) for lead in Lead.objects.filter(external_id__startswith="RAW-")}
    assert ranks["RAW-1"]["owner_id"] == rep.pk and ranks["RAW-1"]["status"] == "new"
    assert ranks["RAW-2"]["owner_id"] is None and ranks["RAW-2"]["status"] == "lost"


def test_a_deleted_lead_takes_its_rank_row_with_it():
    kept, gone = LeadFactory(), LeadFactory()

    gone.delete()

    assert set(LeadRank.objects.values_list("pk", flat=True)) == {kept.pk}


def test_raw_sql_deletes_and_truncates_of_leads_remove_their_rank_rows(requires_postgres):
    """No constraint ties the rank row to its lead on PostgreSQL (its check cost more than the
    insert): the triggers remove the row however the lead goes."""
    kept, gone = LeadFactory(), LeadFactory()
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM leads_lead WHERE id = %s", [gone.pk])
        assert set(LeadRank.objects.values_list("pk", flat=True)) == {kept.pk}

        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # TRUNCATE refuses pending deferred checks
        cursor.execute("TRUNCATE leads_lead CASCADE")
        assert not LeadRank.objects.exists()
        LeadFactory()
        cursor.execute("TRUNCATE leads_lead, leads_leadrank CASCADE")  # both named, as bench/make_data.py does
        assert not LeadRank.objects.exists()
        constraints = connection.introspection.get_constraints(cursor, LeadRank._meta.db_table)
    assert not [c for c in constraints.values() if c["foreign_key"] and c["foreign_key"][0] == "leads_lead"]


def test_the_rank_copies_owner_and_status_whatever_writes_them():
    rep, other = RepFactory(), RepFactory()
    lead = LeadFactory(owner=None)

    Lead.objects.filter(pk=lead.pk).update(owner=rep, status=Lead.Status.QUALIFIED)  # QuerySet.update
    assert _rank(lead)["owner_id"] == rep.pk and _rank(lead)["status"] == "qualified"

    lead.refresh_from_db()
    lead.owner = other
    lead.status = Lead.Status.CONVERTED
    lead.save()  # Model.save
    assert _rank(lead)["owner_id"] == other.pk and _rank(lead)["status"] == "converted"

    with connection.cursor() as cursor:  # raw SQL
        cursor.execute("UPDATE leads_lead SET owner_id = NULL WHERE id = %s", [lead.pk])
    assert _rank(lead)["owner_id"] is None


def test_a_deleted_user_leaves_the_rank_without_an_owner():
    rep = RepFactory()
    lead = LeadFactory(owner=rep)

    rep.delete()

    assert _rank(lead)["owner_id"] is None


def test_score_values_set_on_a_lead_are_saved_in_its_rank():
    lead = LeadFactory(score=81, probability=0.81, tier=Lead.Tier.HOT, priority=81, score_reasons=[{"text": "x"}])

    assert _rank(lead) | {"owner_id": None} == {
        "owner_id": None,
        "status": "new",
        "score": 81,
        "tier": "hot",
        "priority": 81,
    }
    fresh = Lead.objects.get(pk=lead.pk)
    assert (fresh.score, fresh.probability, fresh.tier, fresh.score_reasons) == (81, 0.81, "hot", [{"text": "x"}])


def test_save_with_update_fields_writes_the_named_rank_fields_and_lead_fields():
    lead = LeadFactory(name="Before", score=10, priority=10)
    lead.name = "After"
    lead.score_override = 95
    lead.priority = 95

    lead.save(update_fields=["name", "score_override", "priority"])

    assert Lead.objects.values_list("name", "rank__score_override", "rank__priority").get(pk=lead.pk) == (
        "After",
        95,
        95,
    )


def test_saving_a_lead_without_touching_its_score_does_not_write_the_rank():
    lead = LeadFactory(score=40, priority=40)
    stale = Lead.objects.get(pk=lead.pk)  # loads the rank as it is now
    LeadRank.objects.filter(pk=lead.pk).update(score=70, priority=70)  # a rescore meanwhile

    stale.name = "Renamed"
    stale.save()

    assert _rank(lead)["score"] == 70


def test_bulk_created_leads_keep_the_scores_set_on_them():
    leads = Lead.objects.bulk_create([Lead(name=f"L{i}", tier=Lead.Tier.WARM, priority=50 + i) for i in range(3)])

    assert sorted(LeadRank.objects.filter(pk__in=[x.pk for x in leads]).values_list("tier", "priority")) == [
        ("warm", 50),
        ("warm", 51),
        ("warm", 52),
    ]


def test_the_unassigned_pool_in_score_order_reads_the_rank_copies():
    rep = RepFactory()
    low, high = LeadFactory(priority=20), LeadFactory(priority=90)
    LeadFactory(priority=99, owner=rep)
    LeadFactory(priority=95, status=Lead.Status.LOST, lost_reason="no")

    assert list(Lead.objects.filter(RANKED_POOL).order_by(*BY_SCORE)) == [high, low]
    assert not Lead.objects.filter(RANKED_POOL & Q(pk__in=[])).exists()
