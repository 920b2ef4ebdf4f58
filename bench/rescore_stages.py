"""Where a rescore partition's time goes: CPU and wall seconds per stage for one partition of
leads on the scoring bench database (PostgreSQL), scored with the active model.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/leadcrm_bench_scoring \\
        .venv/bin/python bench/rescore_stages.py [--leads 50000] [--first-id N] [--write] [--profile]

Stages, per chunk of SCORING_RESCORE_CHUNK leads: read lead rows, activity aggregates (SQL),
frame building, predict (transform + decision + contributions), reasons, the score write
(COPY + history INSERT + UPDATE, then rolled back unless --write). CPU is this process's
(time.process_time); wall includes the database's work. Needs an active model
(`score_bench.py --steps train` makes one). Writes nothing unless --write.
"""

import argparse
import cProfile
import gc
import os
import pstats
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/leadcrm_bench_scoring")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadcrm.settings")
os.environ.setdefault("DEBUG", "0")
os.environ.setdefault("SECRET_KEY", "bench-only-not-a-secret-0123456789abcdefghijklmnopqrstuvwxyz")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from leads.models import Lead  # noqa: E402
from scoring import features as F  # noqa: E402
from scoring import rescoring, scorer, selectors  # noqa: E402
from scoring.score_store import scores_write  # noqa: E402

TIMES: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
_TICK = os.sysconf("SC_CLK_TCK")


def backend_cpu() -> float:
    """CPU seconds (user + system) of this connection's PostgreSQL backend so far, from /proc:
    the database's share of a stage, whatever the load (same host only; 0 when unreadable)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK


class stage:
    def __init__(self, name: str):
        self.name = name

    def __enter__(self):
        self.db = backend_cpu()
        self.cpu, self.wall = time.process_time(), time.perf_counter()

    def __exit__(self, *exc):
        TIMES[self.name][0] += time.process_time() - self.cpu
        TIMES[self.name][1] += time.perf_counter() - self.wall
        TIMES[self.name][2] += backend_cpu() - self.db


def chunk_run(ids: list[int], *, version, loaded, cutoffs, as_of, write: bool) -> None:
    """One chunk through the same functions leads_score and scores_write call, stage by stage."""
    fields, dates = loaded.extras["fields"], loaded.extras.get("dates")
    with stage("read lead rows"):
        rows = F.lead_rows(ids)
    with stage("activity aggregates (SQL)"):
        activity = F.activity_aggregates([r[0] for r in rows], as_of=as_of)
    with stage("frame"):
        frame = F.frame_from_rows(rows, loaded.types, activity, fields, dates)
    with stage("predict + contributions"):
        probabilities, impacts = scorer.score_frame(loaded, frame)
    with stage("reasons"):
        reasons = scorer.reasons_json_for_frame(loaded, frame, impacts)
    with stage("scores + tiers"):
        scored = rescoring.scored_rows(frame.index, probabilities, reasons, cutoffs)
    with stage("write (COPY, history, UPDATE)"), transaction.atomic():
        scores_write(scored, version_id=version.pk, scored_at=as_of)
        if not write:
            transaction.set_rollback(True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=50_000)
    parser.add_argument("--first-id", type=int, default=None, help="default: the middle of the table")
    parser.add_argument("--write", action="store_true", help="commit the scores (default: roll back)")
    parser.add_argument("--profile", action="store_true", help="print cProfile's top functions too")
    parser.add_argument("--gc-off", action="store_true", help="no cyclic garbage collection while scoring")
    args = parser.parse_args()
    version, loaded = selectors.model_in_use()
    if loaded is None:
        sys.exit("No active model: run score_bench.py --steps train first.")
    cutoffs = selectors.tier_cutoffs(version)
    first = args.first_id
    if first is None:
        low, high = Lead.objects.order_by("pk").values_list("pk", flat=True)[:1][0], Lead.objects.latest("pk").pk
        first = low + (high - low) // 2
    ids = list(Lead.objects.filter(pk__gte=first).order_by("pk").values_list("pk", flat=True)[: args.leads])
    as_of = timezone.now()
    chunk = settings.SCORING_RESCORE_CHUNK
    profile = cProfile.Profile() if args.profile else None
    print(f"load average {os.getloadavg()}; {len(ids):,} leads from id {first}, chunk {chunk:,}; model v{version.pk}")
    total_cpu, total_wall = time.process_time(), time.perf_counter()
    if profile:
        profile.enable()
    if args.gc_off:
        gc.disable()
    for i in range(0, len(ids), chunk):
        chunk_run(ids[i : i + chunk], version=version, loaded=loaded, cutoffs=cutoffs, as_of=as_of, write=args.write)
    if profile:
        profile.disable()
    total_cpu, total_wall = time.process_time() - total_cpu, time.perf_counter() - total_wall
    print(f"{'stage':<34} {'CPU s':>7} {'wall s':>7} {'DB CPU s':>9}")
    for name, (cpu, wall, db) in TIMES.items():
        print(f"{name:<34} {cpu:7.2f} {wall:7.2f} {db:9.2f}")
    db_total = sum(t[2] for t in TIMES.values())
    print(f"{'total':<34} {total_cpu:7.2f} {total_wall:7.2f} {db_total:9.2f}")
    scale = 1e6 / max(len(ids), 1)
    print(f"per 1M leads (x{scale:.0f}): CPU {total_cpu * scale:.1f} s + DB CPU {db_total * scale:.1f} s, "
          f"wall {total_wall * scale:.1f} s; load average {os.getloadavg()}")  # fmt: skip
    if profile:
        pstats.Stats(profile).sort_stats("cumulative").print_stats(35)
    connection.close()


if __name__ == "__main__":
    main()
