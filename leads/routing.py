"""Routing: admin-set rules (leads.models.RoutingRule) give new and pooled leads to a team of reps.

Hot leads first (the pool is read by priority); within a team, round-robin weighted by each
rep's open capacity: the next lead goes to the rep with the most room left (capacity minus the
open leads they own), ties to the rep served longest ago, so a rep with twice the room gets
leads twice as often until the team is level. An inactive rep, or one at capacity, gets nothing.
Every assignment is one timeline entry naming the rule.

Runs after leads are created, imported or scored (leads.receivers: debounced, after commit) and
on a beat (leads.route_pool); one run takes at most ROUTE_BATCH leads. Safe to run twice at
once: candidate rows are locked with SKIP LOCKED and the owner is set only where it is still empty.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from typing import NamedTuple

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.urls import reverse
from django.utils import timezone

from leadcrm.dispatch import debounced_dispatch
from leads.models import BY_SCORE, RANKED_POOL, Activity, Lead, RoutingRule, SlaEvent, User
from leads.notifications import Kind, lead_assigned_notify, notify
from leads.reports.rollups import rollups_mark_leads
from leads.selectors import open_leads_by_owner

ROUTING_TASK = "leads.route_pool"
PENDING_KEY = "leads:routing-pending"
ROUTE_BATCH = 20_000


def routing_request() -> None:
    """Route the pool shortly after the current transaction commits. Debounced: a burst of
    changes (an import, a rescore run) is routed by one task run; nothing is sent while no rule is
    active. If the broker is down, the beat's run routes the pool later."""
    debounced_dispatch(
        ROUTING_TASK,
        key=PENDING_KEY,
        seconds=settings.ROUTING_DEBOUNCE_SECONDS,
        needed=RoutingRule.objects.filter(active=True).exists,
    )


class _Candidate(NamedTuple):
    """A pooled lead as routing reads it: what rules match on, and what names it."""

    pk: int
    name: str
    email: str
    external_id: str | None
    source: str
    origin: str
    tier: str
    priority: int

    def __str__(self) -> str:
        return self.name or self.email or self.external_id or f"Lead #{self.pk}"


# _Candidate's fields as columns: the score's live in LeadRank.
_CANDIDATE_COLUMNS = tuple(f"rank__{name}" if name in ("tier", "priority") else name for name in _Candidate._fields)


@dataclass
class _Team:
    """Reps' room left and the order they were last served in, shared by every rule of one run."""

    room: dict[int, int]
    reps: dict[int, User]
    served: dict[int, int] = field(default_factory=dict)
    turn: int = 0

    def next_rep(self, rep_ids: list[int], *, exclude: int | None = None) -> User | None:
        eligible = [pk for pk in rep_ids if pk != exclude and self.room.get(pk, 0) > 0]
        if not eligible:
            return None
        best = max(eligible, key=lambda pk: (self.room[pk], -self.served.get(pk, -1), -pk))
        self.room[best] -= 1
        self.turn += 1
        self.served[best] = self.turn
        return self.reps[best]


def _team_for(rules: list[RoutingRule]) -> tuple[_Team, dict[int, list[int]]]:
    """The active reps of every rule, with their room left: one query for the open loads."""
    reps: dict[int, User] = {}
    members: dict[int, list[int]] = {}
    for rule in rules:
        active = [rep for rep in rule.reps.all() if rep.is_active]
        reps.update({rep.pk: rep for rep in active})
        members[rule.pk] = sorted(rep.pk for rep in active)
    loads = open_leads_by_owner(list(reps))
    room = {pk: max(0, rep.capacity - loads.get(pk, 0)) for pk, rep in reps.items()}
    return _Team(room=room, reps=reps), members


def _rule_filter(rule: RoutingRule) -> Q:
    q = Q()
    if rule.source:
        q &= Q(source=rule.source)
    if rule.origin:
        q &= Q(origin=rule.origin)
    if rule.tier:
        q &= Q(rank__tier=rule.tier)
    if rule.min_score is not None:
        q &= Q(rank__priority__gt=rule.min_score)
    return q


def rules_active() -> list[RoutingRule]:
    return list(RoutingRule.objects.filter(active=True).prefetch_related("reps"))


def rule_for(lead: "Lead | _Candidate", rules: list[RoutingRule] | None = None) -> RoutingRule | None:
    """The first active rule (by position) that matches `lead`."""
    for rule in rules if rules is not None else rules_active():
        if rule.matches(lead):
            return rule
    return None


