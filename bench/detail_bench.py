"""The lead page for leads with 500 activities each, through Django's test client.

    .venv/bin/python bench/detail_bench.py [--requests 200] [--database-url ...]

Needs the data from bench/make_data.py (its HEAVY-... leads carry --heavy-activities
activities each, interleaved in time with the other 5M). Opens them as their owning rep and
as the manager, prints p50/p95 (target p95 <= 50 ms), queries per request and EXPLAIN of the
timeline query.
"""

import argparse
import json
import random
import sys
import time

from common import (
    MANAGER_USERNAME,
    OUT_DIR,
    database_url,
    django_setup,
    format_summary,
    machine_print,
    manage,
    static_collect,
    summary,
    verdict,
    wait_for_quiet,
)

TARGET_P95_MS = 50.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--seed", type=int, default=2)
    parser.add_argument("--database-url")
    parser.add_argument("--quiet-load", type=float, default=0, help="wait until the load average is below this")
    args = parser.parse_args()
    url = database_url(args.database_url)
    manage(url, "migrate", "--noinput")  # other features may have added migrations since make_data.py ran
    django_setup(url)
    static_collect(url)
    if args.quiet_load:
        wait_for_quiet(args.quiet_load, 600)
    machine = machine_print(url)

    from django.db import connection
    from django.db.models import Count
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from leads.models import Lead, User

    heavy = list(
        Lead.objects.filter(external_id__startswith="HEAVY-")
        .annotate(n=Count("activities"))
        .values_list("pk", "owner_id", "n")
    )
    if not heavy:
        print("No HEAVY-... leads: run bench/make_data.py first.", file=sys.stderr)
        return 2
    counts = sorted(n for _, _, n in heavy)
    print(f"{len(heavy)} heavy leads, activities each: min {counts[0]}, max {counts[-1]}")
    manager = User.objects.get(username=MANAGER_USERNAME)
    clients: dict[int, Client] = {}
    for user in User.objects.filter(pk__in={o for _, o, _ in heavy if o} | {manager.pk}):
        client = Client()
        client.force_login(user)
        clients[user.pk] = client

    rng = random.Random(args.seed)
    samples = []
    for _ in range(args.warmup + args.requests):
        pk, owner_id, _n = rng.choice(heavy)
        as_manager = owner_id is None or rng.random() < 0.25
        client = clients[manager.pk if as_manager else owner_id]
        with CaptureQueriesContext(connection) as ctx:
            cpu = time.process_time()
            start = time.perf_counter()
            response = client.get(f"/leads/{pk}/")
            elapsed = (time.perf_counter() - start) * 1000
            cpu = (time.process_time() - cpu) * 1000
        if response.status_code != 200:
            print(f"HTTP {response.status_code} for lead {pk}", file=sys.stderr)
            return 1
        samples.append(
            {
                "ms": elapsed,
                "cpu_ms": cpu,
                "queries": len(ctx.captured_queries),
                "sql_ms": sum(float(q["time"]) * 1000 for q in ctx.captured_queries),
                "manager": as_manager,
                "bytes": len(response.content),
                "sql": [q["sql"] for q in ctx.captured_queries],
            }
        )
    measured = samples[args.warmup :]
    times = [s["ms"] for s in measured]
    print(format_summary("lead detail (500 activities)", times))
    print(format_summary("  as the owning rep", [s["ms"] for s in measured if not s["manager"]]))
    print(format_summary("  as the manager", [s["ms"] for s in measured if s["manager"]]))
    print(format_summary("  SQL time per request", [s["sql_ms"] for s in measured]))
    print(format_summary("  Python CPU time per request", [s["cpu_ms"] for s in measured]))
    print(f"queries per request: max {max(s['queries'] for s in measured)}; page size ~{measured[0]['bytes']:,} bytes")
    p95 = summary(times)["p95"]
    print(f"detail p95: {p95:.1f} ms, {verdict(p95, TARGET_P95_MS)}")

    print("\nSQL of one request:")
    for sql in measured[0]["sql"]:
        print(f"  {sql[:160]}")
    timeline = next((q for q in measured[0]["sql"] if 'FROM "leads_activity"' in q), None)
    if timeline:
        with connection.cursor() as cur:
            cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + timeline)
            print("\nEXPLAIN (ANALYZE, BUFFERS) of the timeline query:")
            print("\n".join(row[0] for row in cur.fetchall()))

    OUT_DIR.mkdir(parents=True, exist_ok=True)
    result = {
        "machine": machine,
        "summary": summary(times),
        "max_queries": max(s["queries"] for s in measured),
        "activities_per_lead": [counts[0], counts[-1]],
    }
    (OUT_DIR / "detail_bench.json").write_text(json.dumps(result, indent=2, default=str))
    return 0 if p95 <= TARGET_P95_MS else 1


if __name__ == "__main__":
    sys.exit(main())
