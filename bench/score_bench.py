"""Scoring benchmarks (PostgreSQL). Prints one line per figure; BENCHMARKS.md records them.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/leadcrm_bench_scoring \\
        .venv/bin/python bench/score_bench.py [--steps train,rescore,single,xedu] \\
        [--train-leads 100000] [--reuse-data] [--rescore-leads 1000000] [--xedu ../shared/data/x_education_leads.csv] \\
        [--workers N]

Steps (each wipes the bench database's leads first, so only run it against a bench database):
- train:   100k synthetic closed leads (COPY) -> training_runs.model_train(folds=5), the full app path
           (SQL feature aggregates, leak check, 5 candidates on the same folds, calibration, holdout).
- rescore: grows the table to 1M leads (COPY) and rescores every one with the trained model:
           chunked, COPY to a temp table + UPDATE ... FROM; then once more (nothing changes).
           In this process by default; with --workers N, N real `celery worker -Q scoring` processes
           (the broker of REDIS_URL, else the filesystem spool under LEADCRM_VAR_DIR) share the run's
           partitions (SCORING_RESCORE_PARTITION_SIZE) as in production.
- single:  p50/p95 of scoring one unsaved lead in-process (selectors.score_unsaved, warm).
- activity: new activity -> the queue shows the new score, with one real scoring worker: log a call
           through leads.services.activity_log on an open lead (commit), poll the lead's row until
           its scored_at moves; --activity-repeat times, p50 / max (includes the debounce,
           SCORING_RESCORE_DEBOUNCE_SECONDS).
- xedu:    import_leads X Education CSV --profile x_education, then train_model --cv 5 --json.
"""

import argparse
import io
import json
import math
import os
import random
import resource
import statistics
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/leadcrm_bench_scoring")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadcrm.settings")
os.environ.setdefault("LEADCRM_VAR_DIR", "/tmp/leadcrm_bench_scoring")
# As in production: DEBUG off (with DEBUG on Django keeps every SQL string it runs).
os.environ.setdefault("DEBUG", "0")
os.environ.setdefault("SECRET_KEY", "bench-only-not-a-secret-0123456789abcdefghijklmnopqrstuvwxyz")

import django  # noqa: E402
from common import ranks_unscore  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from leads.models import Activity, Lead  # noqa: E402
from scoring import registry, rescoring, selectors, training_runs  # noqa: E402
from scoring.models import ModelVersion, RescorePartition, RescoreRun  # noqa: E402

CHANNELS = [f"channel-{i}" for i in range(8)]
PLANS = ["basic", "pro", "team", "enterprise"]
COUNTRIES = [f"country-{i}" for i in range(20)]
INDUSTRIES = [f"industry-{i}" for i in range(30)]
SOURCES = ["Google", "Direct", "Referral", "Partner", "Chat", "Event"]
ORIGINS = ["Landing Page", "Form", "Call", "Import"]


def say(label: str, value) -> None:
    print(f"{label:<48} {value}", flush=True)


def wipe() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE leads_activity, leads_followup, scoring_scorehistory, scoring_rescorerun, scoring_trainingrun, "
            "scoring_activationevent, leads_lead, scoring_modelversion RESTART IDENTITY CASCADE"
        )
    registry.cache_clear()


