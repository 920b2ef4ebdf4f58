"""Bulk create/update of leads (the bulk API's write side).

Rows arrive validated (the API validates each with its serializer); this service matches them
as a file import does (leads.matching), writes each in its own savepoint through the lead
services, and asks for one rescore for the whole call.
"""

from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from leads import audit, services
from leads.matching import leads_matching
from leads.models import Lead, User
from leads.signals import leads_changed_send


@dataclass
class BulkRow:
    index: int  # the row's position in the request
    data: dict  # validated fields; "email" already email_key-normalised
    has_owner: bool  # the row sent an owner (None then means "the pool")


@dataclass
class BulkResult:
    results: list[dict] = field(default_factory=list)  # {"row", "id", "action": "created" | "updated"}
    errors: dict[int, dict[str, list[str]]] = field(default_factory=dict)  # row index -> field -> messages


class _Rollback(Exception):
    pass


def leads_bulk_upsert(rows: list[BulkRow], *, user: User, atomic: bool) -> BulkResult:
    """Write `rows`: a match (external id, else email key) is updated, anything else created.

    With `atomic`, one failing row rolls back every row and the result carries only the errors.
    Without, the other rows are written and the failing ones come back in `errors`.
    """
    outcome = BulkResult()
    by_external_id, by_email = leads_matching(
        [row.data["external_id"] for row in rows if row.data.get("external_id")],
        [row.data["email"] for row in rows if not row.data.get("external_id") and row.data.get("email")],
    )
    try:
        with transaction.atomic():
            for row in rows:
                external_id = row.data.get("external_id")
                lead = by_external_id.get(external_id) if external_id else by_email.get(row.data.get("email") or "")
                try:
                    with transaction.atomic():
                        outcome.results.append(_row_write(row, lead, user=user))
                except (ValidationError, IntegrityError) as exc:
                    outcome.errors[row.index] = _row_error(exc)
                    if lead is not None:
                        lead.refresh_from_db()  # rolled back: a later row may match the same lead
            if atomic and outcome.errors:
                raise _Rollback
            # One rescore request for the whole call (not one task per lead), after commit.
            leads_changed_send([r["id"] for r in outcome.results])
            if outcome.results:
                actions = [r["action"] for r in outcome.results]
                audit.audit_record(
                    audit.BULK_CHANGE,
                    actor=user,
                    target_type="leads.lead",
                    details={
                        "created": actions.count("created"),
                        "updated": actions.count("updated"),
                        "failed": len(outcome.errors),
                        "lead_ids": [r["id"] for r in outcome.results][:1000],
                    },
                )
    except _Rollback:
        outcome.results = []
    return outcome


def _row_write(row: BulkRow, lead: Lead | None, *, user: User) -> dict:
    """Create the row's lead, or update `lead` (its match): fields the row does not send keep
    their stored values, attributes are merged, status and outcome are never touched."""
    data = dict(row.data)
    owner = data.pop("owner", None)
    attributes = data.pop("attributes", None)
    if lead is None:
        lead = services.lead_create(**data, attributes=attributes, owner=owner, rescore=False)
        return {"row": row.index, "id": lead.pk, "action": "created"}
    data.pop("external_id", None)
    if attributes:
        data["attributes"] = {**(lead.attributes or {}), **attributes}  # merged, as the importer does
    if data:
        lead = services.lead_update(lead=lead, rescore=False, **data)
    if row.has_owner and owner != lead.owner:
        services.lead_assign(lead=lead, rep=owner, by=user)
    return {"row": row.index, "id": lead.pk, "action": "updated"}


def _row_error(exc: ValidationError | IntegrityError) -> dict[str, list[str]]:
    if isinstance(exc, IntegrityError):
        return {"non_field_errors": ["Conflicts with another lead (duplicate key)."]}
    if hasattr(exc, "error_dict"):
        return {name: [str(m) for m in messages] for name, messages in exc.message_dict.items()}
    return {"non_field_errors": [str(m) for m in exc.messages]}
