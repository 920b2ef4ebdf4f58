"""Fill the benchmark database with a realistic synthetic CRM, fast (COPY, not the ORM).

    .venv/bin/python bench/make_data.py --leads 1000000 --activities 5000000

20 reps and a manager; leads with a source/origin/status mix, X Education-style attributes,
scores, tiers and reasons as if scored, next follow-ups (some overdue) with their follow-up
rows, activities interleaved in time order across all leads, and marketing channels: each lead a
campaign of its source, most converted leads a value, a month's spend per channel and a default
value per source (for the channels report in bench/reports_bench.py). A few "heavy" leads
(external_id HEAVY-...) get exactly --heavy-activities activities each, for bench/detail_bench.py.

The database (leadcrm_bench unless --database-url says otherwise) is created and migrated when
missing; its CRM tables are emptied first. Secondary indexes, unique and foreign-key constraints
of the loaded tables are dropped around the load and rebuilt after it, then everything is ANALYZEd.
"""

import argparse
import json
import math
import random
import sys
import time
from array import array
from datetime import UTC, datetime, timedelta

from common import (
    BENCH_PASSWORD,
    MANAGER_USERNAME,
    PROPOSED_INDEXES,
    database_ensure,
    database_name,
    database_url,
    django_setup,
    machine_print,
    manage,
    proposed_indexes_missing_from_models,
)

TABLES = ("leads_lead", "leads_leadrank", "leads_activity", "leads_followup")
# What the model says of each lead (LeadRank), COPYd beside the leads with the insert trigger off.
RANK_COLUMNS = (
    *("lead_id", "owner_id", "status", "score", "probability", "tier", "score_reasons", "scored_at"),
    *("model_version_id", "score_override", "score_override_reason", "score_override_by_id", "priority"),
)
FIRST = ("Priya", "Rahul", "Anita", "John", "Meera", "Arjun", "Sara", "Li", "Omar", "Elena", "Kofi", "Yuki")
LAST = ("Sharma", "Patel", "Smith", "Khan", "Iyer", "Garcia", "Chen", "Müller", "Okafor", "Rossi", "Tanaka", "Das")
COMPANIES = ("Acme Corp", "Globex", "Initech", "Umbrella", "Hooli", "Stark Ltd", "Wayne Ent.", "Soylent", "", "", "")
# (value, weight, effect on the log-odds of converting)
SOURCES = (
    ("Google", 0.30, 0.0),
    ("Direct Traffic", 0.26, -0.3),
    ("Olark Chat", 0.15, -0.9),
    ("Organic Search", 0.12, 0.1),
    ("Reference", 0.07, 1.6),
    ("Welingak Website", 0.04, 2.0),
    ("Referral Sites", 0.03, 0.2),
    ("Facebook", 0.02, -0.4),
    ("bing", 0.01, 0.0),
)
ORIGINS = (
    ("Landing Page Submission", 0.53, 0.0),
    ("API", 0.39, -0.4),
    ("Lead Add Form", 0.07, 1.8),
    ("Lead Import", 0.01, -1.2),
)
OCCUPATIONS = (
    ("Unemployed", 0.55, -0.2),
    ("Working Professional", 0.2, 1.6),
    ("Student", 0.15, -0.5),
    ("Businessman", 0.05, 0.8),
    (None, 0.05, 0.0),
)
LAST_ACTIVITIES = (
    ("Email Opened", 0.37, 0.5),
    ("SMS Sent", 0.30, 1.2),
    ("Olark Chat Conversation", 0.11, -0.8),
    ("Page Visited on Website", 0.07, -0.2),
    ("Converted to Lead", 0.05, -0.6),
    ("Email Bounced", 0.04, -1.5),
    ("Email Link Clicked", 0.06, 0.1),
)
COUNTRIES = ("India", "India", "India", "United States", "United Arab Emirates", "Singapore", None)
CITIES = ("Mumbai", "Thane & Outskirts", "Other Cities", "Other Cities of Maharashtra", None, None)
LOST_REASONS = ("No budget", "Went with a competitor", "Not interested", "Unreachable", "Timing")
ACTIVITY_KINDS = (
    ("web_visit", 0.30),
    ("email", 0.25),
    ("call", 0.20),
    ("note", 0.08),
    ("sms", 0.07),
    ("meeting", 0.04),
    ("form", 0.04),
    ("status_change", 0.02),
)
OUTCOMES = ("", "", "connected", "left voicemail", "replied", "no answer", "opened", "booked demo")
NOTES = ("", "", "", "", "Asked for pricing.", "Call back next week.", "Interested in the data science course.")
# Campaigns of every source ("" is the source without one) and the share of converted leads with a value.
CAMPAIGNS = ("", "brand", "spring-sale", "retargeting", "webinar")
VALUED_SHARE = 0.8
HOT, WARM = 0.6, 0.3


