"""Reads shared by the pages, the API and the reports."""

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.core.cache import cache
from django.db import connection
from django.db.models import Count, DateTimeField, F, IntegerField, Q, QuerySet, Value
from django.db.models.expressions import OrderBy, Window
from django.db.models.functions import Coalesce, Greatest, RowNumber, StrIndex, Upper
from django.http import Http404
from django.utils import timezone

from leadcrm.inputs import is_ascii_int
from leadcrm.row_values import keyset_after
from leads.models import BY_SCORE, RANKED, Activity, FollowUp, Lead, LeadRank, User

SOURCES_CACHE_KEY = "leads:sources:v1"
SOURCES_CACHE_SECONDS = 300


def leads_visible_to(user: User) -> QuerySet[Lead]:
    """Every lead `user` may see: managers all, reps their own plus the unassigned pool."""
    if not user.is_authenticated:
        return Lead.objects.none()
    if user.is_manager:
        return Lead.objects.all()
    return Lead.objects.filter(Q(owner=user) | Q(owner__isnull=True))


def pool_lead_holder(lead_id: int) -> User | None:
    """Who took lead `lead_id` out of the unassigned pool, if that is how its owner got it.

    Every rep saw the lead while it was in the pool, so naming who took it ("already claimed")
    reveals nothing more; a lead that reached its owner any other way stays invisible (None).
    """
    lead = Lead.objects.filter(pk=lead_id, owner__isnull=False).select_related("owner").first()
    if lead is None:
        return None
    last_change = (
        Activity.objects.filter(lead=lead, kind=Activity.Kind.STATUS_CHANGE, outcome__in=("claimed", "assigned"))
        .order_by("-occurred_at", "-pk")
        .only("outcome", "data")
        .first()
    )
    if last_change is None or not isinstance(last_change.data, dict):
        return None
    came_from_pool = last_change.outcome == "claimed" or last_change.data.get("from_owner", 0) is None
    return lead.owner if came_from_pool and last_change.data.get("to_owner") == lead.owner_id else None


def leads_workable_by(user: User) -> QuerySet[Lead]:
    """Leads `user` may change: managers all, reps only their own."""
    if not user.is_authenticated:
        return Lead.objects.none()
    if user.is_manager:
        return Lead.objects.all()
    return Lead.objects.filter(owner=user)


def lead_get_for(user: User, pk: int, *, for_update: bool = False) -> Lead:
    """The lead `pk` if `user` may see it (or change it, with for_update), else Http404."""
    queryset = leads_workable_by(user) if for_update else leads_visible_to(user)
    lead = queryset.select_related("owner", "rank", "rank__model_version").filter(pk=pk).first()
    if lead is None:
        raise Http404("No such lead.")
    return lead


@dataclass(frozen=True)
class QueueFilters:
    tier: str = ""
    status: str = ""  # empty: every open status
    source: str = ""
    due: str = ""  # "", "today" or "overdue"
    q: str = ""
    owner: str = ""  # rep: "" (mine) or "pool"; manager: "" (everyone), "pool" or a user id
    cursor: str = ""

    DUE_CHOICES = (("", "Any follow-up"), ("today", "Due today"), ("overdue", "Overdue"))


@dataclass
class QueuePage:
    leads: list[Lead]
    next_cursor: str | None
    now: datetime
    overdue_ids: set[int] = field(default_factory=set)


_LEAD_RANK = Lead._meta.get_field("rank")
_RANK_LEAD = LeadRank._meta.get_field("lead")


def _rank_back_references_drop(leads: list[Lead]) -> list[Lead]:
    """select_related("rank") caches the rank on each lead and the lead on its rank: a reference cycle
    per row, so a page's ~1,000 objects outlived its request until the cyclic collector found them
    (every ~40 pages, a 30-70 ms pause inside whichever request it fell on). Nothing goes from a
    queue lead's rank back to the lead (were it to, Django would load it), so the rank forgets it and
    a band's rows (the page's and the one read to see if there are more) are freed by reference
    counting when its request ends."""
    for lead in leads:
        if _LEAD_RANK.is_cached(lead):
            rank = _LEAD_RANK.get_cached_value(lead)
            if rank is not None and _RANK_LEAD.is_cached(rank):
                _RANK_LEAD.delete_cached_value(rank)
    return leads


