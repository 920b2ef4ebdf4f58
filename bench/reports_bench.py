"""Manager reports at a million leads: each report's selectors, and the view through the test client.

    .venv/bin/python bench/reports_bench.py [--repeat 3] [--database-url ...] [--explain]

Needs the data from bench/make_data.py (1M leads / 5M activities in leadcrm_bench). Read-only:
it creates no rows. Sessions are signed cookies here so logging in writes nothing, and the
model whose quality and drift are measured is an unsaved ModelVersion carrying contract-shaped
metrics (with a reference distribution for the bench's X Education-style attributes); it
borrows the id of a stored version when there is one, so "observed conversion per tier" reads
real leads.

Target: every report <= 1 s (the view, end to end), the channels report included (issue 21;
make_data.py gives the bench leads campaigns, values, spend and channel values). Each figure is the median of --repeat runs
after one warm-up. Each view is timed twice: "computed" (?refresh=1: the report's SQL runs in
the request) and "from summary" (what a manager normally gets: the aggregates the periodic
reports.refresh_summaries and scoring.refresh_monitoring tasks keep in the cache). The tasks' own run
times are timed too.
"""

import argparse
import json
import sys
from datetime import timedelta

from common import (
    MANAGER_USERNAME,
    OUT_DIR,
    ROOT,
    database_url,
    django_setup,
    machine_print,
    manage,
    static_collect,
    summary,
    timed,
    verdict,
    wait_for_quiet,
)

TARGET_MS = 1000.0


def reference_for_bench() -> dict:
    """A training reference shaped like scoring.training.reference_distributions writes it."""
    deciles = [i / 10 for i in range(11)]
    return {
        "Lead Source": {"kind": "categorical", "fractions": {"Google": 0.31, "Direct Traffic": 0.28, "Olark Chat": 0.19,
                        "Organic Search": 0.12, "Reference": 0.06, "Welingak Website": 0.02, "(other)": 0.02}},
        "Lead Origin": {"kind": "categorical", "fractions": {"Landing Page Submission": 0.53, "API": 0.39,
                        "Lead Add Form": 0.07, "Lead Import": 0.01}},
        "TotalVisits": {"kind": "numeric", "edges": [0, 1, 2, 3, 4, 5, 7, 10, 251], "fractions": [0.24, 0.04, 0.18,
                        0.14, 0.12, 0.09, 0.1, 0.09]},
        "Total Time Spent on Website": {"kind": "numeric", "edges": [0, 12, 90, 250, 500, 900, 1400, 2272],
                                        "fractions": [0.3, 0.1, 0.1, 0.15, 0.15, 0.1, 0.1]},
        "Page Views Per Visit": {"kind": "numeric", "edges": [0, 1, 2, 3, 4, 5, 55], "fractions": [0.25, 0.15, 0.2,
                                 0.2, 0.1, 0.1]},
        "Do Not Email": {"kind": "numeric", "edges": [0.0, 0.5, 1.0], "fractions": [0.92, 0.08]},
        "What is your current occupation": {"kind": "categorical", "fractions": {"Unemployed": 0.6,
                                            "Working Professional": 0.08, "Student": 0.02, "(missing)": 0.29,
                                            "(other)": 0.01}},
        "City": {"kind": "categorical", "fractions": {"Mumbai": 0.35, "(missing)": 0.4, "Thane & Outskirts": 0.08,
                 "Other Cities": 0.07, "(other)": 0.1}},
        "Country": {"kind": "categorical", "fractions": {"India": 0.7, "(missing)": 0.27, "(other)": 0.03}},
        "Last Activity": {"kind": "categorical", "fractions": {"Email Opened": 0.37, "SMS Sent": 0.3,
                          "Olark Chat Conversation": 0.1, "Page Visited on Website": 0.07, "(other)": 0.16}},
        "Specialization": {"kind": "categorical", "fractions": {"(missing)": 0.36, "Finance Management": 0.1,
                           "Marketing Management": 0.1, "Human Resource Management": 0.09, "(other)": 0.35}},
        "Contacted": {"kind": "numeric", "edges": [0.0, 0.5, 1.0], "fractions": [0.3, 0.7]},
        "Hours to first contact": {"kind": "numeric", "edges": [0, 1, 4, 24, 72, 500], "fractions": [0.2, 0.2, 0.3,
                                   0.2, 0.1]},
        "Days since last activity": {"kind": "numeric", "edges": [0, 1, 3, 7, 30, 400], "fractions": [0.2, 0.2, 0.2,
                                     0.2, 0.2]},
        "Call in last 7 days": {"kind": "numeric", "edges": [0, 1, 3], "fractions": [0.7, 0.3]},
        "__score__": {"kind": "numeric", "edges": deciles, "fractions": [0.1] * 10},
    }  # fmt: skip