def _copy(table: str, columns: list[str], rows) -> None:
    with connection.cursor() as cursor, cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def synthetic_leads_copy(n: int, *, closed: bool, seed: int, start: int = 0) -> None:
    """n leads with a known relation to conversion, plus ~1.5 activities each, by COPY."""
    rng = random.Random(seed)
    now = timezone.now()
    lead_columns = [
        "external_id", "name", "email", "phone", "company", "source", "origin", "status", "converted_at",
        "lost_reason", "attributes", "created_at", "updated_at",
    ]  # fmt: skip
    plans = []

    def leads():
        for i in range(start, start + n):
            plan = rng.choice(PLANS)
            visits = int(rng.expovariate(1 / 3))
            minutes = round(rng.expovariate(1 / 8), 2)
            newsletter = rng.random() < 0.3
            channel = rng.choice(CHANNELS)
            logit = (
                -1.2 + PLANS.index(plan) * 0.5 + 0.15 * min(visits, 10) + 0.08 * min(minutes, 20)
                + (0.5 if newsletter else 0) + (CHANNELS.index(channel) - 4) * 0.15
            )  # fmt: skip
            converts = rng.random() < 1 / (1 + math.exp(-logit))
            created = now - timedelta(days=rng.uniform(30, 400) if closed else rng.uniform(0, 30))
            status = ("converted" if converts else "lost") if closed else "new"
            attrs = {
                "channel": channel, "plan": plan, "visits": visits, "minutes": minutes, "newsletter": newsletter,
                "country": rng.choice(COUNTRIES), "industry": rng.choice(INDUSTRIES),
                "rating": round(rng.gauss(50, 15), 1),
            }  # fmt: skip
            plans.append((created, status))
            yield (
                f"B-{i}", f"Bench {i}", f"b{i}@example.com", "", "", rng.choice(SOURCES), rng.choice(ORIGINS),
                status, created + timedelta(days=7) if status == "converted" else None,
                "no budget" if status == "lost" else "", json.dumps(attrs), created, now,
            )  # fmt: skip

    _copy("leads_lead", lead_columns, leads())
    with connection.cursor() as cursor:
        # The rows just copied are the newest ids (comparing external ids as text is no help: "B-20000" >
        # "B-100000", so a batch that starts at 20,000 would miss its own rows from 100,000 on).
        cursor.execute("SELECT id FROM leads_lead ORDER BY id DESC LIMIT %s", [n])
        ids = [r[0] for r in cursor.fetchall()][::-1]

    def activities():
        for lead_id, (created, status) in zip(ids, plans, strict=True):
            for _ in range(rng.choice((0, 1, 1, 2, 3))):
                kind = rng.choice(("call", "email", "web_visit", "meeting"))
                when = created + timedelta(days=rng.uniform(0, 6))
                yield lead_id, kind, "", when, "", "{}"
            if status != "new":
                yield lead_id, "status_change", status, created + timedelta(days=7), "", "{}"

    _copy("leads_activity", ["lead_id", "kind", "outcome", "occurred_at", "notes", "data"], activities())
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE leads_lead")
        cursor.execute("ANALYZE leads_activity")