def _parse_cursor(cursor: str) -> tuple[str, float | int, int] | None:
    """A cursor is `o.<epoch-µs>.<id>` inside the overdue band or `s.<priority>.<id>` after it."""
    try:
        band, key, pk = cursor.split(".")
        if band not in ("o", "s"):
            return None
        return band, int(key), int(pk)
    except (ValueError, AttributeError):
        return None


def _cursor_for(band: str, lead: Lead) -> str:
    if band == "o":
        return f"o.{int(lead.next_follow_up_at.timestamp() * 1_000_000)}.{lead.pk}"
    return f"s.{lead.priority}.{lead.pk}"


# What a queue page reads of each lead: the row's values (leads/queue_rows.py), its name for messages
# (Lead.__str__) and the keyset cursor's keys; of its owner, the name. At fifty rows a page, turning
# the other columns (six more timestamps, the imported attributes, the owner's whole row) into Python
# objects was a third of the selector's CPU time.
QUEUE_ROW_FIELDS = (
    *("name", "email", "external_id", "company", "phone", "status", "created_at", "last_activity_at"),
    *("next_follow_up_at", "owner", "owner__first_name", "owner__last_name", "owner__username"),
    *("rank__score", "rank__score_override", "rank__tier", "rank__score_reasons", "rank__priority"),
)


def _queue_base(user: User, filters: QueueFilters, *, by_score: bool = False) -> QuerySet[Lead]:
    """The leads of `user`'s queue under `filters`, any band. `by_score`: the owner and status are
    matched on the LeadRank copies, so that the band by score is one range of one LeadRank index
    (the overdue band and the count read the lead's own columns and indexes)."""
    owner, status = ("rank__owner", "rank__status") if by_score else ("owner", "status")
    queryset = Lead.objects.filter(RANKED) if by_score else Lead.objects.all()
    if filters.owner == "pool":
        queryset = queryset.filter(**{f"{owner}__isnull": True})
    elif user.is_manager:
        if is_ascii_int(filters.owner):
            queryset = queryset.filter(**{owner: int(filters.owner)})
    else:
        queryset = queryset.filter(**{owner: user})

    if filters.status in Lead.Status.values:
        queryset = queryset.filter(**{status: filters.status})
    else:
        queryset = queryset.filter(**{f"{status}__in": Lead.OPEN_STATUSES})
    if filters.tier in Lead.Tier.values:
        queryset = queryset.filter(rank__tier=filters.tier)
    if filters.source:
        queryset = queryset.filter(source=filters.source)
    # The search (filters.q) is applied per band by _band_rows, which chooses how to find its matches.
    # The queue never shows the attributes: at a million imported leads they are the widest column.
    return queryset.select_related("owner", "rank").defer("attributes")


def lead_search_q(text: str) -> Q:
    """Leads whose name, email or company contains `text` (any case). The "has one of them"
    condition is the predicate of the trigram index (migration 0008): it lets PostgreSQL use it."""
    text = text.strip()
    has_one = ~Q(name="") | ~Q(email="") | ~Q(company="")
    return has_one & (Q(name__icontains=text) | Q(email__icontains=text) | Q(company__icontains=text))


# How many of a band's first rows the search probe reads (see _band_rows).
SEARCH_PROBE_ROWS = 2000
# A search with at most this many matches in the whole queue is rare: its matches are listed once per
# page and every band's rows come from that list (see QueueSearch).
SEARCH_RARE_MATCHES = 1000
# A queue PostgreSQL estimates at most this many rows has its matches listed by reading its rows
# (strpos), not the trigram index: a surname's trigram bitmap covers 83k leads at 1M, 30-100 ms, where
# reading a few thousand rows of a narrow queue costs a few ms. The estimate only picks between two
# ways of listing the same matches; for the queue's own filters (owner, status, tier, source) it is good.
SEARCH_SCAN_QUEUE_ROWS = 5000


