"""Synthetic demo data: leads, activities, follow-ups and historical outcomes.

Conversion depends on source, engagement and activity the way it does in real lead data,
so a model trained on the demo has something real to learn. Deterministic for a seed.
"""

import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from leads.models import Activity, ChannelValue, FollowUp, Lead, Spend, User
from leads.reports.rollups import rollups_mark_all

DEMO_PASSWORD = "leadcrm-demo"  # noqa: S105 (printed demo login, never a real account)
DEMO_USERS = (
    ("admin", "Ada", "Admin", User.Role.ADMIN),
    ("manager", "Maya", "Manager", User.Role.MANAGER),
    ("alice", "Alice", "Rep", User.Role.REP),
    ("bob", "Bob", "Rep", User.Role.REP),
    ("carol", "Carol", "Rep", User.Role.REP),
)

# (source, weight, effect on the log-odds of converting)
SOURCES = (
    ("Google", 0.30, 0.0),
    ("Direct Traffic", 0.26, -0.3),
    ("Organic Search", 0.12, 0.1),
    ("Referral", 0.07, 1.6),
    ("Partner Website", 0.04, 2.0),
    ("Chat", 0.15, -0.9),
    ("Trade Show", 0.06, 0.6),
)
# Campaigns some sources run, the mean value of a conversion and the monthly spend per source
# (the channels report's demo numbers; drawn from their own random stream so that the leads'
# other fields do not change with them).
CAMPAIGNS = {"Google": ("brand", "generic"), "Trade Show": ("expo-2026",), "Partner Website": ("partner-q3",)}
MEAN_VALUE = {"Referral": 1400, "Partner Website": 1800, "Trade Show": 2200}
MONTHLY_SPEND = {"Google": 2600, "Trade Show": 3000, "Partner Website": 700, "Organic Search": 400}

ORIGINS = (
    ("Landing Page", 0.55, 0.0),
    ("Web Form", 0.25, -0.4),
    ("Inbound Call", 0.10, 1.5),
    ("List Import", 0.10, -1.2),
)
OCCUPATIONS = (
    ("Working Professional", 0.2, 1.6),
    ("Student", 0.15, -0.5),
    ("Unemployed", 0.55, -0.2),
    ("Business Owner", 0.1, 0.8),
)
COUNTRIES = ("India", "United States", "United Kingdom", "Singapore", "Germany", "Canada")
LAST_ACTIONS = (
    ("Email Opened", 0.5),
    ("SMS Sent", 1.2),
    ("Page Visited", -0.2),
    ("Chat Conversation", -0.8),
    ("Email Bounced", -1.5),
)
FIRST = (
    "Priya",
    "Rahul",
    "Anita",
    "John",
    "Meera",
    "Arjun",
    "Sara",
    "Li",
    "Omar",
    "Elena",
    "Kofi",
    "Yuki",
    "Ravi",
    "Nina",
)
LAST = ("Sharma", "Patel", "Smith", "Khan", "Iyer", "Garcia", "Chen", "Müller", "Okafor", "Rossi", "Tanaka", "Das")
COMPANIES = ("Acme Corp", "Globex", "Initech", "Umbrella", "Hooli", "Stark Ltd", "Wayne Ent.", "Soylent", "", "", "")
LOST_REASONS = ("No budget", "Went with a competitor", "Not interested", "Unreachable", "Timing")


@dataclass
class DemoSummary:
    users: list[tuple[str, str, str]]
    leads: int
    activities: int
    follow_ups: int


