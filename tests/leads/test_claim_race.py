"""Two reps pressing "Next lead" at the same instant must never get the same lead."""

import threading

import pytest
from django.db import connection

from leads import services
from leads.models import Activity, Lead
from tests.factories import LeadFactory, RepFactory


@pytest.mark.django_db(transaction=True)
def test_concurrent_claims_never_hand_out_the_same_lead(requires_postgres):
    reps = [RepFactory(username=f"racer{i}") for i in range(4)]
    for i in range(6):
        LeadFactory(owner=None, priority=50 + i)
    barrier = threading.Barrier(len(reps))
    claimed: dict[int, list[int]] = {rep.pk: [] for rep in reps}
    errors: list[BaseException] = []

    def work(rep):
        try:
            barrier.wait()
            for _ in range(3):
                lead = services.lead_claim_next(rep=rep)
                if lead is not None:
                    claimed[rep.pk].append(lead.pk)
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(rep,)) for rep in reps]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert not errors
    all_claimed = [pk for pks in claimed.values() for pk in pks]
    assert len(all_claimed) == 6, claimed
    assert len(set(all_claimed)) == 6, f"a lead was handed out twice: {claimed}"
    for rep in reps:
        assert set(Lead.objects.filter(owner=rep).values_list("pk", flat=True)) == set(claimed[rep.pk])
    assert Activity.objects.filter(outcome="claimed").count() == 6


@pytest.mark.django_db(transaction=True)
def test_two_reps_racing_for_one_specific_lead_only_one_wins(requires_postgres):
    first, second = RepFactory(username="r1"), RepFactory(username="r2")
    lead = LeadFactory(owner=None)
    barrier = threading.Barrier(2)
    results = {}

    def work(rep):
        barrier.wait()
        results[rep.pk] = services.lead_claim(lead=Lead.objects.get(pk=lead.pk), rep=rep)
        connection.close()

    threads = [threading.Thread(target=work, args=(r,)) for r in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(results.values()) == [False, True]
    lead.refresh_from_db()
    winner = first if results[first.pk] else second
    assert lead.owner == winner
    assert Activity.objects.filter(lead=lead, outcome="claimed").count() == 1