def step_train(n: int, *, reuse: bool = False) -> ModelVersion:
    closed = Lead.objects.filter(status__in=Lead.CLOSED_STATUSES).count()
    if reuse and closed == n == Lead.objects.count():
        # The same leads as the last run's COPY (seed 1); its models go, so this one trains as the first.
        ModelVersion.objects.all().delete()
        registry.cache_clear()
        say(f"setup: reusing the {n:,} closed leads already loaded", "")
    else:
        wipe()
        t = time.perf_counter()
        synthetic_leads_copy(n, closed=True, seed=1)
        say(f"setup: COPY {n:,} closed leads + activities (s)", f"{time.perf_counter() - t:.1f}")
    marks = []
    setup_peak = _peak_rss_mb()
    cpu_before = _cpu_seconds()
    started = time.perf_counter()
    version = training_runs.model_train(
        folds=5, progress=lambda pct, stage: marks.append((time.perf_counter(), stage, _peak_rss_mb()))
    )
    total = time.perf_counter() - started
    cpu = _cpu_seconds() - cpu_before
    features_done = next((m[0] for m in marks if m[1] == "screening columns"), started)
    version.refresh_from_db()
    cv = version.metrics["cv"]
    say(f"train {n:,} leads, 5-fold CV, full path (s)", f"{total:.1f}")
    say("  of which features from SQL (s)", f"{features_done - started:.1f}")
    # All this process's threads; on a busy box the wall time waits for the CPU, this does not.
    say("  CPU of the training process, user + system (s)", f"{cpu:.1f}")
    say("  chosen candidate", version.params["candidate"])
    say("  CV ROC AUC", f"{cv['roc_auc']['mean']:.4f} ± {cv['roc_auc']['std']:.4f}")
    say("  holdout ROC AUC / ECE", f"{version.metrics['holdout']['roc_auc']} / {version.metrics['holdout']['ece']}")
    say("  stage times (s)", json.dumps(version.metrics.get("timings", {})))
    sample = version.metrics["training_set"].get("sample")
    say("  rows used", f"{version.n_rows:,} of {version.metrics['training_set'].get('closed_leads', version.n_rows):,}"
        + (f" (sample, max {sample['max_rows']:,})" if sample else ""))  # fmt: skip
    # The peak so far as each stage began: which stage raised it.
    say("  peak RSS at the data setup (MB)", f"{setup_peak:.0f}")
    say("  peak RSS before each stage (MB)", "; ".join(f"{stage}: {peak:.0f}" for _, stage, peak in marks))
    say("peak RSS of the training process (MB)", f"{_peak_rss_mb():.0f}")
    say("  load average at end", os.getloadavg())
    return version


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _peak_rss_mb() -> float:
    """This process's peak resident memory so far (ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def step_rescore(total: int, *, workers: int = 0) -> None:
    version = ModelVersion.objects.filter(status="active").first()
    if version is None:
        version = step_train(20_000)
    have = Lead.objects.count()
    t = time.perf_counter()
    start = have
    while start < total:
        batch = min(250_000, total - start)
        synthetic_leads_copy(batch, closed=False, seed=start, start=start)
        start += batch
    say(f"setup: COPY open leads up to {total:,} (s)", f"{time.perf_counter() - t:.1f}")
    with connection.cursor() as cursor:
        ranks_unscore(cursor)  # untimed: the timed run writes every lead's score
        cursor.execute("VACUUM ANALYZE leads_lead")
    n = Lead.objects.count()
    say("leads / activities", f"{n:,} / {Activity.objects.count():,}")
    if workers:
        _rescore_on_workers(workers, n)
        return
    t = time.perf_counter()
    run = rescoring.rescore_run_continue(rescoring.rescore_run_start())
    elapsed = time.perf_counter() - t
    say(f"rescore {run.scored:,} leads, chunk {settings.SCORING_RESCORE_CHUNK:,} (s)", f"{elapsed:.1f}")
    say("  leads per second", f"{run.scored / elapsed:,.0f}")
    say("  model version on every lead", sorted(set(Lead.objects.values_list("rank__model_version_id", flat=True))))
    t = time.perf_counter()
    again = rescoring.rescore_run_continue(rescoring.rescore_run_start())
    say("rescore again, nothing changes (s)", f"{time.perf_counter() - t:.1f} ({again.changed} changed)")
    # ru_maxrss is in KiB on Linux: the peak of this process, training included when it ran first.
    say("peak RSS of the scoring process (MB)", f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}")


def _workers_start(n: int) -> list[tuple[subprocess.Popen, Path]]:
    """N real scoring workers (solo pool, as the Procfile runs them) on this bench's database and
    broker; returns once each logs that it is ready."""
    env = {**os.environ, "CELERY_TASK_ALWAYS_EAGER": "false", "LOG_LEVEL": "INFO"}
    log_dir = Path(settings.VAR_DIR) / "bench-workers"
    log_dir.mkdir(parents=True, exist_ok=True)
    started = []
    for i in range(n):
        log = log_dir / f"worker-{i}.log"
        log.unlink(missing_ok=True)
        command = [sys.executable, "-m", "celery", "-A", "leadcrm", "worker", "-Q", "scoring", "--pool=solo",
                   "-n", f"bench{i}@%h", "--without-gossip", "--without-mingle", "--without-heartbeat",
                   "--loglevel=INFO"]  # fmt: skip
        with open(log, "ab") as out:
            started.append((subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT), log))
    deadline = time.monotonic() + 120
    for process, log in started:
        while " ready." not in log.read_text(errors="replace"):
            if process.poll() is not None or time.monotonic() > deadline:
                _workers_stop(started)
                sys.exit(f"a bench worker did not start; see {log}")
            time.sleep(0.2)
    return started


def _workers_stop(started: list[tuple[subprocess.Popen, Path]]) -> dict[int, float]:
    """Stop the workers; returns each one's peak RSS in MB (VmHWM), read just before."""
    peaks = {}
    for process, _log in started:
        try:
            status = Path(f"/proc/{process.pid}/status").read_text()
            peaks[process.pid] = int(next(ln.split()[1] for ln in status.splitlines() if ln.startswith("VmHWM"))) / 1024
        except (OSError, StopIteration):
            pass
        process.terminate()
    for process, _log in started:
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
    return peaks


