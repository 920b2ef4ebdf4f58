"""First-contact SLA escalation (the beat task leads.sla_escalate).

An owned lead's first-contact SLA is its tier's REPORT_SLA_*_HOURS from the moment it was created
(the rule the rep discipline report uses; an unscored lead has the cold SLA). When
SLA_WARNING_FRACTION of it has passed with no contact, the owner is warned; when it has passed,
the managers are told and the first routing rule matching the lead may return it to the pool
or give it to the next rep of its team. Each stage happens once per lead (SlaEvent), so the
task is safe to run twice; leads that breached more than SLA_LOOKBACK_HOURS ago are not scanned.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q
from django.urls import reverse
from django.utils import timezone

from leads.models import Activity, Lead, RoutingRule, SlaEvent
from leads.notifications import Kind, managers_active, notify
from leads.reports.selectors import sla_hours
from leads.routing import lead_route_to_next_rep, rule_for, rules_active

# Leads escalated per stage per run (the beat runs every SLA_CHECK_EVERY_SECONDS and takes the rest).
BATCH = 1000
# More breaches than this in one run: managers get one summary instead of one notification each.
SUMMARY_ABOVE = 10


def sla_hours_for(tier: str) -> int:
    hours = sla_hours()
    return hours.get(tier, hours[Lead.Tier.COLD])


def sla_deadline(lead: Lead) -> datetime:
    return lead.created_at + timedelta(hours=sla_hours_for(lead.tier))


def _past(fraction: float, now: datetime) -> Q:
    """Leads created at least `fraction` of their tier's SLA before `now`."""
    q = Q()
    for tier in Lead.Tier.values:
        q |= Q(rank__tier=tier, created_at__lte=now - timedelta(hours=sla_hours_for(tier) * fraction))
    return q


@dataclass
class SlaResult:
    warned: int = 0
    breached: int = 0
    returned_to_pool: int = 0
    passed_on: int = 0


def sla_escalate(*, now: datetime | None = None) -> SlaResult:
    now = now or timezone.now()
    result = SlaResult()
    oldest = now - timedelta(hours=max(sla_hours().values()) + settings.SLA_LOOKBACK_HOURS)
    # Owned leads only: the first contact is the owner's to make (the pool is routing's job, and an
    # import of thousands of new pooled leads must not page every manager thousands of times).
    waiting = Lead.objects.filter(
        status__in=Lead.OPEN_STATUSES,
        first_contacted_at__isnull=True,
        owner__isnull=False,
        created_at__gte=oldest,
        created_at__lte=now,
    )

    breached = list(
        waiting.filter(_past(1.0, now))
        .exclude(Exists(SlaEvent.objects.filter(lead=OuterRef("pk"), stage=SlaEvent.Stage.BREACH)))
        .select_related("owner", "rank")
        .order_by("created_at", "id")[:BATCH]
    )
    rules = rules_active()
    managers = list(managers_active())
    one_by_one = len(breached) <= SUMMARY_ABOVE
    for lead in breached:
        if _stage_record(lead, SlaEvent.Stage.BREACH, now):
            result.breached += 1
            action = _breach_escalate(lead, rules, managers if one_by_one else [])
            result.returned_to_pool += action == RoutingRule.BreachAction.POOL
            result.passed_on += action == RoutingRule.BreachAction.NEXT_REP
    if result.breached and not one_by_one:
        notify(
            users=managers,
            kind=Kind.SLA_BREACH,
            title=f"{result.breached} leads missed their first-contact SLA",
            body=f"{result.returned_to_pool} returned to the pool and {result.passed_on} passed to another rep "
            "by their routing rules; the rep discipline report lists them.",
            url=reverse("reports:reps"),
            dedupe_key=f"sla_breach_summary:{now.isoformat()}",
        )

    warn = (
        waiting.filter(_past(settings.SLA_WARNING_FRACTION, now))
        .exclude(_past(1.0, now))
        .exclude(Exists(SlaEvent.objects.filter(lead=OuterRef("pk"), stage=SlaEvent.Stage.WARNING)))
        .select_related("owner", "rank")
        .order_by("created_at", "id")[:BATCH]
    )
    for lead in warn:
        if _stage_record(lead, SlaEvent.Stage.WARNING, now):
            result.warned += 1
            minutes = max(1, int((sla_deadline(lead) - now).total_seconds() // 60))
            notify(
                users=[lead.owner],
                kind=Kind.SLA_WARNING,
                title=f"Contact {lead} within {minutes} min",
                body=f"{lead.get_tier_display()} lead: first contact is due by "
                f"{timezone.localtime(sla_deadline(lead)):%Y-%m-%d %H:%M}.",
                url=reverse("leads:detail", args=[lead.pk]),
                lead=lead,
                dedupe_key=f"sla_warning:{lead.pk}",
            )
    return result


def _stage_record(lead: Lead, stage: str, now: datetime) -> bool:
    """True when this call recorded the stage (another run may have just done it)."""
    try:
        with transaction.atomic():
            SlaEvent.objects.create(lead=lead, stage=stage, owner=lead.owner, created_at=now)
    except IntegrityError:
        return False
    return True


@transaction.atomic
def _breach_escalate(lead: Lead, rules: list[RoutingRule], managers: list) -> str:
    """Tell `managers`; apply the matching rule's breach action. Returns the action taken."""
    owner = lead.owner
    notify(
        users=managers,
        kind=Kind.SLA_BREACH,
        title=f"{lead} missed its first-contact SLA",
        body=f"{lead.get_tier_display()} lead created {timezone.localtime(lead.created_at):%Y-%m-%d %H:%M}, "
        f"{sla_hours_for(lead.tier)} h SLA, owned by {owner}.",
        url=reverse("leads:detail", args=[lead.pk]),
        lead=lead,
        dedupe_key=f"sla_breach:{lead.pk}",
    )
    rule = rule_for(lead, rules)
    if rule is None:
        return RoutingRule.BreachAction.NOTIFY
    if rule.on_sla_breach == RoutingRule.BreachAction.POOL:
        previous = owner
        Lead.objects.filter(pk=lead.pk).update(owner=None, updated_at=timezone.now())
        Activity.objects.create(
            lead=lead,
            kind=Activity.Kind.STATUS_CHANGE,
            outcome="returned to pool",
            notes=f"First-contact SLA missed: returned from {previous} to the pool by rule “{rule.name}”",
            data={"from_owner": previous.pk, "to_owner": None, "rule_id": rule.pk, "rule": rule.name},
        )
        return rule.on_sla_breach
    if rule.on_sla_breach == RoutingRule.BreachAction.NEXT_REP and lead_route_to_next_rep(lead=lead, rule=rule):
        return rule.on_sla_breach
    return RoutingRule.BreachAction.NOTIFY
