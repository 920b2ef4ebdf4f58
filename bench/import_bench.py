"""Import benchmark: LeadCRM's job path vs a bare COPY, on one file.

    .venv/bin/python bench/import_bench.py                       # 100k synthetic X Education-shaped rows
    .venv/bin/python bench/import_bench.py --rows 1000000
    .venv/bin/python bench/import_bench.py --csv ../shared/data/x_education_leads.csv --rows 100000

It uses its own PostgreSQL database (default leadcrm_bench_import; `manage.py migrate` it first)
and empties its leads table before each path. Each path runs in a child process so its peak RSS
is its own. Printed: seconds, rows/s, and the ratio to the COPY floor. (The admin's import used
django-import-export's row-by-row resource until issue 14; it now runs this same job path.)
"""

import argparse
import csv
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/leadcrm_bench_import"

# The X Education export's columns, kept once beside the test suite's sample builder.
sys.path.insert(0, str(ROOT))
from tests.leads.import_samples import HEADER  # noqa: E402

LEVELS = {
    "Lead Origin": ["API", "Landing Page Submission", "Lead Add Form", "Lead Import"],
    "Lead Source": ["Google", "google", "Direct Traffic", "Olark Chat", "Organic Search", "Reference", ""],
    "Last Activity": ["Email Opened", "SMS Sent", "Page Visited on Website", "Olark Chat Conversation"],
    "Country": ["India", "", "Singapore", "United States"],
    "Specialization": ["Select", "Finance Management", "Marketing Management", "", "Business Administration"],
    "How did you hear about X Education": ["Select", "Online Search", "Word Of Mouth", ""],
    "What is your current occupation": ["Unemployed", "Student", "Working Professional", ""],
    "What matters most to you in choosing a course": ["Better Career Prospects", ""],
    "Tags": ["Ringing", "Will revert after reading the email", "", "Interested in other courses"],
    "Lead Quality": ["Low in Relevance", "Might be", "", "Not Sure"],
    "Lead Profile": ["Select", "Potential Lead", ""],
    "City": ["Select", "Mumbai", "Thane & Outskirts", ""],
    "Asymmetrique Activity Index": ["01.High", "02.Medium", "03.Low", ""],
    "Asymmetrique Profile Index": ["01.High", "02.Medium", ""],
    "Last Notable Activity": ["Modified", "Email Opened", "SMS Sent"],
}
FLAGS = [
    "Do Not Email", "Do Not Call", "Search", "Magazine", "Newspaper Article", "X Education Forums", "Newspaper",
    "Digital Advertisement", "Through Recommendations", "Receive More Updates About Our Courses",
    "Update me on Supply Chain Content", "Get updates on DM Content", "I agree to pay the amount through cheque",
    "A free copy of Mastering The Interview",
]  # fmt: skip


def generate(path: Path, rows: int, seed: int = 7) -> None:
    """A synthetic X Education-shaped file: same header (and trailing comma), same quirks."""
    rng = random.Random(seed)
    pools = [LEVELS.get(c) for c in HEADER]
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow([*HEADER, ""])
        for i in range(rows):
            row = []
            for column, pool in zip(HEADER, pools, strict=True):
                if pool is not None:
                    row.append(rng.choice(pool))
                elif column == "Prospect ID":
                    row.append(f"{i:08x}-bench-{seed}")
                elif column == "Lead Number":
                    row.append(str(600000 + i))
                elif column == "Converted":
                    row.append("1" if rng.random() < 0.385 else "0")
                elif column == "TotalVisits":
                    row.append("" if rng.random() < 0.015 else str(rng.randint(0, 30)))
                elif column == "Total Time Spent on Website":
                    row.append(str(rng.randint(0, 2200)))
                elif column == "Page Views Per Visit":
                    row.append("" if rng.random() < 0.015 else f"{rng.uniform(0, 8):.2f}")
                elif column in ("Asymmetrique Activity Score", "Asymmetrique Profile Score"):
                    row.append(str(rng.randint(7, 20)) if rng.random() > 0.4 else "")
                elif column in FLAGS:
                    row.append("Yes" if rng.random() < 0.08 else "No")
                else:
                    row.append("")
            row.append("")
            writer.writerow(row)