def holdout_metrics() -> dict:
    """Holdout metrics in the contract's shape (the page draws them; their values do not matter here)."""
    return {
        "roc_auc": 0.9, "pr_auc": 0.85, "log_loss": 0.4, "brier": 0.12, "ece": 0.02, "accuracy": 0.82,
        "precision": 0.8, "recall": 0.7, "f1": 0.75, "threshold": 0.5,
        "confusion": {"tn": 1000, "fp": 130, "fn": 200, "tp": 518},
        "calibration": [{"bin": b, "lower": b / 10, "upper": (b + 1) / 10, "mean_predicted": b / 10 + 0.05,
                         "observed": b / 10 + 0.04, "count": 180} for b in range(10)],
        "deciles": [{"decile": d, "n": 185, "positives": 170 - 15 * d, "conversion_rate": (170 - 15 * d) / 185,
                     "lift": (170 - 15 * d) / 185 / 0.385, "cum_gain": min(1.0, d / 5)} for d in range(1, 11)],
        "roc_curve": {"fpr": [i / 100 for i in range(101)], "tpr": [min(1.0, (i / 100) ** 0.3) for i in range(101)]},
        "pr_curve": {"recall": [i / 100 for i in range(101)], "precision": [1 - 0.6 * (i / 100) ** 2 for i in range(101)]},
        "thresholds": [{"threshold": t / 10, "precision": 0.5 + t / 25, "recall": 1 - t / 10, "f1": 0.7,
                        "flagged": 1800 - 150 * t} for t in range(1, 10)],
    }  # fmt: skip


def bench_model():
    from django.utils import timezone

    from scoring.models import ModelVersion

    stored = ModelVersion.objects.order_by("-pk").values_list("pk", flat=True).first()
    return ModelVersion(
        pk=stored or 10**9,
        status=ModelVersion.Status.ACTIVE,
        algorithm="bench",
        metrics={
            "holdout": holdout_metrics(),
            "reference": reference_for_bench(),
            "n_rows": 9240,
            "n_positive": 3561,
            "base_rate": 0.385,
        },
        activated_at=timezone.now() - timedelta(days=30),
        created_at=timezone.now() - timedelta(days=31),
    )