def _weights(options) -> tuple[list, list[float]]:
    return [o[0] for o in options], [o[1] for o in options]


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _reason(feature: str, value, impact: float) -> dict:
    return {"feature": feature, "text": f"{feature} = {value} ({impact:+.0f})", "impact": round(impact, 1)}


def _field_defaults(model, known: set[str]) -> dict[str, object]:
    """Column -> COPY value for fields this script does not fill (columns added later by others)."""
    from django.db import connection
    from django.db.models import JSONField

    defaults = {}
    for field in model._meta.concrete_fields:
        if field.column in known or field.primary_key:
            continue
        value = field.get_default() if field.has_default() else None
        if isinstance(field, JSONField):
            value = json.dumps(value if value is not None else ({} if not field.null else None))
        elif value is not None:
            value = field.get_db_prep_save(value, connection)
        if value is None and not field.null:
            value = "" if field.get_internal_type() in ("CharField", "TextField", "EmailField") else 0
        defaults[field.column] = value
    return defaults


def users_create() -> tuple[list[int], int]:
    from django.contrib.auth.hashers import make_password

    from leads.models import User

    password = make_password(BENCH_PASSWORD)  # one hash for every synthetic user: hashing is slow on purpose
    rep_ids = []
    for n in range(1, 21):
        user, _ = User.objects.update_or_create(
            username=f"rep{n:02d}",
            defaults={
                "first_name": FIRST[n % len(FIRST)],
                "last_name": f"Rep{n:02d}",
                "email": f"rep{n:02d}@bench.leadcrm",
                "role": User.Role.REP,
                "password": password,
                "is_active": True,
            },
        )
        rep_ids.append(user.pk)
    manager, _ = User.objects.update_or_create(
        username=MANAGER_USERNAME,
        defaults={"first_name": "Maya", "last_name": "Manager", "role": User.Role.MANAGER, "password": password},
    )
    return rep_ids, manager.pk


def model_version_create() -> int:
    from scoring.models import ModelVersion

    version, _ = ModelVersion.objects.get_or_create(
        algorithm="synthetic (bench/make_data.py)",
        defaults={"status": ModelVersion.Status.RETIRED, "notes": "Scores written by bench/make_data.py."},
    )
    return version.pk


