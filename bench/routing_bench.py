"""Routing benchmark (PostgreSQL): 10,000 new leads routed across 20 reps by one rule, through
leads.routing.leads_route() — the service the debounced task and the beat call.

    .venv/bin/python bench/routing_bench.py [--leads 10000] [--reps 20] [--database-url URL]

Uses its own database (leadcrm_bench_routing on 127.0.0.1 unless --database-url /
BENCH_DATABASE_URL say otherwise; created and migrated when missing) and empties its leads,
users and rules first. Two rounds:
- room for all: every lead routed, shares level (max - min <= 1 per rep);
- room short: reps' capacity covers 80% of the leads; hot leads are the ones routed and no rep
  ends above capacity.
Prints the machine, each figure, and exits non-zero when a round misses the 5 s target or a
rep ends over capacity.
"""

import argparse
import os
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import common  # noqa: E402

TARGET_S = 5.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=10_000)
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    url = common.database_url(args.database_url or "postgres://postgres@127.0.0.1:5432/leadcrm_bench_routing")
    if "bench" not in common.database_name(url):
        sys.exit(f"refusing to empty {common.database_name(url)}: its name must contain 'bench'")
    common.database_ensure(url)
    # As in production: tasks (the assignment emails) go to a broker for the worker, not run here.
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "false"
    common.django_setup(url)
    from django.core.management import call_command

    call_command("migrate", "--noinput", verbosity=0)
    common.machine_print(url)

    from django.db import connection

    from leads.models import Activity, Lead, Notification, RoutingRule, SlaEvent, User
    from leads.routing import leads_route

    def reset(capacity: int) -> list[User]:
        with connection.cursor() as cursor:
            for model in (Notification, SlaEvent, Activity, Lead):
                cursor.execute(f"TRUNCATE {model._meta.db_table} CASCADE")
        RoutingRule.objects.all().delete()
        User.objects.filter(username__startswith="route_rep").delete()
        reps = User.objects.bulk_create(
            [User(username=f"route_rep{i:02d}", email=f"r{i}@bench", capacity=capacity) for i in range(args.reps)]
        )
        rule = RoutingRule.objects.create(name="Everything")
        rule.reps.set(reps)
        rng = random.Random(7)
        tiers = [("hot", 80), ("warm", 50), ("cold", 20)]
        Lead.objects.bulk_create(
            [
                Lead(
                    name=f"Lead {i}",
                    email=f"l{i}@bench",
                    source="Google",
                    tier=tier,
                    priority=base + rng.randint(0, 19),
                )
                for i in range(args.leads)
                for tier, base in [rng.choice(tiers)]
            ],
            batch_size=5000,
        )
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE leads_lead")
        return reps

    failed = False
    rounds = [
        ("room for all", -(-args.leads // args.reps)),
        ("room short (80%)", int(args.leads * 0.8) // args.reps),
    ]
    for name, capacity in rounds:
        reps = reset(capacity)
        load = os.getloadavg()[0]
        started, cpu_started = time.perf_counter(), time.process_time()
        routed = leads_route()
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        owned = [Lead.objects.filter(owner=rep).count() for rep in reps]
        over = sum(1 for n in owned if n > capacity)
        unrouted_hot_below = (
            Lead.objects.filter(owner__isnull=True)
            .order_by("-rank__priority")
            .values_list("rank__priority", flat=True)[:1]
        )
        lowest_routed = (
            Lead.objects.filter(owner__isnull=False)
            .order_by("rank__priority")
            .values_list("rank__priority", flat=True)[:1]
        )
        best_left = unrouted_hot_below[0] if unrouted_hot_below else None
        print(
            f"{name:<18} {args.leads:,} leads, {args.reps} reps x capacity {capacity}: routed {routed:,} in "
            f"{elapsed:.2f} s ({common.verdict(elapsed, TARGET_S)}; this process's CPU {cpu:.2f} s; "
            f"load average {load:.1f} on {os.cpu_count()} cores); per rep min {min(owned)} max {max(owned)}; "
            f"reps over capacity: {over}; best lead left in pool: {best_left}, lowest routed: "
            f"{lowest_routed[0] if lowest_routed else None}; timeline rows {Activity.objects.count():,}; "
            f"notifications {Notification.objects.count():,}",
            flush=True,
        )
        failed |= elapsed > TARGET_S or over > 0
        if best_left is not None and lowest_routed and best_left > lowest_routed[0]:
            print("  a better lead was left in the pool than one routed", flush=True)
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
