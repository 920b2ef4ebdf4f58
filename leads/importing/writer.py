"""Writing one chunk of converted rows. The caller holds the chunk's transaction.

PostgreSQL: COPY the chunk into a temporary staging table, then one UPDATE for rows that match
an existing lead and one INSERT ... ON CONFLICT (external_id) DO UPDATE for the rest, each with
an IS DISTINCT FROM guard so an unchanged row is not rewritten. Other databases (SQLite): the
ORM's bulk_create / bulk_update (executemany). The SQL is fixed text: column names from files
never reach it; every value travels as a parameter or through COPY.
"""

import functools
import json
from dataclasses import dataclass, field

import psycopg
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from leads.importing.validation import RECORD_FIELDS, record_as_dict
from leads.matching import leads_matching
from leads.models import Lead

DUPLICATES_PER_CHUNK = 200
_BATCH = 500

STAGE_COLUMNS = RECORD_FIELDS
_EXTERNAL_ID, _EMAIL, _PHONE, _STATUS = (
    RECORD_FIELDS.index(name) for name in ("external_id", "email", "phone", "status")
)


class _Record:
    """Attribute access to one record, for the ORM path."""

    def __init__(self, fields: dict):
        self.__dict__.update(fields)


_STAGE_DDL = """
CREATE TEMPORARY TABLE IF NOT EXISTS leadcrm_import_stage (
    row_no integer, external_id text, name text, email text, phone text, company text, source text,
    origin text, owner_id bigint, created_at timestamptz, status text, converted_at timestamptz,
    lost_reason text, attributes jsonb, campaign text, converted_value numeric(14, 2), target_id bigint
) ON COMMIT DELETE ROWS
"""

_TARGET_BY_ID = """
UPDATE leadcrm_import_stage s SET target_id = l.id
FROM leads_lead l WHERE s.external_id IS NOT NULL AND l.external_id = s.external_id
"""

_TARGET_BY_EMAIL = """
UPDATE leadcrm_import_stage s SET target_id = m.id
FROM (
    SELECT DISTINCT ON (l.email) l.email, l.id
    FROM leads_lead l
    WHERE l.email <> ''
      AND l.email IN (SELECT email FROM leadcrm_import_stage WHERE external_id IS NULL AND email <> '')
    ORDER BY l.email, l.id
) m
WHERE s.external_id IS NULL AND s.email = m.email
"""

# New values of a matched lead: NULL in the stage means "the file does not say", keep the stored value.
# One statement per round: round 1 is every row's first match; when two rows of a chunk match the
# same lead (one by id, one by email), the later one is applied in a later round, in file order.
_UPDATE_EXISTING = """
WITH n AS (
    SELECT l.id, l.status AS old_status,
        COALESCE(s.name, l.name) AS name,
        COALESCE(s.email, l.email) AS email,
        COALESCE(s.phone, l.phone) AS phone,
        COALESCE(s.company, l.company) AS company,
        COALESCE(s.source, l.source) AS source,
        COALESCE(s.origin, l.origin) AS origin,
        COALESCE(s.campaign, l.campaign) AS campaign,
        COALESCE(s.converted_value, l.converted_value) AS converted_value,
        COALESCE(s.owner_id, l.owner_id) AS owner_id,
        COALESCE(s.created_at, l.created_at) AS created_at,
        COALESCE(s.status, l.status) AS status,
        CASE WHEN s.status = 'converted' THEN COALESCE(l.converted_at, s.converted_at)
             WHEN s.status = 'lost' THEN NULL ELSE l.converted_at END AS converted_at,
        CASE WHEN s.status = 'lost' AND l.status = 'lost' AND l.lost_reason <> '' THEN l.lost_reason
             WHEN s.status = 'lost' THEN s.lost_reason
             WHEN s.status = 'converted' THEN '' ELSE l.lost_reason END AS lost_reason,
        l.attributes || s.attributes AS attributes
    FROM leadcrm_import_stage s JOIN leads_lead l ON l.id = s.target_id
    WHERE (s.row_no = ANY(%s)) = %s
)
UPDATE leads_lead l SET
    name = n.name, email = n.email, phone = n.phone, company = n.company, source = n.source,
    origin = n.origin, campaign = n.campaign, converted_value = n.converted_value, owner_id = n.owner_id,
    created_at = n.created_at, status = n.status, converted_at = n.converted_at, lost_reason = n.lost_reason,
    attributes = n.attributes, updated_at = %s, import_job_id = COALESCE(l.import_job_id, %s)
FROM n
WHERE l.id = n.id AND (
    l.name, l.email, l.phone, l.company, l.source, l.origin, l.campaign, l.converted_value, l.owner_id,
    l.created_at, l.status, l.converted_at, l.lost_reason, l.attributes
) IS DISTINCT FROM (
    n.name, n.email, n.phone, n.company, n.source, n.origin, n.campaign, n.converted_value, n.owner_id,
    n.created_at, n.status, n.converted_at, n.lost_reason, n.attributes
)
RETURNING l.id, (l.status IN ('converted', 'lost') AND l.status IS DISTINCT FROM n.old_status)
"""

