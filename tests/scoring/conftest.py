"""Synthetic leads with a known relation to their outcome, built in the test database."""

import math
import random
from datetime import timedelta

import pytest
from django.utils import timezone

from leads.models import Activity, Lead
from scoring import registry, rescoring, training_runs
from tests.reports.conftest import (  # noqa: F401 (the reports' hand-worked leads and their model)
    report_data,
    scored_model,
)


def outcome_leads_create(n: int = 300, *, seed: int = 1, open_leads: int = 20, leak: bool = False) -> list[Lead]:
    """`n` closed leads whose conversion depends on plan, visits and the newsletter flag, plus
    `open_leads` open ones. With leak=True an attribute `verdict` copies the outcome."""
    rng = random.Random(seed)
    now = timezone.now()
    leads = []
    for i in range(n + open_leads):
        plan = rng.choice(["basic", "pro", "enterprise"])
        visits = rng.randint(0, 12)
        newsletter = rng.random() < 0.4
        logit = -1.0 + {"basic": -0.8, "pro": 0.4, "enterprise": 1.4}[plan] + 0.25 * visits + (0.6 if newsletter else 0)
        converts = rng.random() < 1 / (1 + math.exp(-logit))
        closed = i < n
        created = now - timedelta(days=rng.uniform(40, 300) if closed else rng.uniform(0, 10))
        attributes = {"plan": plan, "visits": visits, "newsletter": newsletter, "noise": rng.random()}
        if leak and closed:
            attributes["verdict"] = "won" if converts else ("gone" if rng.random() < 0.97 else "won")
        status = (Lead.Status.CONVERTED if converts else Lead.Status.LOST) if closed else Lead.Status.NEW
        leads.append(
            Lead(
                name=f"Synthetic {i}",
                email=f"s{i}@example.com",
                source=rng.choice(["Web", "Referral", "Ads"]),
                origin="Form",
                status=status,
                created_at=created,
                converted_at=created + timedelta(days=5) if status == Lead.Status.CONVERTED else None,
                lost_reason="" if status != Lead.Status.LOST else "No budget",
                attributes=attributes,
            )
        )
    Lead.objects.bulk_create(leads)
    created_leads = list(Lead.objects.order_by("pk"))
    activities = []
    for lead in created_leads:
        if lead.status in Lead.CLOSED_STATUSES:
            closed_at = lead.converted_at or lead.created_at + timedelta(days=5)
            activities.append(Activity(lead=lead, kind="call", occurred_at=lead.created_at + timedelta(days=1)))
            activities.append(Activity(lead=lead, kind="status_change", outcome=lead.status, occurred_at=closed_at))
    Activity.objects.bulk_create(activities)
    return created_leads


def rescore_all():
    """Rescore every lead now, in this process, with the model in use."""
    return rescoring.rescore_run_continue(rescoring.rescore_run_start())


@pytest.fixture(autouse=True)
def _fresh_model_cache():
    """Each test loads models from disk: a test that damages an artifact sees its own damage."""
    registry.cache_clear()
    yield
    registry.cache_clear()


@pytest.fixture
def outcome_leads(db):
    return outcome_leads_create


@pytest.fixture
def trained(db):
    """A first (active) model trained with 3 folds on 300 synthetic outcomes."""
    outcome_leads_create(300)
    return training_runs.model_train(folds=3)