class QueueSearch:
    """The search text of one queue page, and what the page has learnt about how common it is.

    Both bands of a page search the same queue, so whether a term is rare is asked at most once:
    listing the matches without an order stops after SEARCH_RARE_MATCHES + 1 (a few ms for a rare
    term in the trigram index), where searching each band apart read and sorted every match twice."""

    def __init__(self, text: str, queue: QuerySet[Lead]):
        self.text = text.strip()
        self._queue = queue
        self._rare_ids: list[int] | None = None
        self.asked = False

    def rare_match_ids(self) -> list[int] | None:
        """Every lead of the queue matching the text when there are at most SEARCH_RARE_MATCHES of
        them, else None (a common term, whose rows the probe finds)."""
        if not self.asked:
            queue = self._queue.order_by()
            estimate = _planner_row_estimate(queue)
            if estimate is not None and estimate <= SEARCH_SCAN_QUEUE_ROWS:
                matches = queue.alias(_at=_search_at(self.text)).filter(_at__gt=0)
            else:
                matches = queue.filter(lead_search_q(self.text))
            ids = list(matches.values_list("pk", flat=True)[: SEARCH_RARE_MATCHES + 1])
            self._rare_ids = ids if len(ids) <= SEARCH_RARE_MATCHES else None
            self.asked = True
        return self._rare_ids


def _search_at(text: str) -> Greatest:
    """Where the search text sits in name, email or company (0: in none), for the same matches as
    lead_search_q written so that no index can serve them (strpos instead of LIKE): the probe must
    read the band's rows in queue order, never the trigram index."""
    needle = Upper(Value(text.strip()))
    return Greatest(*(StrIndex(Upper(name), needle) for name in ("name", "email", "company")))


def _probe(band: QuerySet[Lead], order: tuple[str, ...], limit: int, text: str) -> tuple[list[int], bool]:
    """The ids of the first `limit` matches among the band's first SEARCH_PROBE_ROWS rows, in `order`,
    and whether those rows were the whole band (then the matches are all the band's).

    The window is a subquery with its own LIMIT, read lazily in queue order: a common term stops it
    after the few hundred rows that hold `limit` matches, a rare one after SEARCH_PROBE_ROWS; each row
    is read once, and the window's last row, when it is reached, says the band goes on. Written this
    way PostgreSQL walks the band's index at every depth tried at 1M leads, so the probe needs no
    transaction with bitmap scans turned off (three statements fewer than before). Django has no
    subquery in FROM, so the window's compiled SQL is wrapped here; the search text stays a parameter."""
    keys = {f"_probe_key{i}": F(name.removeprefix("-")) for i, name in enumerate(order)}
    window = band.order_by(*order).annotate(_probe_at=_search_at(text), _probe_row=Window(RowNumber(), order_by=order))
    window = window.annotate(_probe_id=F("pk"), **keys)
    window = window.values_list("_probe_id", "_probe_at", "_probe_row", *keys)[:SEARCH_PROBE_ROWS]
    window_sql, window_params = window.query.sql_with_params()
    directions = ["DESC" if name[0] == "-" else "ASC" for name in order]
    window_order = ", ".join(f'"{key}" {direction}' for key, direction in zip(keys, directions, strict=True))
    # Column names come from the code (`order`), the SQL from Django; every value is a parameter.
    sql = (
        f'SELECT "_probe_id", "_probe_at" > 0, "_probe_row" FROM ({window_sql}) AS "window"'  # noqa: S608
        f' WHERE "_probe_at" > 0 OR "_probe_row" = %s ORDER BY {window_order} LIMIT %s'
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, (*window_params, SEARCH_PROBE_ROWS, limit + 1))
        rows = cursor.fetchall()
    found = [pk for pk, matches, _row in rows if matches][:limit]
    return found, not any(row == SEARCH_PROBE_ROWS for _pk, _matches, row in rows)


def _rows_among(band: QuerySet[Lead], ids: list[int], order: tuple[str, ...], limit: int) -> list[Lead]:
    """The band's first `limit` rows in `order` among the leads `ids` (a list of matches)."""
    return list(band.filter(pk__in=ids).order_by(*order)[:limit]) if ids else []


