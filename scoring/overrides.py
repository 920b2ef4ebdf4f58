"""A manager's own score for a lead, kept beside the model's: set it, clear it.

May import leads.models and scoring's models, scorer and selectors.
"""

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from leads import audit
from leads.models import Lead, LeadRank, User
from scoring import scorer
from scoring.models import ScoreHistory
from scoring.selectors import tier_cutoffs


def _lead_lock(pk: int) -> Lead:
    """The lead with its rank row, both locked (lead first, as the database's triggers do): the
    score is in the rank row, which a rescore writes without touching the lead, so the lead's
    lock alone would let a rescore's score slip in between the read here and the write."""
    lead = Lead.objects.select_for_update().get(pk=pk)
    lead.rank = LeadRank.objects.select_for_update().get(pk=pk)
    return lead


@transaction.atomic
def score_override_set(*, lead: Lead, score: int, reason: str, by: User) -> Lead:
    """A manager's own score for a lead, kept beside the model's; the queue follows it."""
    if not by.is_manager:
        raise PermissionDenied("Only managers can override scores.")
    if not 0 <= int(score) <= 100:
        raise ValidationError({"score": "A score is between 0 and 100."})
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why you override the score."})
    lead = _lead_lock(lead.pk)
    lead.score_override = int(score)
    lead.score_override_reason = reason[:255]
    lead.score_override_by = by
    lead.priority = lead.score_override
    lead.tier = scorer.tier_for(lead.score_override, tier_cutoffs(lead.model_version))
    lead.save(
        update_fields=["score_override", "score_override_reason", "score_override_by", "priority", "tier", "updated_at"]
    )
    ScoreHistory.objects.create(
        lead=lead,
        model_version=lead.model_version,
        score=lead.score_override,
        probability=None,
        tier=lead.tier,
        scored_at=timezone.now(),
        overridden_by=by,
        override_reason=lead.score_override_reason,
    )
    audit.audit_record(audit.SCORE_OVERRIDE, actor=by, target=lead, details={"score": lead.score_override})
    return lead


@transaction.atomic
def score_override_clear(*, lead: Lead, by: User) -> Lead:
    """Return a lead to the model's score."""
    if not by.is_manager:
        raise PermissionDenied("Only managers can override scores.")
    lead = _lead_lock(lead.pk)
    if lead.score_override is None:
        return lead
    lead.score_override = None
    lead.score_override_reason = ""
    lead.score_override_by = None
    lead.priority = lead.score if lead.score is not None else Lead.UNSCORED_PRIORITY
    if lead.score is not None:
        lead.tier = scorer.tier_for(lead.score, tier_cutoffs(lead.model_version))
    else:
        lead.tier = Lead.Tier.UNSCORED
    lead.save(
        update_fields=["score_override", "score_override_reason", "score_override_by", "priority", "tier", "updated_at"]
    )
    if lead.score is not None:
        ScoreHistory.objects.create(
            lead=lead,
            model_version=lead.model_version,
            score=lead.score,
            probability=lead.probability,
            tier=lead.tier,
            scored_at=timezone.now(),
            overridden_by=by,
            override_reason="returned to automatic",
        )
    audit.audit_record(audit.SCORE_OVERRIDE_CLEARED, actor=by, target=lead)
    return lead
