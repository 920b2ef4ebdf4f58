"""Where a queue request's time goes: the request mix of queue_bench.py, broken down per request.

    .venv/bin/python bench/queue_profile.py [--requests 200] [--profile 40]

CPU time does not depend much on how busy the machine is, so this answers on a shared box where
queue_bench.py's p95 cannot: per request the wall time, the Python CPU time, the SQL wall time and
statements (which ones), the time spent in the garbage collector, and for the view's parts (the
selector, the row values, the template) their CPU time; then cProfile of the slowest kinds of
request. Reads the bench database, writes nothing. Exits 0.
"""

import argparse
import cProfile
import gc
import io
import pstats
import random
import sys
import time
from collections import Counter
from contextlib import contextmanager

from common import (
    database_url,
    django_setup,
    format_summary,
    machine_print,
    static_collect,
)
from queue_bench import bench_visitors, clients_warm, queue_walks

# CPU time (ms) of the named parts of the request being served, filled by the wrappers below.
PARTS: Counter = Counter()


@contextmanager
def _cpu_part(name: str):
    start = time.process_time()
    try:
        yield
    finally:
        PARTS[name] += (time.process_time() - start) * 1000


def _wrap(module, name: str, label: str) -> None:
    original = getattr(module, name)

    def timed(*args, **kwargs):
        with _cpu_part(label):
            return original(*args, **kwargs)

    setattr(module, name, timed)


def _instrument() -> None:
    """Time the queue view's parts: the selector, the row values, the filter form and the render."""
    from leads import selectors, views

    _wrap(selectors, "queue_for", "selector queue_for (SQL included)")
    _wrap(views, "queue_rows", "row values (queue_rows)")
    _wrap(views, "_queue_filter_form", "filter form built")
    _wrap(views, "render", "render (template + context processors)")


def _statement_kind(sql: str) -> str:
    head = sql.lstrip()[:60].upper()
    for kind, marker in (
        ("session", 'FROM "DJANGO_SESSION"'),
        ("user", 'FROM "LEADS_USER"'),
        ("saved views", 'FROM "LEADS_SAVEDVIEW"'),
        ("transaction", "BEGIN"),
        ("transaction", "COMMIT"),
        ("transaction", "SAVEPOINT"),
        ("transaction", "RELEASE"),
        ("set/reset", "SET "),
        ("set/reset", "RESET "),
    ):
        if marker in head or marker in sql[:400].upper():
            return kind
    if 'FROM "LEADS_LEAD"' in sql.upper():
        return "queue rows" if "STRPOS" not in sql.upper() else "search probe"
    return sql[:60]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database-url")
    parser.add_argument("--default-gc", action="store_true", help="Python's GC thresholds, not a web worker's")
    parser.add_argument("--cprofile", action="store_true", help="also profile the measured requests (slows them)")
    parser.add_argument("--top", type=int, default=25, help="cProfile lines to print")
    args = parser.parse_args()
    url = database_url(args.database_url)
    django_setup(url)
    static_collect(url)
    machine_print(url)

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from leadcrm.gc_tuning import long_lived_freeze, worker_thresholds_set

    _instrument()
    rng = random.Random(args.seed)
    visitors = bench_visitors(rng)
    if visitors is None:
        print("No bench reps: run bench/make_data.py first.", file=sys.stderr)
        return 2
    clients = visitors[-1]  # the logged-in test clients, by user id

    gc_ms = [0.0]
    gc_started = [0.0]
    gc_full = [0]  # full (generation 2) collections during the request

    def gc_callback(phase, info):
        if phase == "start":
            gc_started[0] = time.perf_counter()
        else:
            gc_ms[0] += (time.perf_counter() - gc_started[0]) * 1000
            gc_full[0] += info["generation"] == 2

    gc.callbacks.append(gc_callback)
    clients_warm(clients.values())
    # As queue_bench.py does (a gunicorn worker's collector), unless told to keep Python's defaults.
    if not args.default_gc:
        long_lived_freeze()
        worker_thresholds_set()
    else:
        gc.collect()
        gc.freeze()
    profiler = cProfile.Profile()
    samples: list[dict] = []

    def visit(user, page_number, params, query, headers):
        PARTS.clear()
        gc_ms[0] = 0.0
        gc_full[0] = 0
        measured = args.cprofile and len(samples) >= args.warmup
        with CaptureQueriesContext(connection) as ctx:
            cpu = time.process_time()
            start = time.perf_counter()
            if measured:
                profiler.enable()
            response = clients[user.pk].get("/", query, headers=headers)
            if measured:
                profiler.disable()
            elapsed = (time.perf_counter() - start) * 1000
            cpu = (time.process_time() - cpu) * 1000
        samples.append(
            {
                "ms": elapsed,
                "cpu_ms": cpu,
                "gc_ms": gc_ms[0],
                "gc_full": gc_full[0],
                "sql_ms": sum(float(q["time"]) for q in ctx.captured_queries) * 1000,
                "kinds": Counter(_statement_kind(q["sql"]) for q in ctx.captured_queries),
                "parts": dict(PARTS),
                "page": page_number,
                "search": "q" in params,
                "user": "manager" if user.is_manager else "rep",
                "params": query,
            }
        )
        return response

    queue_walks(rng, visitors, args.warmup + args.requests, visit)
    measured = samples[args.warmup :]
    print(f"objects the collector tracks after the run: {len(gc.get_objects())} (frozen: {gc.get_freeze_count()})")
    if args.cprofile:
        print("(cProfile was on: wall and CPU figures are inflated by it, compare them with each other)")
    for label, chosen in (
        ("all requests", measured),
        ("first pages (full page)", [s for s in measured if s["page"] == 1]),
        ("htmx 'more' pages", [s for s in measured if s["page"] > 1]),
        ("with a search", [s for s in measured if s["search"]]),
        ("without a search", [s for s in measured if not s["search"]]),
    ):
        if not chosen:
            continue
        print(f"\n== {label} ({len(chosen)})")
        print(format_summary("  wall", [s["ms"] for s in chosen]))
        print(format_summary("  Python CPU", [s["cpu_ms"] for s in chosen]))
        print(format_summary("  SQL wall", [s["sql_ms"] for s in chosen]))
        print(format_summary("  GC", [s["gc_ms"] for s in chosen]))
        print(f"  full GC collections: {sum(s['gc_full'] for s in chosen)}")
        for part in sorted({p for s in chosen for p in s["parts"]}):
            print(format_summary(f"  {part}", [s["parts"].get(part, 0.0) for s in chosen]))
        kinds = Counter()
        for s in chosen:
            kinds.update(s["kinds"])
        print("  statements per request (mean): " + ", ".join(f"{k} {v / len(chosen):.2f}" for k, v in kinds.items()))
        print(f"  statements per request: max {max(sum(s['kinds'].values()) for s in chosen)}")
    print("\nslowest 8 by CPU:")
    for s in sorted(measured, key=lambda s: -s["cpu_ms"])[:8]:
        print(
            f"  cpu {s['cpu_ms']:.1f} ms, wall {s['ms']:.1f}, SQL {s['sql_ms']:.1f}, GC {s['gc_ms']:.1f}"
            f" ({s['gc_full']} full):"
            f" {s['user']} page {s['page']} {s['params']}"
        )
    if args.cprofile:
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("cumulative").print_stats(args.top)
        stats.sort_stats("tottime").print_stats(args.top)
        print(out.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