def _band_rows(band: QuerySet[Lead], order: tuple[str, ...], limit: int, search: QueueSearch | None) -> list[Lead]:
    """The first `limit` rows of a queue band in `order`, matching the search when there is one.

    PostgreSQL misjudges how many leads a substring matches (a surname matching 83k leads is estimated
    at 320 rows, a string matching none at 11k), so left to itself it reads tens of thousands of rows
    through the trigram index and sorts them, or walks the whole priority index for a string nobody has.
    So the queue decides instead: first a probe reads the band's first SEARCH_PROBE_ROWS rows in queue
    order (an index range) and keeps the matches; a common term fills the page from them, and a band
    no longer than the probe's window has given all its matches. Otherwise the page asks once whether
    the term is rare in the queue (QueueSearch): a rare term's rows come from its short list of
    matches, in every band. A term that is neither has its band's matches read from the
    trigram index and sorted by an order no index provides, so PostgreSQL cannot choose the index walk.
    Every way returns exactly the rows of the plain query."""
    if search is None:
        return list(band.order_by(*order)[:limit])
    if connection.vendor != "postgresql":
        return list(band.filter(lead_search_q(search.text)).order_by(*order)[:limit])
    if not search.asked:
        found, whole_band = _probe(band, order, limit, search.text)
        if len(found) == limit or whole_band:
            return _rows_among(band, found, order, limit)
    rare_ids = search.rare_match_ids()
    if rare_ids is not None:
        return _rows_among(band, rare_ids, order, limit)
    return list(band.filter(lead_search_q(search.text)).order_by(*map(_order_no_index_gives, order))[:limit])


def _order_no_index_gives(name: str) -> OrderBy:
    """`name` as an ORDER BY term (a leading "-": descending) that no index can provide: the same
    order, so PostgreSQL must sort the matches instead of walking an index for them."""
    field = name.removeprefix("-")
    value = Coalesce(F(field), F(field))
    return value.desc() if name.startswith("-") else value.asc()


def queue_for(user: User, filters: QueueFilters, *, page_size: int = 50, now: datetime | None = None) -> QueuePage:
    """One page of `user`'s work queue: overdue follow-ups first (oldest due first), then by
    effective score descending. Keyset-paginated: each band is one index range scan, whatever
    the page number, so page 1,000 costs what page 1 costs.
    """
    now = now or timezone.now()
    base = _queue_base(user, filters).only(*QUEUE_ROW_FIELDS)
    by_score = _queue_base(user, filters, by_score=True).only(*QUEUE_ROW_FIELDS)
    if filters.due == "today":
        due_today = Q(next_follow_up_at__lt=due_today_cutoff(now))
        base, by_score = base.filter(due_today), by_score.filter(due_today)
    search = QueueSearch(filters.q, base) if filters.q.strip() else None

    cursor = _parse_cursor(filters.cursor)
    leads: list[Lead] = []
    overdue_ids: set[int] = set()
    # A closed lead is never overdue (Lead.is_overdue), so a closed-status queue is a single band
    # by score: no overdue band to split off, and one range of an index over the closed leads.
    closed = filters.status in Lead.CLOSED_STATUSES

    if not closed and (cursor is None or cursor[0] == "o"):
        overdue = base.filter(next_follow_up_at__lt=now)
        if cursor is not None:
            after = datetime.fromtimestamp(cursor[1] / 1_000_000, tz=UTC)
            overdue = keyset_after(
                overdue,
                key="next_follow_up_at",
                key_value=after,
                pk_value=cursor[2],
                descending=False,
                output_field=DateTimeField(),
            )
        band = _rank_back_references_drop(_band_rows(overdue, ("next_follow_up_at", "id"), page_size + 1, search))
        if len(band) > page_size:
            band = band[:page_size]
            overdue_ids = {lead.pk for lead in band}
            return QueuePage(band, _cursor_for("o", band[-1]), now, overdue_ids)
        leads.extend(band)
        overdue_ids = {lead.pk for lead in band}

    if filters.due == "overdue":
        return QueuePage(leads, None, now, overdue_ids)

    remaining = page_size - len(leads)
    scored = by_score if closed else by_score.filter(Q(next_follow_up_at__isnull=True) | Q(next_follow_up_at__gte=now))
    if cursor is not None and cursor[0] == "s":
        scored = keyset_after(
            scored,
            key="rank__priority",
            pk="rank__lead_id",
            key_value=cursor[1],
            pk_value=cursor[2],
            descending=True,
            output_field=IntegerField(),
        )
    band = _rank_back_references_drop(_band_rows(scored, BY_SCORE, remaining + 1, search))
    next_cursor = None
    if len(band) > remaining:
        band = band[:remaining]
        next_cursor = _cursor_for("s", band[-1]) if band else _cursor_for("o", leads[-1])
    leads.extend(band)
    return QueuePage(leads, next_cursor, now, overdue_ids)