# Rows matching a lead that an earlier row of the chunk matches too, by round (2nd match, 3rd...).
_LATER_MATCHES = """
SELECT array_agg(row_no ORDER BY row_no) FROM (
    SELECT row_no, row_number() OVER (PARTITION BY target_id ORDER BY row_no) AS nth
    FROM leadcrm_import_stage WHERE target_id IS NOT NULL
) m WHERE nth > 1 GROUP BY nth ORDER BY nth
"""

# Rows with no stored match. ON CONFLICT covers a lead inserted by someone else since the match
# (there a blank campaign or value keeps what the other writer stored).
_INSERT_NEW = """
INSERT INTO leads_lead (
    external_id, name, email, phone, company, source, origin, campaign, converted_value, owner_id, created_at,
    status, converted_at, lost_reason, attributes, updated_at, import_job_id
)
SELECT s.external_id, COALESCE(s.name, ''), COALESCE(s.email, ''), COALESCE(s.phone, ''),
    COALESCE(s.company, ''), COALESCE(s.source, ''), COALESCE(s.origin, ''), COALESCE(s.campaign, ''),
    s.converted_value, s.owner_id, COALESCE(s.created_at, %s), COALESCE(s.status, 'new'),
    CASE WHEN s.status = 'converted' THEN s.converted_at END,
    CASE WHEN s.status = 'lost' THEN s.lost_reason ELSE '' END,
    s.attributes, %s, %s
FROM leadcrm_import_stage s
WHERE s.target_id IS NULL
ORDER BY s.row_no
ON CONFLICT (external_id) DO UPDATE SET
    name = EXCLUDED.name, email = EXCLUDED.email, phone = EXCLUDED.phone, company = EXCLUDED.company,
    source = EXCLUDED.source, origin = EXCLUDED.origin,
    campaign = COALESCE(NULLIF(EXCLUDED.campaign, ''), leads_lead.campaign),
    converted_value = COALESCE(EXCLUDED.converted_value, leads_lead.converted_value),
    status = CASE WHEN EXCLUDED.status IN ('converted', 'lost') THEN EXCLUDED.status ELSE leads_lead.status END,
    attributes = leads_lead.attributes || EXCLUDED.attributes, updated_at = EXCLUDED.updated_at
WHERE (leads_lead.name, leads_lead.email, leads_lead.phone, leads_lead.company, leads_lead.source,
       leads_lead.origin, leads_lead.campaign, leads_lead.converted_value, leads_lead.attributes || EXCLUDED.attributes)
    IS DISTINCT FROM
      (EXCLUDED.name, EXCLUDED.email, EXCLUDED.phone, EXCLUDED.company, EXCLUDED.source,
       EXCLUDED.origin, COALESCE(NULLIF(EXCLUDED.campaign, ''), leads_lead.campaign),
       COALESCE(EXCLUDED.converted_value, leads_lead.converted_value),
       leads_lead.attributes)
   OR (EXCLUDED.status IN ('converted', 'lost') AND EXCLUDED.status <> leads_lead.status)
RETURNING id, (xmax = 0), status IN ('converted', 'lost')
"""

