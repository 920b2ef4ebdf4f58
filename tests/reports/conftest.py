"""Ten leads with known outcomes, worked through by hand in each report's tests.

NOW is Monday 2026-06-15 12:00 UTC. Alice and Bob are reps.

 #  source    origin        tier      score owner  status     created   first contact  converted
 1  Google    Landing Page  hot       95    alice  converted  NOW-20d   +30 min        +5 d
 2  Google    Landing Page  hot       85    alice  lost       NOW-20d   +2 h           (history: qualified)
 3  Google    Web Form      warm      55    bob    converted  NOW-10d   +3 h           +8 d
 4  Referral  Landing Page  hot       91    bob    converted  NOW-10d   +20 min        +2 d
 5  Referral  Web Form      warm      45    alice  contacted  NOW-3d    +30 h
 6  Chat      Landing Page  cold      12    -      new        NOW-4d    -
 7  Chat      Web Form      cold      8     bob    lost       NOW-40d   +1 h
 8  Chat      Landing Page  unscored  -     -      new        NOW-1d    -              (history: assigned)
 9  Google    Landing Page  warm      60    alice  qualified  NOW-5d    +10 h
10  Referral  Landing Page  hot       99    bob    converted  NOW-40d   +50 h          +20 d

Follow-ups: alice on time 1, late 1, overdue now 1, upcoming 1; bob on time 1 (done exactly at due).
"""

import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from leads.models import Activity, Lead, LeadRank, User
from scoring.models import ModelVersion
from tests.factories import ActivityFactory, FollowUpFactory, LeadFactory

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)

LEADS = (
    # n, source, origin, tier, score, owner, status, created (days ago), first contact (hours), converted (days)
    (1, "Google", "Landing Page", "hot", 95, "alice", "converted", 20, 0.5, 5),
    (2, "Google", "Landing Page", "hot", 85, "alice", "lost", 20, 2, None),
    (3, "Google", "Web Form", "warm", 55, "bob", "converted", 10, 3, 8),
    (4, "Referral", "Landing Page", "hot", 91, "bob", "converted", 10, 1 / 3, 2),
    (5, "Referral", "Web Form", "warm", 45, "alice", "contacted", 3, 30, None),
    (6, "Chat", "Landing Page", "cold", 12, None, "new", 4, None, None),
    (7, "Chat", "Web Form", "cold", 8, "bob", "lost", 40, 1, None),
    (8, "Chat", "Landing Page", "unscored", None, None, "new", 1, None, None),
    (9, "Google", "Landing Page", "warm", 60, "alice", "qualified", 5, 10, None),
    (10, "Referral", "Landing Page", "hot", 99, "bob", "converted", 40, 50, 20),
)


@dataclass
class ReportData:
    now: datetime
    alice: User
    bob: User
    leads: dict[int, Lead]


@pytest.fixture
def report_data(db, rep, other_rep) -> ReportData:
    owners = {"alice": rep, "bob": other_rep, None: None}
    leads = {}
    for n, source, origin, tier, score, owner, status, days, contact_h, converted_d in LEADS:
        created = NOW - timedelta(days=days)
        leads[n] = LeadFactory(
            name=f"Lead {n}",
            source=source,
            origin=origin,
            tier=tier,
            score=score,
            probability=score / 100 if score is not None else None,
            priority=score if score is not None else -1,
            owner=owners[owner],
            status=status,
            created_at=created,
            first_contacted_at=created + timedelta(hours=contact_h) if contact_h is not None else None,
            converted_at=created + timedelta(days=converted_d) if converted_d is not None else None,
        )
    history = Activity.Kind.STATUS_CHANGE
    ActivityFactory(lead=leads[2], kind=history, outcome="qualified", occurred_at=NOW - timedelta(days=19))
    ActivityFactory(lead=leads[2], kind=history, outcome="lost", occurred_at=NOW - timedelta(days=18))
    ActivityFactory(lead=leads[8], kind=history, outcome="assigned", occurred_at=NOW - timedelta(hours=20))
    ActivityFactory(lead=leads[1], kind=history, outcome="converted", occurred_at=NOW - timedelta(days=15))

    FollowUpFactory(lead=leads[5], assigned_to=rep, due_at=NOW - timedelta(days=2), done_at=NOW - timedelta(days=3))
    FollowUpFactory(lead=leads[5], assigned_to=rep, due_at=NOW - timedelta(days=2), done_at=NOW - timedelta(days=1))
    FollowUpFactory(lead=leads[9], assigned_to=rep, due_at=NOW - timedelta(hours=1))
    FollowUpFactory(lead=leads[9], assigned_to=rep, due_at=NOW + timedelta(days=1))
    FollowUpFactory(
        lead=leads[3], assigned_to=other_rep, due_at=NOW - timedelta(days=1), done_at=NOW - timedelta(days=1)
    )
    return ReportData(now=NOW, alice=rep, bob=other_rep, leads=leads)


def contract_metrics(**overrides) -> dict:
    """ModelVersion.metrics shaped as the scoring engine writes them (team notes' contract)."""
    metrics = {
        "cv": {"roc_auc": {"mean": 0.8, "std": 0.02}, "log_loss": {"mean": 0.5, "std": 0.01}, "folds": 5,
               "candidates": {"logreg": {"roc_auc": 0.8}}},
        "holdout": {
            "roc_auc": 0.83, "pr_auc": 0.71, "log_loss": 0.48, "brier": 0.16, "ece": 0.03, "accuracy": 0.78,
            "precision": 0.74, "recall": 0.62, "f1": 0.67, "threshold": 0.5,
            "confusion": {"tn": 50, "fp": 10, "fn": 15, "tp": 25},
            "calibration": [
                {"bin": 0, "lower": 0.0, "upper": 0.5, "mean_predicted": 0.2, "observed": 0.25, "count": 60},
                {"bin": 1, "lower": 0.5, "upper": 1.0, "mean_predicted": 0.7, "observed": 0.65, "count": 40},
            ],
            "deciles": [
                {"decile": d, "n": 10, "positives": 11 - d, "conversion_rate": (11 - d) / 10,
                 "lift": (11 - d) / 5.5, "cum_gain": sum(range(11 - d, 11)) / 55}
                for d in range(1, 11)
            ],
            "roc_curve": {"fpr": [0.0, 0.2, 1.0], "tpr": [0.0, 0.7, 1.0]},
            "pr_curve": {"precision": [1.0, 0.7, 0.4], "recall": [0.0, 0.6, 1.0]},
            "thresholds": [{"threshold": 0.3, "precision": 0.6, "recall": 0.8, "f1": 0.686, "flagged": 55}],
        },
        "reference": {},
        "n_rows": 100,
        "n_positive": 40,
        "base_rate": 0.4,
    }  # fmt: skip
    metrics.update(overrides)
    return metrics


def csv_rows(response) -> list[list[str]]:
    """A report's CSV download as rows (asserting it is CSV)."""
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(response.content.decode())))


@pytest.fixture
def scored_model(report_data):
    """An active model version (a month old) that scored the report data's scored leads."""
    reference = {"source": {"kind": "categorical", "fractions": {"Google": 0.9, "Chat": 0.1}}}
    version = ModelVersion.objects.create(
        status="active", algorithm="logreg", metrics=contract_metrics(reference=reference),
        activated_at=timezone.now() - timedelta(days=30),
    )  # fmt: skip
    LeadRank.objects.filter(score__isnull=False).update(model_version=version)
    return version
