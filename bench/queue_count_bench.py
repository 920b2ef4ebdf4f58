"""The queue's total count at a million leads (issue 16): what selectors.queue_count_for costs.

    .venv/bin/python bench/queue_count_bench.py [--repeats 30] [--database-url ...]

Needs the data from bench/make_data.py. For typical queue shapes (the manager's whole queue, a
rep's own, the pool, one tier, one source, overdue, a search) it times queue_count_for (exact up
to QUEUE_COUNT_EXACT_UP_TO rows, then PostgreSQL's EXPLAIN estimate) beside a plain COUNT(*) of
the same leads, and prints p50/p95 of each, the label shown and the true count. Target: the
count's p95 <= 10 ms for every shape (the queue's p95 budget is 50 ms in all), never a scan of
every matching row.
"""

import argparse
import sys
import time

from common import database_url, django_setup, format_summary, machine_print, manage, percentile, verdict

TARGET_P95_MS = 10.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    url = database_url(args.database_url)
    manage(url, "migrate", "--noinput")
    django_setup(url)
    machine_print(url)

    from django.conf import settings

    from leads.models import Lead, User
    from leads.selectors import QueueFilters, queue_count_for, queue_leads_matching

    reps = list(User.objects.filter(role=User.Role.REP, username__startswith="rep").order_by("username"))
    manager = User.objects.filter(role=User.Role.MANAGER).order_by("pk").first()
    if not reps or manager is None:
        print("No bench users: run bench/make_data.py first.", file=sys.stderr)
        return 2
    source = Lead.objects.order_by("pk").values_list("source", flat=True).first() or ""
    shapes = [
        ("manager, every open lead", manager, QueueFilters()),
        ("manager, hot", manager, QueueFilters(tier="hot")),
        ("manager, pool", manager, QueueFilters(owner="pool")),
        ("manager, one source", manager, QueueFilters(source=source)),
        ("manager, overdue", manager, QueueFilters(due="overdue")),
        ("manager, lost", manager, QueueFilters(status="lost")),
        ("manager, search 'lead1'", manager, QueueFilters(q="lead1")),
        ("rep, own open leads", reps[0], QueueFilters()),
        ("rep, own hot", reps[0], QueueFilters(tier="hot")),
    ]
    exact_up_to = settings.QUEUE_COUNT_EXACT_UP_TO
    worst = 0.0
    for name, user, filters in shapes:
        count_ms, full_ms = [], []
        label = ""
        for _ in range(args.repeats):
            started = time.perf_counter()
            count = queue_count_for(user, filters, exact_up_to=exact_up_to)
            count_ms.append((time.perf_counter() - started) * 1000)
            label = count.label
        for _ in range(max(3, args.repeats // 10)):
            started = time.perf_counter()
            true = queue_leads_matching(user, filters).count()
            full_ms.append((time.perf_counter() - started) * 1000)
        worst = max(worst, percentile(count_ms, 95))
        print(f"{name:28} shows {label!r:24} true {true:>9,}")
        print("   " + format_summary("queue_count_for", count_ms))
        print("   " + format_summary("plain COUNT(*)", full_ms))
    print(
        f"worst p95 of the queue count: {worst:.1f} ms (target <= {TARGET_P95_MS} ms): {verdict(worst, TARGET_P95_MS)}"
    )
    return 0 if worst <= TARGET_P95_MS else 1


if __name__ == "__main__":
    sys.exit(main())