_DUPLICATES = """
SELECT s.row_no, s.external_id, 'email', s.email, l.id, l.external_id
FROM leadcrm_import_stage s JOIN leads_lead l ON l.email = s.email AND l.email <> ''
WHERE s.email <> '' AND l.external_id IS DISTINCT FROM s.external_id AND l.id <> COALESCE(s.target_id, -1)
UNION ALL
SELECT s.row_no, s.external_id, 'phone', s.phone, l.id, l.external_id
FROM leadcrm_import_stage s JOIN leads_lead l ON l.phone = s.phone AND l.phone <> ''
WHERE s.phone <> '' AND l.external_id IS DISTINCT FROM s.external_id AND l.id <> COALESCE(s.target_id, -1)
LIMIT %s
"""


@dataclass
class ChunkResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    new_outcomes: int = 0
    lead_ids: list[int] = field(default_factory=list)
    duplicates: list[dict] = field(default_factory=list)


def write_chunk(records: list[tuple], *, import_job_id: int | None = None) -> ChunkResult:
    """Upsert one chunk of records (validation.RECORD_FIELDS order). New leads remember
    `import_job_id` (the import that created them); a changed lead without one takes it.

    Precondition: the caller holds a transaction (the chunk commits whole)."""
    if not records:
        return ChunkResult()
    if connection.vendor == "postgresql":
        return _write_postgres(records, import_job_id)
    return _write_orm([_Record(record_as_dict(r)) for r in records], import_job_id)


def _duplicate(row_no, external_id, match, value, lead_id, other_external_id) -> dict:
    return {
        "row": row_no,
        "external_id": external_id,
        "match": match,
        "value": value,
        "lead_id": lead_id,
        "lead_external_id": other_external_id,
    }


# --- PostgreSQL ------------------------------------------------------------------------------
def _write_postgres(records: list[tuple], import_job_id: int | None) -> ChunkResult:
    result = _copy_new_leads(records, import_job_id)
    if result is not None:
        return result
    now = timezone.now()
    result = ChunkResult()
    with connection.cursor() as cursor:
        cursor.execute(_STAGE_DDL)
        cursor.execute("DELETE FROM leadcrm_import_stage")
        raw = cursor.cursor  # the psycopg 3 cursor under Django's wrapper
        with raw.copy(f"COPY leadcrm_import_stage ({', '.join(STAGE_COLUMNS)}) FROM STDIN") as copy:
            for record in records:
                copy.write_row(record)
        cursor.execute(_TARGET_BY_ID)
        matched = cursor.rowcount
        if any(r[_EXTERNAL_ID] is None and r[_EMAIL] for r in records):
            cursor.execute(_TARGET_BY_EMAIL)
            matched += cursor.rowcount
        if matched:  # a chunk of new leads skips the update entirely
            cursor.execute("ANALYZE leadcrm_import_stage")  # a temp table has no statistics otherwise
            cursor.execute(_LATER_MATCHES)
            later = [rows for (rows,) in cursor.fetchall()]
            # First every row but the later matches, then each round of later matches.
            rounds = [([row for rows in later for row in rows], False), *((rows, True) for rows in later)]
            for rows, inside in rounds:
                cursor.execute(_UPDATE_EXISTING, [rows, inside, now, import_job_id])
                for lead_id, new_outcome in cursor.fetchall():
                    result.updated += 1
                    result.new_outcomes += bool(new_outcome)
                    result.lead_ids.append(lead_id)
        cursor.execute(_INSERT_NEW, [now, now, import_job_id])
        for lead_id, inserted, closed in cursor.fetchall():
            if inserted:
                result.created += 1
                result.new_outcomes += bool(closed)
            else:
                result.updated += 1
            result.lead_ids.append(lead_id)
        if any(r[_EMAIL] or r[_PHONE] for r in records):
            cursor.execute(_DUPLICATES, [DUPLICATES_PER_CHUNK])
            result.duplicates = [_duplicate(*row) for row in cursor.fetchall()]
    result.unchanged = len(records) - result.created - result.updated
    return result


_LEAD_COPY_COLUMNS = (
    "id", "external_id", "name", "email", "phone", "company", "source", "origin", "owner_id", "created_at",
    "status", "converted_at", "lost_reason", "attributes", "updated_at", "import_job_id", "campaign",
    "converted_value",
)  # fmt: skip
_CLOSED = ("converted", "lost")


_PROBE_SAMPLE = 64


@functools.cache
def _lead_id_sequence() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_serial_sequence('leads_lead', 'id')")
        return cursor.fetchone()[0]