def constraints_drop(cur) -> list[tuple[str, str]]:
    """Drop secondary indexes, unique and foreign-key constraints of TABLES; return how to rebuild them."""
    rebuild: list[tuple[str, str]] = []
    for table in TABLES:
        for name, definition in cur.execute(
            """SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint
               WHERE conrelid = %s::regclass AND contype IN ('f', 'u') ORDER BY contype DESC""",
            [table],
        ).fetchall():
            rebuild.append((f"constraint {name}", f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}'))
            cur.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        for name, definition in cur.execute(
            """SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
               WHERE i.indrelid = %s::regclass
                 AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)""",
            [table],
        ).fetchall():
            rebuild.append((f"index {name}", definition))
            cur.execute(f'DROP INDEX "{name}"')
    # Indexes first (unique constraints build their own), foreign keys last: they validate with a join.
    return sorted(rebuild, key=lambda r: ("FOREIGN KEY" in r[1], r[0]))


def leads_copy(cur, *, n: int, heavy: int, rep_ids: list[int], model_version_id: int, now: datetime, seed: int):
    """COPY n leads with ids 1..n; returns the owner of each lead (index = id, 0 = pool)."""
    from leads.models import Lead

    rng = random.Random(seed)
    columns = [
        "id",
        "external_id",
        "name",
        "email",
        "phone",
        "company",
        "source",
        "origin",
        "status",
        "converted_at",
        "lost_reason",
        "owner_id",
        "attributes",
        "created_at",
        "updated_at",
        "first_contacted_at",
        "last_activity_at",
        "next_follow_up_at",
        "campaign",
        "converted_value",
    ]
    extra = _field_defaults(Lead, set(columns))
    columns += list(extra)
    extra_values = tuple(extra.values())
    sources, source_w = _weights(SOURCES)
    source_eff = {s[0]: s[2] for s in SOURCES}
    origins, origin_w = _weights(ORIGINS)
    origin_eff = {o[0]: o[2] for o in ORIGINS}
    occupations, occupation_w = _weights(OCCUPATIONS)
    occupation_eff = {o[0]: o[2] for o in OCCUPATIONS}
    last_acts, last_act_w = _weights(LAST_ACTIVITIES)
    last_act_eff = {a[0]: a[2] for a in LAST_ACTIVITIES}
    rep_weights = [1 + (i % 5) * 0.25 for i in range(len(rep_ids))]  # some reps carry more leads
    heavy_every = max(1, n // heavy) if heavy else 0
    owners = array("i", [0]) * (n + 1)
    three_years = 3 * 365 * 86400
    now_ts = now.timestamp()
    channel_rng = random.Random(seed + 21)  # its own stream: the other columns stay as they were
    ranks = []

    with cur.copy(f"COPY leads_lead ({', '.join(columns)}) FROM STDIN") as copy:
        for i in range(1, n + 1):
            is_heavy = heavy_every and (i - 1) % heavy_every == 0 and (i - 1) // heavy_every < heavy
            source = rng.choices(sources, source_w)[0]
            origin = rng.choices(origins, origin_w)[0]
            occupation = rng.choices(occupations, occupation_w)[0]
            last_act = rng.choices(last_acts, last_act_w)[0]
            visits = int(rng.expovariate(1 / 3.5))
            seconds = int(rng.expovariate(1 / 500)) if visits else 0
            pages = round(rng.uniform(1, 5), 2) if visits else 0.0
            do_not_email = rng.random() < 0.08
            # Leads arrive faster over time: more recent leads than old ones.
            created_ts = now_ts - three_years * (rng.random() ** 1.6)
            created = datetime.fromtimestamp(created_ts, UTC)
            contributions = [
                ("Lead Source", source, source_eff[source]),
                ("Lead Origin", origin, origin_eff[origin]),
                ("What is your current occupation", occupation, occupation_eff[occupation]),
                ("Last Activity", last_act, last_act_eff[last_act]),
                ("Total Time Spent on Website", seconds, 1.4 * math.tanh(seconds / 900) - 0.5),
                ("Do Not Email", do_not_email, -1.0 if do_not_email else 0.1),
            ]
            p = _sigmoid(-1.2 + sum(c[2] for c in contributions) + rng.gauss(0, 0.5))

            u = rng.random()
            age_days = (now_ts - created_ts) / 86400
            if is_heavy:
                status = "contacted"
            elif age_days > 30 and u < 0.45:
                status = "converted" if rng.random() < 0.15 + 0.5 * p else "lost"
            else:
                status = rng.choices(("new", "contacted", "qualified"), (50, 35, 15))[0]
            is_open = status in ("new", "contacted", "qualified")
            owner = rng.choices(rep_ids, rep_weights)[0] if is_heavy or not is_open or rng.random() < 0.85 else None
            owners[i] = owner or 0

            scored = rng.random() < 0.92 or is_heavy
            if scored:
                score = round(p * 100)
                tier = "hot" if p >= HOT else "warm" if p >= WARM else "cold"
                reasons = sorted(
                    (_reason(f, v, e * 12) for f, v, e in contributions if abs(e) > 0.05),
                    key=lambda r: -abs(r["impact"]),
                )[:5]
                override = rng.randint(60, 100) if rng.random() < 0.005 else None
                priority = override if override is not None else score
                scored_at = now - timedelta(hours=rng.uniform(1, 72))
            else:
                score = p = override = scored_at = None
                tier, reasons, priority = "unscored", [], -1

            contacted = status != "new" and (is_heavy or rng.random() < 0.95)
            first_contact = created + timedelta(hours=rng.uniform(1, 96)) if contacted else None
            last_activity = (
                datetime.fromtimestamp(created_ts + (now_ts - created_ts) * rng.random(), UTC)
                if contacted or visits
                else None
            )
            follow_up = None
            if is_open and owner and (is_heavy or rng.random() < 0.4):
                r = rng.random()
                if r < 0.3:  # overdue, by up to a month
                    follow_up = now - timedelta(hours=rng.uniform(0.1, 720))
                elif r < 0.4:  # later today
                    follow_up = now + timedelta(minutes=rng.uniform(1, 600))
                else:
                    follow_up = now + timedelta(hours=rng.uniform(12, 720))
            converted_at = created + timedelta(days=rng.uniform(3, 30)) if status == "converted" else None
            first, last = rng.choice(FIRST), rng.choice(LAST)
            campaign = channel_rng.choice(CAMPAIGNS)
            value = (
                round(channel_rng.lognormvariate(7, 0.8), 2)
                if status == "converted" and channel_rng.random() < VALUED_SHARE
                else None
            )
            attributes = {
                "Lead Origin": origin,
                "Lead Source": source,
                "Do Not Email": do_not_email,
                "Do Not Call": rng.random() < 0.01,
                "TotalVisits": visits,
                "Total Time Spent on Website": seconds,
                "Page Views Per Visit": pages,
                "Last Activity": last_act,
                "Country": rng.choice(COUNTRIES),
                "Specialization": rng.choice(("Finance Management", "Marketing Management", "HR", None)),
                "What is your current occupation": occupation,
                "City": rng.choice(CITIES),
                "A free copy of Mastering The Interview": rng.random() < 0.3,
            }
            copy.write_row(
                (
                    i,
                    f"HEAVY-{i:08d}" if is_heavy else f"BENCH-{i:08d}",
                    f"{first} {last}",
                    f"{first}.{last}.{i}@example.com".lower(),
                    f"+91-9{rng.randint(100000000, 999999999)}",
                    rng.choice(COMPANIES),
                    source,
                    origin,
                    status,
                    converted_at,
                    rng.choice(LOST_REASONS) if status == "lost" else "",
                    owner,
                    json.dumps(attributes, ensure_ascii=False),
                    created,
                    now,
                    first_contact,
                    last_activity,
                    follow_up,
                    campaign,
                    value,
                    *extra_values,
                )
            )
            ranks.append(
                (
                    *(i, owner, status, score, p, tier, json.dumps(reasons, ensure_ascii=False), scored_at),
                    model_version_id if scored else None,
                    *(override, "Known account" if override is not None else "", None, priority),
                )
            )
            if i % 100_000 == 0:
                print(f"  leads: {i:,}", flush=True)
    with cur.copy(f"COPY leads_leadrank ({', '.join(RANK_COLUMNS)}) FROM STDIN") as copy:
        for row in ranks:
            copy.write_row(row)
    return owners


def activities_copy(cur, *, n: int, leads: int, heavy: int, heavy_each: int, owners, now: datetime, seed: int):
    """COPY n activities in time order, interleaved across leads; each heavy lead gets heavy_each."""
    import numpy as np

    from leads.models import Activity

    columns = ["lead_id", "user_id", "kind", "outcome", "occurred_at", "notes", "data"]
    extra = _field_defaults(Activity, set(columns))
    columns += list(extra)
    extra_values = tuple(extra.values())
    rng = np.random.default_rng(seed)
    kinds, kind_w = _weights(ACTIVITY_KINDS)
    kind_p = np.array(kind_w) / sum(kind_w)
    heavy_every = max(1, leads // heavy) if heavy else 0
    heavy_ids = [1 + k * heavy_every for k in range(heavy)]
    heavy_total = heavy * heavy_each
    heavy_stride = max(1, n // heavy_total) if heavy_total else 0
    start_ts = now.timestamp() - 3 * 365 * 86400
    span = now.timestamp() - 60 - start_ts
    heavy_done = 0
    chunk = 200_000
    with cur.copy(f"COPY leads_activity ({', '.join(columns)}) FROM STDIN") as copy:
        for lo in range(0, n, chunk):
            size = min(chunk, n - lo)
            lead_ids = rng.integers(1, leads + 1, size).tolist()
            kind_idx = rng.choice(len(kinds), size, p=kind_p).tolist()
            outcome_idx = rng.integers(0, len(OUTCOMES), size).tolist()
            note_idx = rng.integers(0, len(NOTES), size).tolist()
            when = (start_ts + span * (lo + np.arange(size) + rng.random(size)) / n).tolist()
            for j in range(size):
                pos = lo + j
                lead_id = lead_ids[j]
                if heavy_stride and pos % heavy_stride == 0 and heavy_done < heavy_total:
                    lead_id = heavy_ids[heavy_done % heavy]
                    heavy_done += 1
                kind = kinds[kind_idx[j]]
                copy.write_row(
                    (
                        lead_id,
                        (owners[lead_id] or None) if kind != "web_visit" else None,
                        kind,
                        OUTCOMES[outcome_idx[j]] if kind != "web_visit" else "",
                        datetime.fromtimestamp(when[j], UTC),
                        NOTES[note_idx[j]],
                        "{}",
                        *extra_values,
                    )
                )
            print(f"  activities: {lo + size:,}", flush=True)
    return heavy_done


def channels_insert(cur, *, now: datetime, seed: int) -> int:
    """A month's spend on every source and campaign for the last three years, and a default value
    per source (for converted leads without one). Returns the spend rows."""
    rng = random.Random(seed + 22)
    cur.execute("DELETE FROM leads_spend")
    cur.execute("DELETE FROM leads_channelvalue")
    month = datetime(now.year, now.month, 1)
    months = []
    for _ in range(37):
        months.append(month.date())
        month = (month - timedelta(days=1)).replace(day=1)
    sources = [s[0] for s in SOURCES]
    rows = [(m, s, c, round(rng.uniform(200, 20_000), 2), now) for m in months for s in sources for c in CAMPAIGNS]
    with cur.copy("COPY leads_spend (month, source, campaign, amount, updated_at) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
    cur.executemany(
        "INSERT INTO leads_channelvalue (source, campaign, value) VALUES (%s, '', %s)",
        [(s, round(rng.uniform(300, 3000), 2)) for s in sources],
    )
    return len(rows)


def follow_ups_insert(cur, *, now: datetime) -> int:
    """One open follow-up per lead with next_follow_up_at (the column is its minimum), plus done ones."""
    from leads.models import FollowUp

    extra = _field_defaults(FollowUp, {"lead_id", "assigned_to_id", "due_at", "done_at", "note", "created_at"})
    extra_cols = "".join(f", {c}" for c in extra)
    extra_vals = "".join(", %s" for _ in extra)
    cur.execute(
        f"""INSERT INTO leads_followup (lead_id, assigned_to_id, due_at, done_at, note, created_at{extra_cols})
            SELECT id, owner_id, next_follow_up_at, NULL, 'Call back', next_follow_up_at - interval '3 days'{extra_vals}
            FROM leads_lead WHERE next_follow_up_at IS NOT NULL""",
        list(extra.values()),
    )
    open_count = cur.rowcount
    cur.execute(
        f"""INSERT INTO leads_followup (lead_id, assigned_to_id, due_at, done_at, note, created_at{extra_cols})
            SELECT id, owner_id, d, d + interval '2 hours', 'Follow up', d - interval '2 days'{extra_vals}
            FROM (SELECT id, owner_id, created_at + (%s::timestamptz - created_at) * random() AS d
                  FROM leads_lead WHERE owner_id IS NOT NULL AND id %% 4 = 0) s""",
        [*list(extra.values()), now],
    )
    return open_count + cur.rowcount


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--activities", type=int, default=5_000_000)
    parser.add_argument("--heavy-leads", type=int, default=50, help="leads that get --heavy-activities each")
    parser.add_argument("--heavy-activities", type=int, default=500)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--database-url", help="default: BENCH_DATABASE_URL or leadcrm_bench on 127.0.0.1")
    parser.add_argument("--force", action="store_true", help="allow a database whose name lacks 'bench'")
    parser.add_argument(
        "--no-proposed-indexes", action="store_true", help="do not create bench/common.py's PROPOSED_INDEXES"
    )
    parser.add_argument("--keep-jit", action="store_true", help="leave the database's jit setting alone")
    args = parser.parse_args()
    url = database_url(args.database_url)
    if "bench" not in database_name(url) and not args.force:
        print(f"Refusing to empty {database_name(url)!r}: its name lacks 'bench' (use --force).", file=sys.stderr)
        return 2
    if args.heavy_leads * args.heavy_activities > args.activities:
        parser.error("--heavy-leads x --heavy-activities exceeds --activities")

    if database_ensure(url):
        print(f"created database {database_name(url)}")
    started = time.perf_counter()
    django_setup(url)
    import psycopg

    # Hand-made proposed indexes would collide with a migration that adds them: drop them first.
    proposed = proposed_indexes_missing_from_models()
    with psycopg.connect(url, autocommit=True) as conn:
        for name in proposed:
            conn.execute(f'DROP INDEX IF EXISTS "{name}"')
    manage(url, "migrate", "--noinput")
    print(f"migrate: {time.perf_counter() - started:.1f} s")
    machine_print(url)

    rep_ids, manager_id = users_create()
    model_version_id = model_version_create()
    now = datetime.now(UTC)
    totals: dict[str, tuple[int, float]] = {}
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        cur.execute("SET synchronous_commit = off")
        cur.execute("SET maintenance_work_mem = '512MB'")
        cur.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")
        # The reports' rollups describe the leads just removed, and a COPY marks no day: empty them,
        # so the first reports_bench.py run rebuilds them from the new leads (it times that apart).
        cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename LIKE 'leads_rollup%'")
        rollups = [row[0] for row in cur.fetchall()]
        if rollups:
            cur.execute(f"TRUNCATE {', '.join(rollups)}")
        rebuild = constraints_drop(cur)
        conn.commit()
        print(f"dropped {len(rebuild)} indexes/constraints for the load")

        t = time.perf_counter()
        # The leads' LeadRank rows are COPYd with their scores: the trigger that adds them is off.
        cur.execute("ALTER TABLE leads_lead DISABLE TRIGGER leads_rank_insert")
        owners = leads_copy(
            cur, n=args.leads, heavy=args.heavy_leads, rep_ids=rep_ids, model_version_id=model_version_id,
            now=now, seed=args.seed,
        )  # fmt: skip
        cur.execute("ALTER TABLE leads_lead ENABLE TRIGGER leads_rank_insert")
        conn.commit()
        totals["leads"] = (args.leads, time.perf_counter() - t)
        print(
            f"leads: {args.leads:,} rows in {totals['leads'][1]:.1f} s = {args.leads / totals['leads'][1]:,.0f} rows/s"
        )

        t = time.perf_counter()
        heavy_done = activities_copy(
            cur, n=args.activities, leads=args.leads, heavy=args.heavy_leads, heavy_each=args.heavy_activities,
            owners=owners, now=now, seed=args.seed,
        )  # fmt: skip
        conn.commit()
        del owners
        totals["activities"] = (args.activities, time.perf_counter() - t)
        print(
            f"activities: {args.activities:,} rows ({heavy_done:,} on heavy leads) in {totals['activities'][1]:.1f} s"
            f" = {args.activities / totals['activities'][1]:,.0f} rows/s"
        )

        spend_rows = channels_insert(cur, now=now, seed=args.seed)
        conn.commit()
        print(f"channels: {spend_rows:,} spend rows and {len(SOURCES)} default values")

        t = time.perf_counter()
        follow_ups = follow_ups_insert(cur, now=now)
        conn.commit()
        totals["follow-ups"] = (follow_ups, time.perf_counter() - t)
        print(f"follow-ups: {follow_ups:,} rows in {totals['follow-ups'][1]:.1f} s")

        t = time.perf_counter()
        for what, statement in rebuild:
            s = time.perf_counter()
            cur.execute(statement)
            conn.commit()
            print(f"  rebuilt {what}: {time.perf_counter() - s:.1f} s", flush=True)
        totals["indexes"] = (len(rebuild), time.perf_counter() - t)
        print(f"indexes and constraints rebuilt in {totals['indexes'][1]:.1f} s")

        if proposed and not args.no_proposed_indexes:
            t = time.perf_counter()
            cur.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
            for name in proposed:
                cur.execute(PROPOSED_INDEXES[name][0])
                conn.commit()
            print(
                f"proposed indexes not in a migration yet, created by hand: {', '.join(proposed)}"
                f" ({time.perf_counter() - t:.1f} s)"
            )
        if not args.keep_jit:
            # JIT compiles plans whose estimated cost is high, which costs 10-30 ms per query here:
            # the wrong trade for short OLTP queries (see BENCHMARKS.md). Recommended in production too.
            cur.execute(f'ALTER DATABASE "{database_name(url)}" SET jit = off')
            conn.commit()

        for table in (t for t in TABLES if t != "leads_leadrank"):
            cur.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE((SELECT max(id) FROM {table}), 1))"
            )
        conn.commit()
        t = time.perf_counter()
        conn.autocommit = True
        cur.execute(f"VACUUM (ANALYZE) {', '.join(TABLES)}")
        cur.execute("ANALYZE leads_user")
        print(f"vacuum analyze: {time.perf_counter() - t:.1f} s")
        size = cur.execute("SELECT pg_size_pretty(pg_database_size(current_database()))").fetchone()[0]

    elapsed = time.perf_counter() - started
    rows = args.leads + args.activities + follow_ups
    print(f"total: {rows:,} rows in {elapsed:.1f} s = {rows / elapsed:,.0f} rows/s overall; database size {size}")
    print(f"users: rep01..rep20 and {MANAGER_USERNAME} (manager id {manager_id}), password {BENCH_PASSWORD!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
