"""Writing scores: one bulk write per chunk of scored leads, with a ScoreHistory row for each score
that changes. Scores live in the narrow LeadRank row (leads.models), never in the wide lead row:
every write here goes to `leads_leadrank` only. PostgreSQL stages the chunk with COPY and updates
by a join; other databases compare in Python.

May import leads.models, leads.signals and scoring.models; the scoring services that score leads import this.
"""

import json
from dataclasses import dataclass
from datetime import datetime

from django.db import connection, transaction
from django.db.models import Case, Q, Value, When

from leadcrm import metrics
from leads.models import Lead, LeadRank
from leads.signals import leads_scored_send
from scoring.models import ScoreHistory

STAMP_BATCH = 10_000


@dataclass
class Scored:
    """One lead's new score, as leads_score (rescoring) computes it and scores_write stores it."""

    lead_id: int
    probability: float
    score: int
    tier: str
    reasons: list | str  # the reasons, or their JSON text (a rescore builds that directly)

    def reasons_json(self) -> str:
        return self.reasons if isinstance(self.reasons, str) else json.dumps(self.reasons)


def scores_write(
    rows: list[Scored], *, version_id: int | None, scored_at: datetime, stamp_unchanged: bool = False
) -> int:
    """Write scores in bulk; only leads whose score, tier, reasons or version change are
    touched, and each score change gets a ScoreHistory row. Re-running with the same rows
    changes nothing. Keeps LeadRank.priority = override or score. Returns how many leads changed.

    `stamp_unchanged`: also move scored_at on the leads whose score did not change, so a lead
    rescored because it changed (an activity, an edit) is no longer stale (see
    rescoring._stale_filter) and a reader sees it was scored after the change. For the few leads
    of a request or a stale-only run; a full run leaves unchanged rows alone, since any write
    costs a new row version (and its WAL) for nothing."""
    if not rows:
        return 0
    metrics.counter_add("leads_scored", len(rows))  # /metrics: rate() of it is leads scored per second
    with transaction.atomic():
        if connection.vendor == "postgresql":
            changed = _scores_write_postgres(rows, version_id=version_id, scored_at=scored_at)
        else:
            changed = _scores_write_generic(rows, version_id=version_id, scored_at=scored_at)
        if stamp_unchanged:
            _scored_at_stamp([row.lead_id for row in rows], scored_at)
    if changed:
        # New tiers and scores may match the CRM's routing rules (leads routes after commit).
        leads_scored_send([row.lead_id for row in rows])
    return changed


def _scores_write_postgres(rows: list[Scored], *, version_id: int | None, scored_at: datetime) -> int:
    rank_table = LeadRank._meta.db_table
    history_table = ScoreHistory._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE IF NOT EXISTS scoring_incoming (id bigint PRIMARY KEY, score smallint, "
            "probability double precision, tier varchar(16), reasons jsonb) ON COMMIT DELETE ROWS"
        )
        cursor.execute("TRUNCATE scoring_incoming")
        with cursor.copy("COPY scoring_incoming (id, score, probability, tier, reasons) FROM STDIN") as copy:
            for row in rows:
                copy.write_row((row.lead_id, row.score, row.probability, row.tier, row.reasons_json()))
        # Statistics for the planner, and an id range, so both joins use the primary key index
        # instead of scanning the whole rank table for every chunk.
        cursor.execute("ANALYZE scoring_incoming (id)")
        low, high = min(r.lead_id for r in rows), max(r.lead_id for r in rows)
        changed_filter = (
            "(r.score IS DISTINCT FROM t.score OR r.probability IS DISTINCT FROM t.probability "
            "OR r.model_version_id IS DISTINCT FROM %(version)s OR r.score_reasons IS DISTINCT FROM t.reasons "
            "OR (r.score_override IS NULL AND r.tier IS DISTINCT FROM t.tier) "
            "OR r.priority <> COALESCE(r.score_override, t.score))"
        )
        params = {"version": version_id, "at": scored_at, "low": low, "high": high}
        cursor.execute(
            f"INSERT INTO {history_table} (lead_id, model_version_id, score, probability, tier, scored_at, "  # noqa: S608
            f"override_reason) SELECT t.id, %(version)s, t.score, t.probability, t.tier, %(at)s, '' "
            f"FROM scoring_incoming t JOIN {rank_table} r ON r.lead_id = t.id "
            f"AND r.lead_id BETWEEN %(low)s AND %(high)s "
            f"WHERE r.score IS DISTINCT FROM t.score OR r.model_version_id IS DISTINCT FROM %(version)s",
            params,
        )
        cursor.execute(
            f"UPDATE {rank_table} r SET score = t.score, probability = t.probability, "  # noqa: S608
            f"tier = CASE WHEN r.score_override IS NULL THEN t.tier ELSE r.tier END, score_reasons = t.reasons, "
            f"model_version_id = %(version)s, scored_at = %(at)s, priority = COALESCE(r.score_override, t.score) "
            f"FROM scoring_incoming t WHERE r.lead_id = t.id AND r.lead_id BETWEEN %(low)s AND %(high)s "
            f"AND {changed_filter}",
            params,
        )
        return cursor.rowcount


