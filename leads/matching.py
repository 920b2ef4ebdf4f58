"""How incoming rows find the leads they update: one rule for every door.

The file importer (both writers), the bulk API and the Django admin's import all match a row
on its external id, else (a row without one) on its email key; when several stored leads share
the email, the oldest (lowest id) is updated. The PostgreSQL import writer applies the same rule
in SQL over its staging table (leads.importing.writer); the ORM paths call `leads_matching`.
"""

from collections.abc import Iterable

from django.db.models import Q

from leads.models import Lead

# Keys per query: SQLite limits the parameters of one statement.
_BATCH = 900


def email_key(email: str | None) -> str:
    """An email as leads store it and are matched by it: stripped and case-folded ("" for none).

    Case-folding (not lower()) so that addresses which differ only by case in any script
    (`ann@STRASSE.de`, `ann@straße.de`) are one key on every door."""
    return (email or "").strip().casefold()


def leads_matching(external_ids: Iterable[str], emails: Iterable[str]) -> tuple[dict[str, Lead], dict[str, Lead]]:
    """The stored leads that incoming rows update: `({external_id: lead}, {email_key: lead})`.

    Pass `emails` (already email_key-normalised) only for rows without an external id: a row
    with one matches on it or on nothing. When several stored leads share an email, the lowest
    id wins. A lead matched both ways is one object in both dicts, so rows that update it in
    turn see each other's changes. Two queries for up to 900 keys of each kind.
    """
    by_external_id: dict[str, Lead] = {}
    for batch in _batches(sorted({i for i in external_ids if i})):
        by_external_id.update({lead.external_id: lead for lead in Lead.objects.filter(external_id__in=batch)})
    by_pk = {lead.pk: lead for lead in by_external_id.values()}
    by_email: dict[str, Lead] = {}
    for batch in _batches(sorted({email for email in emails if email})):
        for lead in Lead.objects.filter(email__in=batch).order_by("-id"):
            by_email[lead.email] = lead  # descending ids: the lowest is set last and wins
    return by_external_id, {email: by_pk.get(lead.pk, lead) for email, lead in by_email.items()}


def _batches(keys: list[str]):
    for start in range(0, len(keys), _BATCH):
        yield keys[start : start + _BATCH]


def leads_possible_duplicates(*, email: str = "", phone: str = "", exclude_pk: int | None = None, limit: int = 10):
    """Stored leads that may be the same person as a lead being created or edited: the same
    email key, or the same phone (stripped). Oldest first; two index lookups at most."""
    key, phone = email_key(email), (phone or "").strip()
    match = Q()
    if key:
        match |= Q(email=key)
    if phone:
        match |= Q(phone=phone)
    if not match:
        return []
    queryset = Lead.objects.filter(match).select_related("owner").order_by("id")
    if exclude_pk is not None:
        queryset = queryset.exclude(pk=exclude_pk)
    return list(queryset[:limit])