def measure(fn, repeat: int) -> tuple[list[float], object]:
    result = fn()  # warm-up (and the value, for sanity checks)
    times = []
    for _ in range(repeat):
        with timed() as t:
            result = fn()
        times.append(t())
    return times, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE of the heaviest queries")
    parser.add_argument("--quiet-load", type=float, default=0, help="wait until the load average is below this")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the rollups (timed) even when they are built")
    args = parser.parse_args()
    url = database_url(args.database_url)
    static_collect(url)
    manifest = ROOT / "staticfiles" / "staticfiles.json"
    if "css/reports.css" not in manifest.read_text():  # collected before the reports existed
        manage(url, "collectstatic", "--noinput")
    django_setup(url)
    info = machine_print(url)

    from unittest import mock

    from django.conf import settings
    from django.db import connection
    from django.db.models import Sum
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from leads.models import Lead, RollupCube, RollupDirty, User
    from leads.reports import channels, rollup_reads, rollups, selectors, summaries
    from leads.reports.selectors import ReportFilters
    from scoring import drift, quality

    settings.SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"
    n_leads = Lead.objects.count()
    print(f"leads: {n_leads:,}")
    if args.quiet_load:
        wait_for_quiet(args.quiet_load, 600)
    results: dict[str, dict] = {}
    # The rollups: built (timed apart) when empty or marked, then one day rebuilt as the task does.
    if args.rebuild or RollupDirty.objects.exists() or not RollupCube.objects.exists():
        with timed() as t:
            rollups.rollups_rebuild_all()
        results["rollups_rebuild_all"] = {"total_ms": t()}
        print(f"rollups  full rebuild {t():.0f} ms")
    rollups.pending_reload()
    busiest = RollupCube.objects.values("day").annotate(n=Sum("leads")).order_by("-n").values_list("day", "n").first()
    if busiest:
        day_times = []
        for _ in range(max(args.repeat, 3)):
            with timed() as t:
                rollups.rollups_rebuild_days([busiest[0]])
            day_times.append(t())
        results["rollups_rebuild_days (one day)"] = {**summary(day_times), "day": str(busiest[0]), "leads": busiest[1]}
        print(f"rollups  one day ({busiest[1]} leads) p50={results['rollups_rebuild_days (one day)']['p50']:.1f} ms")
    rollups.pending_reload()
    sizes = {}
    with connection.cursor() as cursor:
        for rollup in rollups.ROLLUPS:
            table = rollup.model._meta.db_table
            cursor.execute(f"SELECT count(*), pg_total_relation_size('{table}') FROM {table}")
            rows, size = cursor.fetchone()
            sizes[table] = {"rows": rows, "mb": round(size / 2**20, 1)}
    results["rollup sizes"] = sizes
    print(f"rollups  {sizes}")
    channels.forecast_groups_refresh()
    model = bench_model()
    now = timezone.now()
    everything = ReportFilters()
    quarter = ReportFilters(date_from=(now - timedelta(days=90)).date())
    google = ReportFilters(source="Google")
    # The channels report: its default (the last six months, per source), per campaign, and every month.
    six_months = channels.default_filters()
    per_campaign = channels.ChannelFilters(month_from=six_months.month_from, month_to=six_months.month_to,
                                           by="campaign")  # fmt: skip
    first = Lead.objects.order_by("created_at").values_list("created_at", flat=True).first() or now
    all_months = channels.ChannelFilters(month_from=timezone.localtime(first).date().replace(day=1),
                                         month_to=six_months.month_to, by="campaign")  # fmt: skip

    cases = {
        "dashboard_numbers": lambda: selectors.dashboard_numbers(),
        "conversion_cube (all leads)": lambda: selectors.conversion_cube(everything),
        "conversion_cube (last 90 days)": lambda: selectors.conversion_cube(quarter),
        "conversion_cube (source=Google)": lambda: selectors.conversion_cube(google),
        "conversion_cohorts": lambda: selectors.conversion_cohorts(everything),
        "funnel (all leads)": lambda: selectors.funnel(everything),
        "funnel (last 90 days)": lambda: selectors.funnel(quarter),
        "rep_discipline (all leads)": lambda: selectors.rep_discipline(everything),
        "rep_discipline (last 90 days)": lambda: selectors.rep_discipline(quarter),
        "sla_breaches": lambda: selectors.sla_breaches(everything),
        "channels_report (6 months, per source)": lambda: channels.channels_report(six_months),
        "channels_report (6 months, per campaign)": lambda: channels.channels_report(per_campaign),
        "channels_report (every month, per campaign)": lambda: channels.channels_report(all_months),
        "open_leads_forecast": lambda: channels.open_leads_forecast(),
        "forecast_check": lambda: channels.forecast_check(),
        "model_quality (observed per tier)": lambda: quality.model_quality(model),
        "drift (computed)": lambda: drift.drift_for(model, refresh=True),
        "drift (cached)": lambda: drift.drift_for(model),
    }
    cases.update(
        {
            "ROLLUP dashboard_numbers": lambda: rollup_reads.dashboard_numbers(),
            "ROLLUP conversion_cube (all leads)": lambda: rollup_reads.conversion_cube(everything),
            "ROLLUP conversion_cube (last 90 days)": lambda: rollup_reads.conversion_cube(quarter),
            "ROLLUP conversion_cube (source=Google)": lambda: rollup_reads.conversion_cube(google),
            "ROLLUP conversion_cohorts": lambda: rollup_reads.conversion_cohorts(everything),
            "ROLLUP lost_by_reason (all leads)": lambda: rollup_reads.lost_by_reason(everything),
            "ROLLUP funnel (all leads)": lambda: rollup_reads.funnel(everything),
            "ROLLUP rep_discipline (all leads)": lambda: rollup_reads.rep_discipline(everything),
            "ROLLUP rep_discipline (last 90 days)": lambda: rollup_reads.rep_discipline(quarter),
            "ROLLUP channels_report (every month, per campaign)": lambda: rollup_reads.channels_report(all_months),
            "median_seconds_to_contact (all leads)": lambda: selectors.median_seconds_to_contact(everything),
            "open_leads_forecast_cached": lambda: channels.open_leads_forecast_cached(),
        }
    )
    for name, fn in cases.items():
        times, _ = measure(fn, args.repeat)
        results[name] = summary(times)
        print(f"selector {name:38s} p50={results[name]['p50']:8.1f} ms  max={results[name]['max']:8.1f} ms")

    manager = User.objects.filter(username=MANAGER_USERNAME).first() or User.objects.filter(role="manager").first()
    client = Client()
    client.force_login(manager)
    views = {}
    for path, name in (
        ("/reports/", "dashboard"),
        ("/reports/conversion/", "conversion"),
        (f"/reports/conversion/?date_from={quarter.date_from.isoformat()}", "conversion (90 days)"),
        ("/reports/conversion/?source=Google", "conversion (source=Google)"),
        ("/reports/funnel/", "funnel"),
        ("/reports/reps/", "reps"),
        ("/reports/channels/", "channels"),
        ("/reports/channels/?by=campaign", "channels (per campaign)"),
        (f"/reports/channels/?by=campaign&month_from={all_months.month_from:%Y-%m}", "channels (every month)"),
        ("/reports/model/", "model quality"),
        ("/reports/drift/", "drift"),
    ):
        joiner = "&" if "?" in path else "?"
        views[f"{path}{joiner}refresh=1"] = f"{name}, computed"
        views[path] = f"{name}, from summary"
    views["/reports/conversion/?format=csv&table=by_source"] = "conversion CSV, from summary"
    # The reports pick the active version; the bench database may have none, so lend ours.
    with mock.patch("scoring.selectors.active_model_version", return_value=model):
        for path, name in views.items():
            queries = []

            def get(path=path, queries=queries):
                with CaptureQueriesContext(connection) as q:
                    response = client.get(path)
                assert response.status_code == 200, (path, response.status_code)
                queries[:] = q.captured_queries
                return response

            times, _ = measure(get, args.repeat)
            key = f"view {name}"
            results[key] = {**summary(times), "queries": len(queries)}
            print(
                f"view     {name:38s} p50={results[key]['p50']:8.1f} ms  max={results[key]['max']:8.1f} ms  "
                f"queries={len(queries):2d}  {verdict(results[key]['p50'], TARGET_MS)}"
            )

        with timed() as t:
            timings = summaries.reports_refresh()
        results["reports_refresh (the Celery task)"] = {"total_ms": t(), "parts_ms": timings}
        print(f"task     reports_refresh total={t():.0f} ms  {timings}")
        with timed() as t:
            timings = drift.monitoring_refresh()
        results["monitoring_refresh (the Celery task)"] = {"total_ms": t(), "parts_ms": timings}
        print(f"task     monitoring_refresh total={t():.0f} ms  {timings}")

    if args.explain:
        for name in ("conversion_cube (all leads)", "funnel (all leads)", "rep_discipline (all leads)",
                     "channels_report (every month, per campaign)", "open_leads_forecast",
                     "drift (computed)"):  # fmt: skip
            with CaptureQueriesContext(connection) as q:
                cases[name]()
            heaviest = max(q.captured_queries, key=lambda c: float(c["time"]))
            with connection.cursor() as cursor:
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + heaviest["sql"])
                plan = "\n".join(row[0] for row in cursor.fetchall())
            print(f"\n--- {name}: heaviest query ({heaviest['time']} s)\n{plan}")

    OUT_DIR.mkdir(parents=True, exist_ok=True)
    out = OUT_DIR / "reports_bench.json"
    out.write_text(json.dumps({"machine": info, "leads": n_leads, "results": results}, indent=2, default=str))
    print(f"wrote {out}")
    misses = [k for k, v in results.items() if k.startswith("view") and "p50" in v and v["p50"] > TARGET_MS]
    print("all views within 1 s" if not misses else f"over 1 s: {', '.join(misses)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