def repeat_real(path: Path, source: Path, rows: int) -> None:
    """The real file's rows repeated to `rows`, each copy with its own Prospect IDs."""
    with open(source, newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        data = list(reader)
    id_index = header.index("Prospect ID")
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        for i in range(rows):
            row = list(data[i % len(data)])
            if i >= len(data):
                row[id_index] = f"{row[id_index]}-r{i // len(data)}"
            writer.writerow(row)


# --- child phases (each in its own process) ---------------------------------------------------
def _django(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadcrm.settings")
    # Scoring after the import is a separate, asynchronous job: queue it (in memory), do not run it here.
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "false"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("DEBUG", "false")
    os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
    os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz")
    os.environ.pop("REDIS_URL", None)
    # A 1M-row X Education-shaped file is about 250 MB, above the 200 MB default limit.
    os.environ["IMPORT_MAX_FILE_BYTES"] = str(2 * 1024**3)
    # Stored upload copies go to the bench's scratch directory, not the repository's var/.
    os.environ["LEADCRM_VAR_DIR"] = os.environ.get("IMPORT_BENCH_VAR_DIR", tempfile.gettempdir())
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def _truncate() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE leads_lead, leads_importrowerror, leads_importjob RESTART IDENTITY CASCADE")


def _time_scoring_handoff() -> dict:
    """Time scoring.rescoring.import_completed (the post-commit hand-off) separately."""
    import scoring.rescoring

    spent = {"seconds": 0.0}
    original = scoring.rescoring.import_completed

    def timed(**kwargs):
        started = time.perf_counter()
        original(**kwargs)
        spent["seconds"] += time.perf_counter() - started

    scoring.rescoring.import_completed = timed
    return spent


def _timed_import(file: Path):
    """The job path end to end with the x_education profile: (seconds, finished job)."""
    from leads.importing import services
    from leads.models import ImportProfile

    profile = ImportProfile.objects.get(name="x_education")
    started = time.perf_counter()
    job = services.import_job_create(file=file, user=None, profile=profile)
    job = services.import_job_run(job_id=job.pk)
    seconds = time.perf_counter() - started
    assert job.status == "succeeded", job.error
    return seconds, job


def phase_job(file: Path, rows_for_die: int) -> dict:
    from leads.models import Lead

    _truncate()
    handoff = _time_scoring_handoff()
    seconds, job = _timed_import(file)
    return {
        "seconds": seconds,
        "rows": job.rows_total,
        "created": job.created_count,
        "leads": Lead.objects.count(),
        "closed": Lead.objects.filter(status__in=["converted", "lost"]).count(),
        "scoring_handoff_seconds": handoff["seconds"],
    }


def phase_job_again(file: Path, rows_for_die: int) -> dict:
    """Re-import of the same file into the filled table: every row unchanged."""
    seconds, job = _timed_import(file)
    return {"seconds": seconds, "rows": job.rows_total, "unchanged": job.unchanged_count}


def phase_copy(file: Path, rows_for_die: int) -> dict:
    """The floor: COPY the same CSV into an unlogged table of text columns, nothing else."""
    from django.db import connection

    with open(file, encoding="utf-8") as handle:
        width = len(next(csv.reader(handle)))
    columns = ", ".join(f"c{i} text" for i in range(width))
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_copy")
        cursor.execute(f"CREATE UNLOGGED TABLE bench_copy ({columns})")
        started = time.perf_counter()
        with (
            open(file, "rb") as handle,
            cursor.cursor.copy("COPY bench_copy FROM STDIN (FORMAT csv, HEADER true)") as copy,
        ):
            while block := handle.read(1 << 20):
                copy.write(block)
        seconds = time.perf_counter() - started
        cursor.execute("SELECT count(*) FROM bench_copy")
        rows = cursor.fetchone()[0]
        cursor.execute("DROP TABLE bench_copy")
    return {"seconds": seconds, "rows": rows}


def _snapshot() -> dict:
    """What an import decided for each lead (timestamps aside), to compare the three doors."""
    import hashlib

    from leads.models import Lead

    digest = hashlib.sha256()
    fields = ("external_id", "name", "email", "phone", "source", "origin", "status", "lost_reason", "attributes")
    rows = Lead.objects.order_by("external_id").values_list(*fields)
    count = converted = select_seen = 0
    for row in rows.iterator(chunk_size=5000):
        digest.update(json.dumps(row, sort_keys=True, default=str).encode())
        count += 1
        converted += row[6] == "converted"
        select_seen += "Select" in json.dumps(row[-1])
    return {"leads": count, "converted": converted, "rows_with_Select": select_seen, "sha256": digest.hexdigest()}


def phase_doors(file: Path, rows_for_die: int) -> dict:
    """The same file through the command, the API and the admin's import page (preview + confirm)."""
    import re
    from io import StringIO

    from django.core.management import call_command
    from django.test import Client, override_settings
    from rest_framework.test import APIClient

    from leads.models import ImportProfile, User

    admin, _ = User.objects.get_or_create(username="bench_import_admin", defaults={"role": "admin"})
    results = {}

    _truncate()
    call_command("import_leads", str(file), profile="x_education", stdout=StringIO())
    results["command"] = _snapshot()

    _truncate()
    client = APIClient()
    client.force_authenticate(admin)
    with open(file, "rb") as handle, override_settings(CELERY_TASK_ALWAYS_EAGER=True):
        from leadcrm.celery import app

        app.conf.task_always_eager = True
        response = client.post("/api/v1/imports/", {"file": handle, "profile": "x_education"}, format="multipart")
        app.conf.task_always_eager = False
    assert response.status_code == 202, response.content
    results["api"] = _snapshot()

    _truncate()
    browser = Client()
    admin.is_staff = True
    admin.save(update_fields=["is_staff"])
    browser.force_login(admin)
    profile = ImportProfile.objects.get(name="x_education")
    with open(file, "rb") as handle, override_settings(IMPORT_ADMIN_SYNC_MAX_ROWS=10**9):
        preview = browser.post(
            "/admin/leads/lead/import/", {"import_file": handle, "profile": profile.pk, "mode": "atomic"}
        )
    job = re.search(r'name="job" value="(\d+)"', preview.content.decode())
    assert job, preview.content.decode()[:2000]
    done = browser.post("/admin/leads/lead/process_import/", {"job": job.group(1)})
    assert done.status_code == 302, done.content[:500]
    results["admin (preview + confirm)"] = _snapshot()
    return results


PHASES = {
    "job": phase_job,
    "job_again": phase_job_again,
    "copy": phase_copy,
    "doors": phase_doors,
}


def child(args) -> None:
    _django(args.database_url)
    result = PHASES[args.phase](Path(args.file), args.die_rows)
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def run_phase(phase: str, file: Path, args) -> dict:
    command = [
        sys.executable, __file__, "--phase", phase, "--file", str(file), "--die-rows", str(args.die_rows),
        "--database-url", args.database_url,
    ]  # fmt: skip
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    if completed.returncode:
        sys.stderr.write(completed.stderr)
        raise SystemExit(f"phase {phase} failed")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--csv", type=Path, help="repeat a real file (e.g. ../shared/data/x_education_leads.csv)")
    parser.add_argument("--die-rows", type=int, default=5_000, help="django-import-export sample size")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL))
    parser.add_argument("--skip-reimport", action="store_true")
    parser.add_argument("--doors", type=Path, help="import this file through command, API and admin; compare")
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        return child(args)

    workdir = Path(tempfile.mkdtemp(prefix="import-bench-"))
    os.environ["IMPORT_BENCH_VAR_DIR"] = str(workdir)
    if args.doors:
        started = time.perf_counter()
        results = run_phase("doors", args.doors, args)
        results.pop("peak_rss_mb", None)
        for door, snapshot in results.items():
            print(f"{door:<32} {json.dumps(snapshot)}")
        same = len({r["sha256"] for r in results.values()}) == 1
        print(f"identical results through all three doors: {same} ({time.perf_counter() - started:.0f} s)")
        shutil.rmtree(workdir)
        raise SystemExit(0 if same else 1)
    file = workdir / "leads.csv"
    started = time.perf_counter()
    if args.csv:
        repeat_real(file, args.csv, args.rows)
    else:
        generate(file, args.rows)
    size_mb = file.stat().st_size / 1e6
    print(f"file: {args.rows:,} rows, {size_mb:.1f} MB ({'repeated ' + str(args.csv) if args.csv else 'synthetic'});"
          f" generated in {time.perf_counter() - started:.1f} s")  # fmt: skip
    args.die_rows = min(args.die_rows, args.rows)

    copy = run_phase("copy", file, args)
    job = run_phase("job", file, args)
    again = None if args.skip_reimport else run_phase("job_again", file, args)
    assert job["leads"] == args.rows == job["closed"], job

    rate = {name: r["rows"] / r["seconds"] for name, r in (("copy", copy), ("job", job))}
    lines = [
        ("bare COPY into unlogged text table", copy, rate["copy"], ""),
        ("LeadCRM job path (parse, validate, upsert, commit)", job, rate["job"], ""),
    ]
    if again:
        lines.append(("LeadCRM re-import, all rows unchanged", again, again["rows"] / again["seconds"], ""))

    print()
    print(f"{'path':<62} {'rows':>10} {'seconds':>9} {'rows/s':>10} {'x COPY time':>12} {'peak RSS MB':>12}")
    for name, result, per_second, _ in lines:
        seconds = result["seconds"] if result["rows"] == args.rows else args.rows / per_second
        print(
            f"{name:<62} {args.rows:>10,} {seconds:>9.1f} {per_second:>10,.0f} "
            f"{rate['copy'] / per_second:>11.1f}x {result['peak_rss_mb']:>12.0f}"
        )
    print()
    print(f"LeadCRM job path vs bare COPY: {rate['copy'] / rate['job']:.1f}x the COPY time")
    print(
        f"of the job path, scoring.rescoring.import_completed (post-commit hand-off to scoring) took "
        f"{job['scoring_handoff_seconds']:.1f} s"
    )
    shutil.rmtree(workdir)


if __name__ == "__main__":
    main()
