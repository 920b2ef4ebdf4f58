import pytest
from django.utils import timezone

from leads.models import Lead
from leads.tasks import follow_ups_refresh
from tests.conftest import wait_for
from tests.factories import FollowUpFactory, LeadFactory


@pytest.mark.django_db
def test_follow_ups_refresh_task_runs_the_service(rep):
    lead = LeadFactory(owner=rep)
    follow_up = FollowUpFactory(lead=lead)
    assert follow_ups_refresh.delay(lead_ids=[lead.pk]).get() == 1
    lead.refresh_from_db()
    assert lead.next_follow_up_at == follow_up.due_at


@pytest.mark.worker
@pytest.mark.xdist_group("celery")
def test_a_real_worker_runs_a_task_end_to_end(celery_worker_process):
    lead = LeadFactory(next_follow_up_at=timezone.now())
    result = follow_ups_refresh.delay(lead_ids=[lead.pk])
    # The test process is no task; an earlier test in this process may have left Celery's global
    # "inside a worker" flag set, so say explicitly that joining here is fine.
    assert result.get(timeout=30, disable_sync_subtasks=False) == 1
    wait_for(lambda: Lead.objects.get(pk=lead.pk).next_follow_up_at is None, what="the worker's update")