def _run_on_workers(label: str) -> tuple[RescoreRun, float]:
    """Start a run, cut it and send its partitions (timed, as the run's task would), wait for done."""
    run = rescoring.rescore_run_start()
    t = time.perf_counter()
    rescoring.rescore_run_dispatch(run)
    while True:
        run.refresh_from_db()
        if run.status != RescoreRun.Status.RUNNING:
            break
        time.sleep(0.1)
    elapsed = time.perf_counter() - t
    say(label, f"{elapsed:.1f} ({run.status}, {run.changed:,} changed)")
    return run, elapsed


def _rescore_on_workers(workers: int, n: int) -> None:
    # A run the activation left queued is superseded by the first timed run; its task is a no-op.
    started = _workers_start(workers)
    try:
        partition = settings.SCORING_RESCORE_PARTITION_SIZE
        # Labelled as the in-process line ("rescore N leads ..."), which bench/cost_curve.py reads.
        run, elapsed = _run_on_workers(f"rescore {n:,} leads, {workers} workers (s)")
        say("  leads per second", f"{run.scored / elapsed:,.0f}")
        takers = RescorePartition.objects.filter(run=run).values_list("claimed_by", flat=True)
        counts = {taker: sum(1 for t in takers if t == taker) for taker in set(takers)}
        say(
            f"  partitions of {partition:,} done / per worker",
            f"{run.partitions_done} / {sorted(counts.values(), reverse=True)}",
        )
        say("  model version on every lead", sorted(set(Lead.objects.values_list("rank__model_version_id", flat=True))))
        _run_on_workers(f"rescore again on {workers} workers, none changes (s)")
    finally:
        peaks = _workers_stop(started)
    say("peak RSS per worker (MB)", " / ".join(f"{mb:.0f}" for mb in peaks.values()))


def step_activity(repeat: int) -> None:
    """Seconds from an activity's commit to the lead's new score being on its row (what the queue
    reads), with one real scoring worker taking the debounced rescore task."""
    from django.db import transaction

    from leads.services import activity_log

    if not ModelVersion.objects.filter(status="active").exists():
        sys.exit("No active model: run --steps train first.")
    # A worker that starts continues unfinished runs: none should stand before the timed tasks.
    RescoreRun.objects.filter(status=RescoreRun.Status.RUNNING).update(status=RescoreRun.Status.SUPERSEDED)
    settings.SCORING_RETRAIN_AFTER_OUTCOMES = 10**9
    started = _workers_start(1)
    latencies = []
    try:
        open_ids = list(
            Lead.objects.filter(status__in=["new", "contacted"], rank__scored_at__isnull=False)
            .order_by("?")
            .values_list("pk", flat=True)[:repeat]
        )
        for lead_id in open_ids:
            before = Lead.objects.values_list("rank__scored_at", flat=True).get(pk=lead_id)
            with transaction.atomic():
                activity_log(lead=Lead.objects.get(pk=lead_id), user=None, kind="call", outcome="connected")
            t = time.perf_counter()
            while time.perf_counter() - t < 30:
                if Lead.objects.values_list("rank__scored_at", flat=True).get(pk=lead_id) != before:
                    latencies.append(time.perf_counter() - t)
                    break
                time.sleep(0.05)
            else:
                say(f"  lead {lead_id}", "no new score within 30 s")
    finally:
        _workers_stop(started)
    if latencies:
        say(
            f"activity -> new score on the lead row, 1 worker, n={len(latencies)} (s)",
            f"p50 {statistics.median(latencies):.2f}, max {max(latencies):.2f} "
            f"(debounce {settings.SCORING_RESCORE_DEBOUNCE_SECONDS} s)",
        )
    say("  load average at end", os.getloadavg())