def _copy_new_leads(records: list[tuple], import_job_id: int | None) -> ChunkResult | None:
    """Fast path for a chunk of leads that are all new: COPY straight into leads_lead.

    Taken only when every row has an external id, and the file maps no email/phone (nothing to
    report as a possible duplicate). A sample of the ids is looked up first, which catches a
    re-import cheaply; any stored id the sample missed makes the COPY fail on the unique
    constraint inside a savepoint, and the chunk goes the staged way instead (so does a
    concurrent insert of the same id). Ids are reserved from the table's sequence first so the
    result still lists them. None means "not taken".
    """
    ids = [r[_EXTERNAL_ID] for r in records]
    if not all(ids) or any(r[_EMAIL] or r[_PHONE] for r in records):
        return None
    now = timezone.now()
    step = max(1, len(ids) // _PROBE_SAMPLE)
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM leads_lead WHERE external_id = ANY(%s) LIMIT 1", [[*ids[::step], ids[-1]]])
        if cursor.fetchone() is not None:
            return None
        cursor.execute(
            "SELECT array_agg(nextval(%s::regclass)) FROM generate_series(1, %s)", [_lead_id_sequence(), len(records)]
        )
        lead_ids = cursor.fetchone()[0]
        payload = _new_leads_copy_text(lead_ids, records, now, import_job_id)
        try:
            with (
                transaction.atomic(),
                cursor.cursor.copy(f"COPY leads_lead ({', '.join(_LEAD_COPY_COLUMNS)}) FROM STDIN") as copy,
            ):
                copy.write(payload)
        except (IntegrityError, psycopg.errors.UniqueViolation):
            return None
    closed = sum(1 for r in records if r[_STATUS] in _CLOSED)
    return ChunkResult(created=len(records), new_outcomes=closed, lead_ids=lead_ids)


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_TEXT_FIELDS = tuple(  # record positions holding text
    RECORD_FIELDS.index(name)
    for name in ("external_id", "name", "email", "phone", "company", "source", "origin", "lost_reason", "attributes",
                 "campaign")
)  # fmt: skip


def _copy_escaped(record: tuple) -> tuple:
    """The record with its text made safe for COPY's text format (backslash, tab, newline, CR)."""
    return tuple(
        value.translate(_COPY_ESCAPES) if position in _TEXT_FIELDS and value else value
        for position, value in enumerate(record)
    )


def _new_leads_copy_text(lead_ids: list[int], records: list[tuple], now, import_job_id: int | None = None) -> str:
    """The COPY text of new leads (_LEAD_COPY_COLUMNS order), one f-string per row (several times
    cheaper than a copy.write_row per row). Text is escaped only in a chunk that needs it (one scan)."""
    texts = "".join(r[i] for r in records for i in _TEXT_FIELDS if r[i])
    if "\\" in texts or "\t" in texts or "\n" in texts or "\r" in texts:
        records = [_copy_escaped(r) for r in records]
    null = "\\N"
    stamps: dict = {None: null}

    def stamp(value) -> str:
        text = stamps.get(value)
        if text is None:
            text = stamps[value] = value.isoformat()
        return text

    now_text = stamp(now)
    job = null if import_job_id is None else str(int(import_job_id))
    return "".join(
        f"{lead_id}\t{external_id}\t{name or ''}\t{email or ''}\t{phone or ''}\t{company or ''}\t{source or ''}"
        f"\t{origin or ''}\t{null if owner is None else owner}\t{stamp(created) if created else now_text}"
        f"\t{status or 'new'}\t{stamp(converted) if status == 'converted' else null}"
        f"\t{lost_reason if status == 'lost' else ''}\t{attributes}\t{now_text}\t{job}"
        f"\t{campaign or ''}\t{null if value is None else value}\n"
        for lead_id, (_, external_id, name, email, phone, company, source, origin, owner, created, status, converted,
                      lost_reason, attributes, campaign, value) in zip(lead_ids, records, strict=True)
    )  # fmt: skip


# --- Any other database (SQLite): the ORM's executemany ---------------------------------------
_UPDATABLE = (
    "name", "email", "phone", "company", "source", "origin", "campaign", "converted_value", "owner_id", "created_at",
)  # fmt: skip


def _batches(items: list, size: int = _BATCH):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _write_orm(records: list[_Record], import_job_id: int | None) -> ChunkResult:
    now = timezone.now()
    result = ChunkResult()
    # A lead matched by one row's id and another's email is one object: both rows apply, in file order.
    by_id, by_email = leads_matching(
        [r.external_id for r in records if r.external_id], [r.email for r in records if not r.external_id and r.email]
    )

    to_create: list[Lead] = []
    to_update: list[Lead] = []
    targets: dict[int, int] = {}
    for r in records:
        lead = by_id.get(r.external_id) if r.external_id else by_email.get(r.email or "")
        if lead is None:
            to_create.append(
                Lead(
                    external_id=r.external_id,
                    name=r.name or "",
                    email=r.email or "",
                    phone=r.phone or "",
                    company=r.company or "",
                    source=r.source or "",
                    origin=r.origin or "",
                    campaign=r.campaign or "",
                    converted_value=r.converted_value,
                    owner_id=r.owner_id,
                    created_at=r.created_at or now,
                    status=r.status or Lead.Status.NEW,
                    converted_at=r.converted_at if r.status == Lead.Status.CONVERTED else None,
                    lost_reason=r.lost_reason if r.status == Lead.Status.LOST else "",
                    attributes=json.loads(r.attributes),
                    import_job_id=import_job_id,
                )
            )
            continue
        targets[r.row_no] = lead.pk
        if _apply(lead, r):
            lead.updated_at = now
            lead.import_job_id = lead.import_job_id or import_job_id
            to_update.append(lead)
            result.new_outcomes += lead.status in Lead.CLOSED_STATUSES and lead._import_old_status != lead.status
    if to_update:
        Lead.objects.bulk_update(
            to_update,
            [*_UPDATABLE, "status", "converted_at", "lost_reason", "attributes", "updated_at", "import_job_id"],
            batch_size=_BATCH,
        )
    if to_create:
        Lead.objects.bulk_create(to_create, batch_size=_BATCH)
    result.created = len(to_create)
    result.updated = len(to_update)
    result.new_outcomes += sum(1 for lead in to_create if lead.status in Lead.CLOSED_STATUSES)
    result.lead_ids = [lead.pk for lead in to_update] + [lead.pk for lead in to_create]
    result.unchanged = len(records) - result.created - result.updated
    result.duplicates = _duplicates_orm(records, targets)
    return result


def _apply(lead: Lead, r: _Record) -> bool:
    """Set the row's values on a stored lead; True when anything changed. Same rules as _UPDATE_EXISTING."""
    lead._import_old_status = lead.status
    before = [getattr(lead, name) for name in _UPDATABLE] + [
        lead.status, lead.converted_at, lead.lost_reason, dict(lead.attributes),
    ]  # fmt: skip
    for name in _UPDATABLE:
        value = getattr(r, name)
        if value is not None:
            setattr(lead, name, value)
    if r.status == Lead.Status.CONVERTED:
        lead.converted_at = lead.converted_at or r.converted_at
        lead.lost_reason = ""
    elif r.status == Lead.Status.LOST:
        lead.converted_at = None
        if not (lead.status == Lead.Status.LOST and lead.lost_reason):
            lead.lost_reason = r.lost_reason or ""
    if r.status:
        lead.status = r.status
    lead.attributes = {**(lead.attributes or {}), **json.loads(r.attributes)}
    after = [getattr(lead, name) for name in _UPDATABLE] + [
        lead.status, lead.converted_at, lead.lost_reason, lead.attributes,
    ]  # fmt: skip
    return before != after


def _duplicates_orm(records: list[_Record], targets: dict[int, int]) -> list[dict]:
    found: list[dict] = []
    for match in ("email", "phone"):
        rows = {getattr(r, match): r for r in records if getattr(r, match)}
        for batch in _batches(list(rows)):
            lookup = {f"{match}__in": batch}
            for lead_id, value, external_id in Lead.objects.filter(**lookup).values_list("id", match, "external_id"):
                r = rows[value]
                if external_id != r.external_id and lead_id != targets.get(r.row_no):
                    found.append(_duplicate(r.row_no, r.external_id, match, value, lead_id, external_id))
                    if len(found) >= DUPLICATES_PER_CHUNK:
                        return found
    return found
