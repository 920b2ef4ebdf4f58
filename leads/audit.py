"""The audit trail: `audit_record` is the one way anything is written to it.

Who (the acting user, else the user of the request being served, else "system"), when, what
(an action name below), to what (a model instance, or a type and id), from which IP, and details
(JSON: row counts, old and new values, ...). Entries are append-only (leads.models.AuditEntry).
Callers: the services that do the audited thing (scoring's activation and overrides included),
leads.audit_receivers for logins, lockouts and role changes, and the export views.
Never put personal data (names, emails) in details: an erased person must not live on here.
"""

from dataclasses import dataclass
from datetime import datetime

from axes.helpers import get_client_ip_address
from django.db.models import Model, QuerySet

from leadcrm.request_context import current_request
from leads.models import AuditEntry, User

# Action names (the page's filter lists the ones present in the trail; scoring uses these too).
LOGIN = "login"
LOCKOUT = "login_lockout"
USER_CHANGED = "user_changed"
EXPORT = "export"
BULK_CHANGE = "bulk_change"
IMPORT = "import"
MERGE = "merge"
SCORE_OVERRIDE = "score_override"
SCORE_OVERRIDE_CLEARED = "score_override_cleared"
MODEL_ACTIVATE = "model_activate"
MODEL_ROLLBACK = "model_rollback"
MODEL_ACTIVATE_ANYWAY = "model_activate_anyway"
PERSON_EXPORT = "person_export"
PERSON_ERASE = "person_erase"
RETENTION_ANONYMISE = "retention_anonymise"


def _request_ip(request) -> str | None:
    try:
        return get_client_ip_address(request) or None
    except Exception:  # a malformed forwarded header must never break the audited action
        return None


def audit_record(
    action: str,
    *,
    actor: User | None = None,
    target: Model | None = None,
    target_type: str = "",
    target_id: str | int = "",
    details: dict | None = None,
    request=None,
    ip_address: str | None = None,
) -> AuditEntry:
    """Append one entry. `target` (an instance) names type and id; or pass them for a bulk target."""
    request = request if request is not None else current_request()
    if actor is None and request is not None:
        user = getattr(request, "user", None)
        actor = user if user is not None and user.is_authenticated else None
    if ip_address is None and request is not None:
        ip_address = _request_ip(request)
    if target is not None:
        target_type = target._meta.label_lower
        target_id = target.pk
    return AuditEntry.objects.create(
        action=action,
        actor=actor,
        actor_name=actor.get_username() if actor is not None else "system",
        target_type=target_type,
        target_id=str(target_id) if target_id not in (None, "") else "",
        ip_address=ip_address,
        details=details or {},
    )


@dataclass(frozen=True)
class AuditFilters:
    action: str = ""
    actor: str = ""  # username, exact
    target_type: str = ""
    target_id: str = ""
    since: datetime | None = None
    until: datetime | None = None


def audit_entries_for(filters: AuditFilters) -> QuerySet[AuditEntry]:
    entries = AuditEntry.objects.select_related("actor")
    if filters.action:
        entries = entries.filter(action=filters.action)
    if filters.actor:
        entries = entries.filter(actor_name=filters.actor)
    if filters.target_type:
        entries = entries.filter(target_type=filters.target_type)
    if filters.target_id:
        entries = entries.filter(target_id=filters.target_id)
    if filters.since:
        entries = entries.filter(at__gte=filters.since)
    if filters.until:
        entries = entries.filter(at__lt=filters.until)
    return entries


def audit_actions_list() -> list[str]:
    return list(AuditEntry.objects.order_by("action").values_list("action", flat=True).distinct())