def step_single(repeat: int = 2000) -> None:
    if not ModelVersion.objects.filter(status="active").exists():
        step_train(20_000)
    payload = {
        "source": "Referral",
        "origin": "Form",
        "attributes": {"plan": "pro", "visits": 4, "minutes": 12.5, "newsletter": True, "channel": "channel-3"},
    }
    for _ in range(50):
        selectors.score_unsaved(**payload)
    timings = []
    for _ in range(repeat):
        t = time.perf_counter()
        selectors.score_unsaved(**payload)
        timings.append((time.perf_counter() - t) * 1000)
    timings.sort()
    say(f"single unsaved lead, {repeat} calls: p50 (ms)", f"{statistics.median(timings):.2f}")
    say("  p95 (ms)", f"{timings[int(0.95 * len(timings))]:.2f}")


def step_xedu(path: str) -> None:
    if not Path(path).exists():
        say("X Education", f"skipped: {path} not found")
        return
    wipe()
    settings.SCORING_RETRAIN_AFTER_OUTCOMES = 10**9  # the bench trains explicitly below
    t = time.perf_counter()
    call_command("import_leads", path, "--profile", "x_education", stdout=io.StringIO())
    say("X Education import (s)", f"{time.perf_counter() - t:.1f}")
    out = io.StringIO()
    t = time.perf_counter()
    call_command("train_model", "--cv", "5", "--json", stdout=out)
    say("X Education train_model --cv 5 (s)", f"{time.perf_counter() - t:.1f}")
    data = json.loads(out.getvalue())
    metrics = data["metrics"]
    holdout = metrics["holdout"]
    say("  chosen candidate", data["params"]["candidate"])
    for name, c in metrics["cv"]["candidates"].items():
        say(f"  CV ROC AUC {name}", f"{c['roc_auc']['mean']:.4f} ± {c['roc_auc']['std']:.4f}")
    say("  CV ROC AUC (chosen)", f"{metrics['cv']['roc_auc']['mean']:.4f}")
    say("  holdout split", holdout["split"])
    for key in ("roc_auc", "pr_auc", "log_loss", "brier", "ece", "accuracy", "precision", "recall", "f1", "threshold"):
        say(f"  holdout {key}", holdout[key])
    say("  features used", len(data["features"]["used"]))
    say("  excluded", json.dumps(data["features"]["excluded"])[:400])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", default="train,rescore,single,xedu")
    parser.add_argument("--train-leads", type=int, default=100_000)
    parser.add_argument("--rescore-leads", type=int, default=1_000_000)
    parser.add_argument(
        "--workers", type=int, default=0, help="rescore on N real scoring worker processes (default: in this process)"
    )
    parser.add_argument(
        "--reuse-data",
        action="store_true",
        help="train: keep the closed leads a previous train step of this size loaded",
    )
    parser.add_argument("--activity-repeat", type=int, default=10)
    parser.add_argument("--xedu", default=str(ROOT.parent / "shared" / "data" / "x_education_leads.csv"))
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("The scoring bench needs PostgreSQL: set DATABASE_URL to a bench database.")
    call_command("migrate", verbosity=0)
    settings.SCORING_RETRAIN_AFTER_OUTCOMES = 10**9
    # Activation queues a rescore of every lead; the bench times training and rescoring apart.
    from leadcrm.celery import app

    app.conf.task_always_eager = False
    say("load average at start", os.getloadavg())
    steps = args.steps.split(",")
    if "train" in steps:
        step_train(args.train_leads, reuse=args.reuse_data)
    if "rescore" in steps:
        step_rescore(args.rescore_leads, workers=args.workers)
    if "activity" in steps:
        step_activity(args.activity_repeat)
    if "single" in steps:
        step_single()
    if "xedu" in steps:
        step_xedu(args.xedu)


if __name__ == "__main__":
    main()