def leads_route(*, limit: int = ROUTE_BATCH) -> int:
    """Route up to `limit` unassigned open leads, best first. Returns how many were assigned.

    Leads already escalated for a missed SLA stay where the escalation put them (a rule that
    returns breached leads to the pool means it)."""
    rules = rules_active()
    if not rules:
        return 0
    team, members = _team_for(rules)
    if not any(team.room.values()):
        return 0
    filters = [_rule_filter(rule) for rule in rules]
    matching = Q()
    if all(filters):  # an empty filter (a catch-all rule) matches every lead: no filter at all
        for rule_filter in filters:
            matching |= rule_filter
    breached = SlaEvent.objects.filter(lead=OuterRef("pk"), stage=SlaEvent.Stage.BREACH)
    now = timezone.now()
    with transaction.atomic():
        # Plain rows, not model instances: 10,000 Lead objects cost more than the whole UPDATE.
        candidates = [
            _Candidate(*row)
            for row in Lead.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(matching, RANKED_POOL)
            .exclude(Exists(breached))
            .order_by(*BY_SCORE)
            .values_list(*_CANDIDATE_COLUMNS)[:limit]
        ]
        by_rep: dict[int, list[tuple[_Candidate, RoutingRule]]] = defaultdict(list)
        for lead in candidates:
            rule = rule_for(lead, rules)
            rep = team.next_rep(members[rule.pk]) if rule is not None else None
            if rep is not None:
                by_rep[rep.pk].append((lead, rule))
        activities = []
        for rep_pk, routed in by_rep.items():
            Lead.objects.filter(pk__in=[lead.pk for lead, _ in routed], owner__isnull=True).update(
                owner=rep_pk, updated_at=now
            )
            rep = team.reps[rep_pk]
            activities += [_routed_record(lead.pk, rep, rule, now) for lead, rule in routed]
        Activity.objects.bulk_create(activities, batch_size=2000)
        rollups_mark_leads([lead.pk for routed in by_rep.values() for lead, _ in routed])  # owners changed
        for rep_pk, routed in by_rep.items():
            _routed_notify(team.reps[rep_pk], [lead for lead, _ in routed])
    return len(activities)


def _routed_record(lead_id: int, rep: User, rule: RoutingRule, when) -> Activity:
    return Activity(
        lead_id=lead_id,
        user=None,
        kind=Activity.Kind.STATUS_CHANGE,
        outcome="routed",
        occurred_at=when,
        notes=f"Routed to {rep} by rule “{rule.name}”",
        data={"to_owner": rep.pk, "rule_id": rule.pk, "rule": rule.name},
    )


def _routed_notify(rep: User, leads: list["_Candidate"]) -> None:
    """One notification per lead for a few; one summary when a run routes many to the same rep."""
    if len(leads) <= 3:
        for lead in Lead.objects.filter(pk__in=[c.pk for c in leads]).select_related("rank").order_by(*BY_SCORE):
            lead_assigned_notify(lead=lead, rep=rep, how="routed to you")
        return
    notify(
        users=[rep],
        kind=Kind.LEAD_ASSIGNED,
        title=f"{len(leads)} new leads were routed to you",
        body="Best first: " + ", ".join(str(lead) for lead in leads[:5]),
        url=reverse("leads:queue"),
    )


@transaction.atomic
def lead_route_to_next_rep(*, lead: Lead, rule: RoutingRule) -> User | None:
    """Give `lead` to the rep of `rule`'s team with the most room, other than its owner (SLA
    escalation). None, and nothing changes, when nobody in the team has room."""
    team, members = _team_for([rule])
    rep = team.next_rep(members[rule.pk], exclude=lead.owner_id)
    if rep is None:
        return None
    previous = lead.owner
    Lead.objects.filter(pk=lead.pk).update(owner=rep, updated_at=timezone.now())
    lead.owner = rep
    Activity.objects.create(
        lead=lead,
        kind=Activity.Kind.STATUS_CHANGE,
        outcome="routed",
        notes=f"First-contact SLA missed: moved from {previous or 'pool'} to {rep} by rule “{rule.name}”",
        data={"from_owner": getattr(previous, "pk", None), "to_owner": rep.pk, "rule_id": rule.pk, "rule": rule.name},
    )
    lead_assigned_notify(lead=lead, rep=rep, how="passed to you after a missed first-contact SLA")
    return rep
