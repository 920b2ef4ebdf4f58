"""Helpers shared by the benchmarks: Django set-up against a given database, timing,
percentiles, memory and the machine description every figure in BENCHMARKS.md carries.

The benchmarks run against their own PostgreSQL database (leadcrm_bench by default), never
the one in the caller's DATABASE_URL, so a stray run cannot wipe a developer's data.
"""

import math
import os
import platform
import resource
import subprocess
import sys
import time
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
# The interpreter running the bench (a worktree without its own .venv uses the main checkout's).
PYTHON = Path(sys.executable)
OUT_DIR = ROOT / "bench" / "out"
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/leadcrm_bench"
BENCH_PASSWORD = "leadcrm-bench"  # the synthetic users' password (bench data only)
MANAGER_USERNAME = "bench_manager"

# Production-like settings for the benchmarks: DEBUG off (no query log, cached templates),
# static files from the collected manifest, plain HTTP on 127.0.0.1.
PRODUCTION_ENV = {
    "DEBUG": "false",
    "SECRET_KEY": "bench-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
    "SECURE_SSL_REDIRECT": "false",
    "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
    "LOG_LEVEL": "WARNING",
}

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def ranks_unscore(cursor) -> None:
    """Every lead unscored, as after a fresh import, so that a timed full rescore writes every rank row;
    its score history emptied, and the rank table and its indexes compacted. Each full rescore on a bench
    database leaves every rank row a dead version and the priority indexes split pages: after a dozen
    runs they were 5x their size and the write ~30 % slower. Untimed set-up of score_bench.py and
    rescore_once.py; bench databases only."""
    cursor.execute(
        "UPDATE leads_leadrank SET score = NULL, probability = NULL, model_version_id = NULL, tier = 'unscored', "
        "score_reasons = '[]', priority = -1, scored_at = NULL WHERE scored_at IS NOT NULL"
    )
    cursor.execute("TRUNCATE scoring_scorehistory")
    cursor.execute("VACUUM FULL ANALYZE leads_leadrank")


def database_url(cli_value: str | None = None) -> str:
    """--database-url, else BENCH_DATABASE_URL, else leadcrm_bench. DATABASE_URL is ignored on purpose."""
    return cli_value or os.environ.get("BENCH_DATABASE_URL") or DEFAULT_DATABASE_URL


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def bench_env(url: str) -> dict[str, str]:
    """The environment for a child process (manage.py, gunicorn) serving the bench database."""
    env = dict(os.environ)
    env.update(PRODUCTION_ENV)
    env["DATABASE_URL"] = url
    env.pop("REDIS_URL", None)
    env["DJANGO_SETTINGS_MODULE"] = "leadcrm.settings"
    return env


def database_ensure(url: str) -> bool:
    """Create the database named in `url` when it does not exist. True when it was created."""
    import psycopg
    from psycopg import sql

    name = database_name(url)
    parts = urlsplit(url)
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            return False
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return True


def manage(url: str, *args: str, quiet: bool = True) -> None:
    """Run manage.py against the bench database in a child process."""
    subprocess.run(
        [str(PYTHON), str(ROOT / "manage.py"), *args],
        cwd=ROOT,
        env=bench_env(url),
        check=True,
        stdout=subprocess.DEVNULL if quiet else None,
    )


def django_setup(url: str, *, production: bool = True) -> None:
    """Configure Django in this process against `url` (production-like settings by default)."""
    if production:
        os.environ.update(PRODUCTION_ENV)
    os.environ["DATABASE_URL"] = url
    os.environ.pop("REDIS_URL", None)
    os.environ["DJANGO_SETTINGS_MODULE"] = "leadcrm.settings"
    import django

    django.setup()


def static_collect(url: str) -> None:
    """DEBUG off serves static files from the collected manifest: build it once."""
    manifest = ROOT / "staticfiles" / "staticfiles.json"
    if not manifest.exists():
        manage(url, "collectstatic", "--noinput")


