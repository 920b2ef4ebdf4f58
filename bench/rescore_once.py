"""One full rescore of every lead, timed, in this process, as a scoring worker runs a partition
(its writer connections included): for comparing two versions of the code on the same database,
back to back.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/leadcrm_bench_scoring \\
        .venv/bin/python bench/rescore_once.py [CODE_DIR]

CODE_DIR (default: this checkout) is the tree whose `leadcrm`, `leads` and `scoring` are imported, e.g. a
`git worktree` of an older commit; the database must be migrated for both. Untimed first: every rank row is
reset to unscored and the table compacted (VACUUM FULL), as after a fresh import, so every lead's score changes.
Prints the wall time, this process's CPU time, and the wall time spent in each part (scoring a chunk on the
main thread; the SQL of its write and the reports' rollup marking on the writer threads).
Needs an active model (`score_bench.py --steps train`). Writes scores: bench databases only.
"""

import collections
import os
import sys
import threading
import time
from pathlib import Path

from common import ranks_unscore  # before CODE goes first on sys.path (common puts this checkout there)

CODE = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent
sys.path.insert(0, str(CODE))
os.chdir(CODE)  # Celery's loader puts the working directory first on sys.path
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/leadcrm_bench_scoring")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadcrm.settings")
os.environ.setdefault("DEBUG", "0")
os.environ.setdefault("SECRET_KEY", "bench-only-not-a-secret-0123456789abcdefghijklmnopqrstuvwxyz")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402

from leadcrm.celery import app  # noqa: E402
from leads.reports import rollups  # noqa: E402
from scoring import rescoring, score_store  # noqa: E402

SPENT: collections.Counter = collections.Counter()
_LOCK = threading.Lock()


def timed(module, name: str, label: str) -> None:
    """Wrap module.name to add its wall time to SPENT[label] (per thread kind)."""
    original = getattr(module, name)

    def wrapper(*args, **kwargs):
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            writer = threading.current_thread().name.startswith("rescore")
            with _LOCK:
                SPENT[f"{label} ({'writer threads' if writer else 'main thread'})"] += time.perf_counter() - started

    setattr(module, name, wrapper)


def box_busy_seconds() -> float:
    """Core-seconds every process of the machine has been busy since boot (/proc/stat), to tell the
    database's share of a run from this process's own: on a quiet box the rest is PostgreSQL."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    if "bench" not in connection.settings_dict["NAME"]:
        sys.exit("rescore_once.py writes scores: point DATABASE_URL at a bench database.")
    app.conf.task_always_eager = False
    timed(rescoring, "leads_score", "scoring chunks")
    timed(score_store, "_scores_write_postgres", "the write's SQL")
    timed(rollups, "rollups_mark_leads", "rollup marking")
    with connection.cursor() as cursor:
        ranks_unscore(cursor)
    print(f"code: {Path(rescoring.__file__).parent.parent}; load average at start {os.getloadavg()}", flush=True)
    started, cpu, busy = time.perf_counter(), time.process_time(), box_busy_seconds()
    run = rescoring.rescore_run_continue(rescoring.rescore_run_start())
    wall, cpu, busy = time.perf_counter() - started, time.process_time() - cpu, box_busy_seconds() - busy
    print(f"rescored {run.scored:,} leads, {run.changed:,} changed: wall {wall:.1f} s, this process's CPU {cpu:.1f} s")
    print(f"  the machine's busy core-seconds {busy:.1f} s, of which not this process {busy - cpu:.1f} s")
    for label, seconds in sorted(SPENT.items()):
        print(f"  {label:45s} {seconds:6.1f} s")
    print(f"load average at end {os.getloadavg()}")


if __name__ == "__main__":
    main()