def _pick(rng: random.Random, options):
    return rng.choices(options, weights=[o[1] for o in options])[0]


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def demo_users_create() -> list[User]:
    users = []
    for username, first, last, role in DEMO_USERS:
        user, created = User.objects.get_or_create(
            username=username,
            defaults={"first_name": first, "last_name": last, "role": role, "email": f"{username}@demo.leadcrm"},
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.is_staff = role == User.Role.ADMIN
            user.is_superuser = role == User.Role.ADMIN
            user.save()
        users.append(user)
    return users


@transaction.atomic
def _demo_spend_create(rng: random.Random, now: datetime) -> None:
    """A year of monthly spend on the paid sources, and the admins' value of a Google conversion."""
    month = timezone.localtime(now).date().replace(day=1)
    spends = []
    for _ in range(12):
        for source, amount in MONTHLY_SPEND.items():
            spends.append(Spend(month=month, source=source, amount=Decimal(round(amount * rng.uniform(0.7, 1.3)))))
        month = (month - timedelta(days=1)).replace(day=1)
    Spend.objects.bulk_create(spends, ignore_conflicts=True)
    ChannelValue.objects.get_or_create(source="Google", campaign="", defaults={"value": Decimal(900)})


def demo_data_create(*, leads: int = 2000, seed: int = 7, now: datetime | None = None) -> DemoSummary:
    rng = random.Random(seed)
    channel_rng = random.Random(seed + 1)
    now = now or timezone.now()
    users = demo_users_create()
    reps = [u for u in users if u.role == User.Role.REP]
    lead_rows: list[Lead] = []
    plans: list[dict] = []
    for i in range(leads):
        source, _, s_eff = _pick(rng, SOURCES)
        origin, _, o_eff = _pick(rng, ORIGINS)
        occupation, _, occ_eff = _pick(rng, OCCUPATIONS)
        last_action, a_eff = rng.choice(LAST_ACTIONS)
        visits = max(0, int(rng.expovariate(1 / 3.5)))
        seconds = int(rng.expovariate(1 / 500)) if visits else 0
        pages = round(rng.uniform(1, 5), 2) if visits else 0.0
        do_not_email = rng.random() < 0.08
        contacts = rng.choices((0, 1, 2, 3, 4), weights=(3, 3, 2, 1, 1))[0]
        logit = -1.3 + s_eff + o_eff + occ_eff + a_eff + 1.4 * math.tanh(seconds / 900) + 0.35 * contacts
        logit += -1.0 if do_not_email else 0.0
        converts = rng.random() < _sigmoid(logit + rng.gauss(0, 0.4))
        closed = rng.random() < 0.7
        age_days = rng.uniform(20, 365) if closed else rng.uniform(0, 30)
        created = now - timedelta(days=age_days, minutes=rng.randint(0, 1440))
        first, last = rng.choice(FIRST), rng.choice(LAST)
        owner = rng.choice(reps) if (closed or rng.random() < 0.6) else None
        lead_rows.append(
            Lead(
                external_id=f"DEMO-{seed}-{i:06d}",
                name=f"{first} {last}",
                email=f"{first}.{last}.{i}@example.com".lower(),
                phone=f"+1-555-{rng.randint(100, 999)}-{rng.randint(1000, 9999)}",
                company=rng.choice(COMPANIES),
                source=source,
                origin=origin,
                campaign=channel_rng.choice(CAMPAIGNS[source]) if source in CAMPAIGNS else "",
                owner=owner,
                created_at=created,
                attributes={
                    "total_visits": visits,
                    "time_on_site_seconds": seconds,
                    "pages_per_visit": pages,
                    "occupation": occupation,
                    "country": rng.choice(COUNTRIES),
                    "last_action": last_action,
                    "do_not_email": do_not_email,
                },
            )
        )
        plans.append({"closed": closed, "converts": converts, "contacts": contacts, "visits": min(visits, 6)})

    Lead.objects.bulk_create(lead_rows, batch_size=1000)
    created_leads = list(Lead.objects.filter(external_id__in=[r.external_id for r in lead_rows]).order_by("id"))
    by_external = {lead.external_id: lead for lead in created_leads}

    activities: list[Activity] = []
    follow_ups: list[FollowUp] = []
    updates: list[Lead] = []
    for row, plan in zip(lead_rows, plans, strict=True):
        lead = by_external[row.external_id]
        horizon = (now - lead.created_at) if not plan["closed"] else timedelta(days=rng.uniform(3, 19))
        moments = sorted(lead.created_at + horizon * rng.random() for _ in range(plan["visits"] + plan["contacts"]))
        kinds = [Activity.Kind.WEB_VISIT] * plan["visits"] + [
            rng.choice((Activity.Kind.CALL, Activity.Kind.EMAIL, Activity.Kind.EMAIL, Activity.Kind.MEETING))
            for _ in range(plan["contacts"])
        ]
        rng.shuffle(kinds)
        for kind, when in zip(kinds, moments, strict=True):
            activities.append(
                Activity(
                    lead=lead,
                    user=lead.owner if kind in Activity.CONTACT_KINDS else None,
                    kind=kind,
                    occurred_at=when,
                    outcome=rng.choice(("connected", "left voicemail", "replied", "")) if kind != "web_visit" else "",
                )
            )
            lead.last_activity_at = when
            if kind in Activity.CONTACT_KINDS and lead.first_contacted_at is None:
                lead.first_contacted_at = when
        if plan["closed"]:
            closed_at = lead.created_at + horizon + timedelta(hours=rng.randint(1, 48))
            outcome = Lead.Status.CONVERTED if plan["converts"] else Lead.Status.LOST
            lead.status = outcome
            lead.converted_at = closed_at if plan["converts"] else None
            mean_value = MEAN_VALUE.get(lead.source, 900)
            lead.converted_value = (
                Decimal(round(channel_rng.uniform(0.5, 1.5) * mean_value)) if plan["converts"] else None
            )
            lead.lost_reason = "" if plan["converts"] else rng.choice(LOST_REASONS)
            activities.append(
                Activity(
                    lead=lead,
                    user=lead.owner,
                    kind=Activity.Kind.STATUS_CHANGE,
                    occurred_at=closed_at,
                    outcome=outcome,
                    notes=lead.lost_reason,
                    data={"from": "contacted", "to": outcome},
                )
            )
        else:
            if lead.first_contacted_at:
                lead.status = rng.choice((Lead.Status.CONTACTED, Lead.Status.CONTACTED, Lead.Status.QUALIFIED))
            if lead.owner and rng.random() < 0.5:
                due = now + timedelta(hours=rng.uniform(-72, 120))
                follow_ups.append(FollowUp(lead=lead, assigned_to=lead.owner, due_at=due, note="Call back"))
                lead.next_follow_up_at = due
        updates.append(lead)

    Activity.objects.bulk_create(activities, batch_size=2000)
    FollowUp.objects.bulk_create(follow_ups, batch_size=2000)
    Lead.objects.bulk_update(
        updates,
        [
            "status", "converted_at", "converted_value", "lost_reason", "last_activity_at", "first_contacted_at",
            "next_follow_up_at",
        ],
        batch_size=500,
    )  # fmt: skip
    _demo_spend_create(channel_rng, now)
    rollups_mark_all()  # written in bulk, past the save() receivers: the reports' rollups rebuild every day
    return DemoSummary(
        users=[(u.username, DEMO_PASSWORD, u.get_role_display()) for u in users],
        leads=len(created_leads),
        activities=len(activities),
        follow_ups=len(follow_ups),
    )