# --- Measuring ---------------------------------------------------------------------------


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (pct in 0-100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def summary(values_ms: list[float]) -> dict[str, float]:
    if not values_ms:
        return {"n": 0}
    return {
        "n": len(values_ms),
        "p50": percentile(values_ms, 50),
        "p95": percentile(values_ms, 95),
        "p99": percentile(values_ms, 99),
        "mean": sum(values_ms) / len(values_ms),
        "max": max(values_ms),
    }


def format_summary(name: str, values_ms: list[float]) -> str:
    s = summary(values_ms)
    if not s["n"]:
        return f"{name}: no samples"
    return (
        f"{name}: n={s['n']} p50={s['p50']:.1f} ms p95={s['p95']:.1f} ms p99={s['p99']:.1f} ms "
        f"mean={s['mean']:.1f} ms max={s['max']:.1f} ms"
    )


@contextmanager
def timed():
    """`with timed() as t: ...` then t() is the elapsed time in milliseconds."""
    start = time.perf_counter()
    elapsed: list[float] = []
    yield lambda: elapsed[0] if elapsed else (time.perf_counter() - start) * 1000
    elapsed.append((time.perf_counter() - start) * 1000)


def peak_rss_mb() -> float:
    """This process's peak resident set size."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb(pid: int) -> float:
    """Current resident set size of `pid` (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def wait_for_quiet(max_load: float, max_wait_s: float) -> None:
    """On a shared machine, wait (up to max_wait_s) until the 1-minute load average is below max_load."""
    deadline = time.monotonic() + max_wait_s
    while os.getloadavg()[0] >= max_load and time.monotonic() < deadline:
        time.sleep(5)
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def verdict(value: float, target: float) -> str:
    """'PASS (12.3 ms under)' or 'MISS by 4.5 ms (+9%)' for a lower-is-better figure."""
    if value <= target:
        return f"PASS ({target - value:.1f} under the {target:g} target)"
    return f"MISS by {value - target:.1f} (+{(value - target) / target * 100:.0f}% over the {target:g} target)"


# --- The machine -------------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gb() -> float:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return 0.0


def machine_info(url: str | None = None) -> dict[str, str]:
    info = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": str(os.cpu_count()),
        "memory": f"{_memory_gb():.1f} GiB",
        "cpu": _cpu_model(),
        "python": platform.python_version(),
        "load": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }
    if url:
        import psycopg

        with psycopg.connect(url) as conn:
            info["postgresql"] = conn.execute("SHOW server_version").fetchone()[0]
            info["shared_buffers"] = conn.execute("SHOW shared_buffers").fetchone()[0]
            info["work_mem"] = conn.execute("SHOW work_mem").fetchone()[0]
    try:
        import django

        info["django"] = django.get_version()
    except ImportError:
        pass
    return info


def machine_print(url: str | None = None) -> dict[str, str]:
    info = machine_info(url)
    print("machine: " + ", ".join(f"{k}={v}" for k, v in info.items()))
    print("command: " + " ".join([Path(sys.executable).name, *sys.argv]))
    return info


# --- Indexes the benchmarks propose (not yet in a migration) -----------------------------
# name -> (CREATE INDEX for the bench database, the models.Index to add to Lead.Meta.indexes).
# bench/make_data.py creates the ones the models do not declare yet, so every figure is measured
# with them; bench/queue_bench.py measures each one's effect (drop in a rolled-back transaction).
_OPEN = "status IN ('new', 'contacted', 'qualified')"
_CLOSED = "status IN ('converted', 'lost')"
_OPEN_Q = 'Q(status__in=["new", "contacted", "qualified"])'
_CLOSED_Q = 'Q(status__in=["converted", "lost"])'
PROPOSED_INDEXES = {
    "lead_queue_all_followup": (
        f"CREATE INDEX IF NOT EXISTS lead_queue_all_followup ON leads_lead (next_follow_up_at, id) WHERE {_OPEN}",
        f'models.Index(fields=["next_follow_up_at", "id"], name="lead_queue_all_followup", condition={_OPEN_Q})',
    ),
    "lead_queue_pool_followup": (
        "CREATE INDEX IF NOT EXISTS lead_queue_pool_followup ON leads_lead (next_follow_up_at, id)"
        f" WHERE {_OPEN} AND owner_id IS NULL",
        'models.Index(fields=["next_follow_up_at", "id"], name="lead_queue_pool_followup",'
        f" condition={_OPEN_Q} & Q(owner__isnull=True))",
    ),
    # The score's indexes are LeadRank's (leads_leadrank: its own copies of owner_id and status).
    "rank_queue_tier_prio": (
        "CREATE INDEX IF NOT EXISTS rank_queue_tier_prio ON leads_leadrank (tier, priority DESC, lead_id DESC)"
        f" WHERE {_OPEN}",
        f'models.Index(fields=["tier", "-priority", "-lead"], name="rank_queue_tier_prio", condition={_OPEN_Q})',
    ),
    "rank_queue_owner_tier_prio": (
        "CREATE INDEX IF NOT EXISTS rank_queue_owner_tier_prio ON leads_leadrank"
        f" (owner_id, tier, priority DESC, lead_id DESC) WHERE {_OPEN}",
        'models.Index(fields=["owner", "tier", "-priority", "-lead"], name="rank_queue_owner_tier_prio",'
        f" condition={_OPEN_Q})",
    ),
    "rank_closed_owner_prio": (
        "CREATE INDEX IF NOT EXISTS rank_closed_owner_prio ON leads_leadrank"
        f" (owner_id, status, priority DESC, lead_id DESC) WHERE {_CLOSED}",
        'models.Index(fields=["owner", "status", "-priority", "-lead"], name="rank_closed_owner_prio",'
        f" condition={_CLOSED_Q})",
    ),
    "lead_search_trgm_set": (
        "CREATE INDEX IF NOT EXISTS lead_search_trgm_set ON leads_lead USING gin"
        " (upper(name::text) gin_trgm_ops, upper(email::text) gin_trgm_ops, upper(company::text) gin_trgm_ops)"
        " WHERE (name::text <> '' OR email::text <> '' OR company::text <> '')",
        "leads/migrations/0008_partial_search_index.py (raw SQL: PostgreSQL only)",
    ),
}


def proposed_indexes_missing_from_models() -> list[str]:
    """Proposed index names the Lead and LeadRank models do not declare yet (needs Django set up)."""
    from leads.models import Lead, LeadRank

    declared = {index.name for model in (Lead, LeadRank) for index in model._meta.indexes}
    return [name for name in PROPOSED_INDEXES if name not in declared]