def _scores_write_generic(rows: list[Scored], *, version_id: int | None, scored_at: datetime) -> int:
    """Other databases: compare in Python, then one parameterised UPDATE per changed lead sent
    with executemany (bulk_update's CASE expression grows badly with the batch)."""
    by_id = {row.lead_id: row for row in rows}
    rank_table = connection.ops.quote_name(LeadRank._meta.db_table)
    updates: list[tuple] = []
    history: list[ScoreHistory] = []
    at = connection.ops.adapt_datetimefield_value(scored_at)
    with transaction.atomic():
        current = LeadRank.objects.filter(pk__in=list(by_id)).values_list(
            "pk", "score", "probability", "tier", "score_reasons", "model_version_id", "score_override", "priority"
        )
        for pk, score, probability, tier, reasons, current_version, override, priority in current:
            row = by_id[pk]
            new_reasons = json.loads(row.reasons_json())
            new_priority = override if override is not None else row.score
            new_tier = row.tier if override is None else tier
            unchanged = (score, probability, tier, reasons, current_version, priority) == (
                row.score,
                row.probability,
                new_tier,
                new_reasons,
                version_id,
                new_priority,
            )
            if unchanged:
                continue
            if score != row.score or current_version != version_id:
                history.append(
                    ScoreHistory(
                        lead_id=pk,
                        model_version_id=version_id,
                        score=row.score,
                        probability=row.probability,
                        tier=row.tier,
                        scored_at=scored_at,
                    )
                )
            updates.append(
                (row.score, row.probability, new_tier, json.dumps(new_reasons), version_id, at, new_priority, pk)
            )
        if updates:
            with connection.cursor() as cursor:
                cursor.executemany(
                    f"UPDATE {rank_table} SET score = %s, probability = %s, tier = %s, score_reasons = %s, "  # noqa: S608
                    "model_version_id = %s, scored_at = %s, priority = %s WHERE lead_id = %s",
                    updates,
                )
        ScoreHistory.objects.bulk_create(history, batch_size=1000)
    return len(updates)


def _scored_at_stamp(lead_ids: list[int], scored_at: datetime) -> None:
    """scored_at = `scored_at` on the given leads' rank rows that do not have it yet (the changed
    ones do); an unindexed column, so PostgreSQL can update the row in place (HOT). In batches:
    SQLite limits the parameters of one statement."""
    not_yet = Q(scored_at__isnull=True) | Q(scored_at__lt=scored_at)
    for i in range(0, len(lead_ids), STAMP_BATCH):
        LeadRank.objects.filter(not_yet, pk__in=lead_ids[i : i + STAMP_BATCH]).update(scored_at=scored_at)


def tiers_apply(cutoffs: dict, *, only_overridden: bool = False) -> int:
    """Give every scored lead the tier of its displayed score (LeadRank.priority: the override, else
    the model's score) under `cutoffs` (points). For cut-offs that move without a rescore (the
    capacity mode's K-th best lead): leads scored earlier must not keep a tier their score no
    longer has. One UPDATE of the leads whose tier differs; returns how many.

    `only_overridden`: only leads with a manager's score, whose tier a rescore keeps (a full run
    gives every other lead its tier as it writes)."""
    tier = Case(
        When(priority__gte=cutoffs["hot"], then=Value(Lead.Tier.HOT)),
        When(priority__gte=cutoffs["warm"], then=Value(Lead.Tier.WARM)),
        default=Value(Lead.Tier.COLD),
    )
    ranks = LeadRank.objects.filter(priority__gte=0)
    if only_overridden:
        ranks = ranks.filter(score_override__isnull=False)
    return ranks.filter(~Q(tier=tier)).update(tier=tier)
