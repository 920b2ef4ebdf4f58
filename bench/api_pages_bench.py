"""The API's deep pages: GET /api/v1/leads/ at page 1 and at page 1,000 (keyset cursor).

    .venv/bin/python bench/api_pages_bench.py [--depth 1000] [--page-size 50] [--repeat 30] [--database-url ...]

Reads an existing bench database (bench/make_data.py; leadcrm_bench by default, never written).
For each ordering, the cursor of page --depth is the (key, id) of the last row of page depth-1
(found once with OFFSET, untimed), exactly the cursor a client holds after following `next`
depth-1 times. Then, through the real view (DRF test client, as the bench manager, production
settings): p50/p95 of page 1 and of page --depth, the SQL of the deep page with its
`EXPLAIN (ANALYZE, BUFFERS)`, and the same deep page written as the old
`key < k OR (key = k AND id < i)` filter, EXPLAIN ANALYZEd beside it for comparison.

Target (issue 19): page 1,000 within 2x page 1.
"""

import argparse
import json
import os
import sys
import time

from common import (
    MANAGER_USERNAME,
    OUT_DIR,
    database_url,
    django_setup,
    machine_print,
    percentile,
    wait_for_quiet,
)

LIST = "/api/v1/leads/"
ORDERINGS = {"-priority": "rank__priority", "created": "created_at", "-id": "id"}


def explain(sql: str, params=None) -> tuple[str, float]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    executed = next((line for line in plan.splitlines() if line.startswith("Execution Time")), "")
    return plan, float(executed.split(":")[1].split()[0]) if executed else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--depth", type=int, default=1000, help="the deep page's number")
    parser.add_argument("--page-size", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--database-url")
    parser.add_argument("--quiet-load", type=float, default=0, help="wait until the load average is below this")
    args = parser.parse_args()
    url = database_url(args.database_url)
    os.environ["API_THROTTLE_USER"] = "1000000/min"  # the bench is one user asking fast, on purpose
    django_setup(url)
    if args.quiet_load:
        wait_for_quiet(args.quiet_load, 600)
    machine = machine_print(url)

    from django.db import connection
    from django.db.models import Q
    from django.test.utils import CaptureQueriesContext
    from rest_framework.test import APIClient

    from leadcrm.api_pagination import KeysetCursorPagination
    from leads.models import Lead, User

    manager = User.objects.filter(username=MANAGER_USERNAME).first()
    if manager is None:
        print(f"No {MANAGER_USERNAME} user: run bench/make_data.py first.", file=sys.stderr)
        return 2
    n_leads = Lead.objects.count()
    offset = (args.depth - 1) * args.page_size
    if n_leads <= offset:
        print(f"{n_leads:,} leads: too few for page {args.depth:,} of {args.page_size}.", file=sys.stderr)
        return 2
    print(f"{n_leads:,} leads; page size {args.page_size}; deep page {args.depth:,} (rows {offset + 1:,}-)")
    client = APIClient()
    client.force_authenticate(manager)

    def timed_get(params: dict) -> tuple[float, dict]:
        start = time.perf_counter()
        response = client.get(LIST, params)
        elapsed = (time.perf_counter() - start) * 1000
        assert response.status_code == 200, response.content[:300]
        return elapsed, response.json()

    results: dict = {"machine": machine, "n_leads": n_leads, "depth": args.depth, "page_size": args.page_size}
    worst_ratio = 0.0
    for ordering, field in ORDERINGS.items():
        descending = ordering.startswith("-")
        sign = "-" if descending else ""
        order = [f"{sign}{field}", f"{sign}id"] if field != "id" else [f"{sign}id"]
        key, pk = Lead.objects.order_by(*order).values_list(field, "id")[offset - 1]
        cursor = KeysetCursorPagination._encode_cursor(ordering, key, pk)
        first = {"ordering": ordering, "page_size": args.page_size}
        deep = {**first, "cursor": cursor}
        samples: dict[str, list[float]] = {"page 1": [], f"page {args.depth}": []}
        for i in range(args.warmup + args.repeat):
            for name, params in (("page 1", first), (f"page {args.depth}", deep)):
                elapsed, body = timed_get(params)
                if i >= args.warmup:
                    samples[name].append(elapsed)
        expected = list(Lead.objects.order_by(*order).values_list("id", flat=True)[offset : offset + args.page_size])
        assert [row["id"] for row in body["results"]] == expected, "the deep page is not the rows after the cursor"
        with CaptureQueriesContext(connection) as captured:
            timed_get(deep)
        sql = next(q["sql"] for q in captured if 'FROM "leads_lead"' in q["sql"] and "ORDER BY" in q["sql"])
        plan, new_ms = explain(sql)
        row = {}
        for name, values in samples.items():
            row[name] = {"p50": percentile(values, 50), "p95": percentile(values, 95)}
        ratio = row[f"page {args.depth}"]["p50"] / row["page 1"]["p50"]
        worst_ratio = max(worst_ratio, ratio)
        print(f"\n== ordering={ordering}")
        for name, s in row.items():
            print(f"  {name:<10} p50 {s['p50']:7.1f} ms   p95 {s['p95']:7.1f} ms   (view, {args.repeat} requests)")
        print(f"  deep / first (p50): {ratio:.2f}x  (target <= 2x)")
        print(f"  deep page SQL, EXPLAIN ANALYZE: {new_ms:.2f} ms")
        print("    " + "\n    ".join(plan.splitlines()[:8]))
        old = {"ordering": ordering}
        if field != "id":
            lookup = "lt" if descending else "gt"
            old_qs = Lead.objects.filter(Q(**{f"{field}__{lookup}": key}) | Q(**{field: key, f"id__{lookup}": pk}))
            old_sql, old_params = old_qs.order_by(*order)[: args.page_size + 1].query.sql_with_params()
            old_plan, old_ms = explain(old_sql, old_params)
            print(f"  the same page as the old OR filter, EXPLAIN ANALYZE: {old_ms:.2f} ms")
            print("    " + "\n    ".join(old_plan.splitlines()[:8]))
            old = {"explain_ms": old_ms, "plan": old_plan}
        results[ordering] = {**row, "ratio": ratio, "explain_ms": new_ms, "plan": plan, "old_or_filter": old}
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    (OUT_DIR / "api_pages_bench.json").write_text(json.dumps(results, indent=2, default=str))
    verdict = "PASS" if worst_ratio <= 2 else "MISS"
    print(f"\npage {args.depth:,} vs page 1, worst ordering: {worst_ratio:.2f}x -> {verdict} (target <= 2x)")
    return 0 if worst_ratio <= 2 else 1


if __name__ == "__main__":
    sys.exit(main())