def queue_leads_matching(user: User, filters: QueueFilters, *, now: datetime | None = None) -> QuerySet[Lead]:
    """Every lead of `user`'s queue under `filters`, every page (no cursor, no order): what the
    queue's count counts and what "all N matching this filter" acts on."""
    now = now or timezone.now()
    queryset = _queue_base(user, filters)
    if filters.q:
        queryset = queryset.filter(lead_search_q(filters.q))
    if filters.due == "today":
        queryset = queryset.filter(next_follow_up_at__lt=due_today_cutoff(now))
    elif filters.due == "overdue":
        queryset = queryset.filter(next_follow_up_at__lt=now)
    return queryset.order_by()


@dataclass(frozen=True)
class QueueCount:
    value: int
    estimated: bool = False

    @property
    def label(self) -> str:
        noun = "lead" if self.value == 1 else "leads"
        return f"about {self.value:,} {noun}" if self.estimated else f"{self.value:,} {noun}"


def queue_count_for(user: User, filters: QueueFilters, *, exact_up_to: int, now: datetime | None = None) -> QueueCount:
    """How many leads match `filters`: exact up to `exact_up_to`, above it an estimate.

    The exact count reads at most `exact_up_to` + 1 rows (a COUNT over a LIMITed subquery), so a
    request never counts a million rows. Above it, PostgreSQL's planner estimate (EXPLAIN, no
    rows read) is shown as "about N". A queue over every owner or the pool can hold a million
    leads, and reading 10,000 rows of one source costs ~130 ms there where the estimate costs
    ~1 ms (bench/queue_count_bench.py): for those the estimate comes first, and only a figure
    below twice the limit is counted. A rep's own queue is bounded by what they own: counted
    first, one query. SQLite has no estimate: it counts."""
    matching = queue_leads_matching(user, filters, now=now)
    estimate = None
    if user.is_manager or filters.owner == "pool":
        estimate = _planner_row_estimate(matching)
        if estimate is not None and estimate > 2 * exact_up_to:
            return QueueCount(estimate, estimated=True)
    bounded = matching.values("pk")[: exact_up_to + 1].count()
    if bounded <= exact_up_to:
        return QueueCount(bounded)
    estimate = estimate if estimate is not None else _planner_row_estimate(matching)
    if estimate is None:
        return QueueCount(matching.count())
    return QueueCount(max(estimate, exact_up_to + 1), estimated=True)


def _planner_row_estimate(queryset: QuerySet) -> int | None:
    """PostgreSQL's estimate of how many rows `queryset` returns (EXPLAIN, nothing executed)."""
    if connection.vendor != "postgresql":
        return None
    try:
        plan = json.loads(queryset.values("pk").explain(format="json"))
        return int(plan[0]["Plan"]["Plan Rows"])
    except (ValueError, KeyError, IndexError, TypeError):
        return None


def sources_list() -> list[str]:
    """Distinct lead sources for filter menus, cached: at a million leads DISTINCT is not free."""
    sources = cache.get(SOURCES_CACHE_KEY)
    if sources is None:
        sources = sorted(s for s in Lead.objects.order_by().values_list("source", flat=True).distinct() if s)
        cache.set(SOURCES_CACHE_KEY, sources, SOURCES_CACHE_SECONDS)
    return sources


def reps_list() -> list[User]:
    return list(User.objects.filter(is_active=True).order_by("username"))


def lead_timeline(lead: Lead, *, limit: int = 200) -> list[Activity]:
    return list(lead.activities.select_related("user").order_by("-occurred_at", "-id")[:limit])


def lead_follow_ups(lead: Lead) -> list[FollowUp]:
    return list(lead.follow_ups.select_related("assigned_to").order_by("done_at", "due_at", "id")[:100])


def due_today_cutoff(now: datetime | None = None) -> datetime:
    """The end of today in the site's time zone: a follow-up due before it is due today."""
    local_now = timezone.localtime(now or timezone.now())
    return local_now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)


def open_leads_by_owner(user_ids: list[int] | None = None) -> dict[int, int]:
    """Open leads per owner (all owners, or those given): one GROUP BY."""
    queryset = Lead.objects.filter(owner__isnull=False, status__in=Lead.OPEN_STATUSES)
    if user_ids is not None:
        queryset = queryset.filter(owner__in=user_ids)
    return dict(queryset.values("owner").annotate(n=Count("id")).values_list("owner", "n"))
