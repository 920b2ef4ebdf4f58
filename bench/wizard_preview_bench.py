#!/usr/bin/env python
"""Import wizard preview on a large file: the sample read (file checks, header, first
IMPORT_PREVIEW_ROWS rows, column facts) and the preview (validation + rows as stored + the
new/updated/unchanged counts of the sample, written in a rolled-back transaction).

    .venv/bin/python bench/wizard_preview_bench.py                # a ~200 MB X Education-shaped file
    .venv/bin/python bench/wizard_preview_bench.py --mb 50

Target: the wizard answers within 2 s whatever the file's size (it reads a sample, never the
whole file). Runs on SQLite in a scratch directory unless DATABASE_URL is set. Exits non-zero
when a step misses the target.
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
TARGET_SECONDS = 2.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=int, default=200, help="file size to generate (MB)")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="wizard-bench-"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadcrm.settings")
    os.environ["LEADCRM_VAR_DIR"] = str(scratch)
    os.environ.setdefault("SQLITE_PATH", str(scratch / "bench.sqlite3"))
    os.environ["IMPORT_MAX_FILE_BYTES"] = str((args.mb + 50) * 1024 * 1024)
    import django

    django.setup()
    from django.core.management import call_command

    if "DATABASE_URL" not in os.environ:
        call_command("migrate", verbosity=0)

    sys.path.insert(0, str(ROOT / "bench"))
    from import_bench import generate

    from leads.importing.profiles import spec_from_profile
    from leads.importing.wizard import leak_hints, preview_build, sample_read
    from leads.models import ImportProfile

    path = scratch / "leads.csv"
    rows = args.mb * 1_000_000 // 250  # about 250 bytes a row
    started = time.perf_counter()
    generate(path, rows)
    size = path.stat().st_size
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    print(f"file: {rows:,} rows, {size / 1e6:.0f} MB, generated in {time.perf_counter() - started:.0f} s")

    spec = spec_from_profile(ImportProfile.objects.get(name="x_education"))
    timings = {}
    started = time.perf_counter()
    sample = sample_read(path, name="leads.csv")
    timings["upload step: sample read + column facts"] = time.perf_counter() - started
    started = time.perf_counter()
    hints = leak_hints(sample, spec)
    timings["columns step: sample + leak hints"] = (
        time.perf_counter() - started + timings["upload step: sample read + column facts"]
    )
    started = time.perf_counter()
    preview = preview_build(sample_read(path, name="leads.csv"), spec)
    timings["preview step: sample + validation + rolled-back write"] = time.perf_counter() - started
    print(f"sample: {len(sample.rows):,} rows, {len(sample.header)} columns; {len(hints)} leak hints; "
          f"preview: {preview.created} new, {preview.failed} failed")  # fmt: skip
    missed = False
    for name, seconds in timings.items():
        verdict = "PASS" if seconds <= TARGET_SECONDS else "MISS"
        missed |= verdict == "MISS"
        print(f"{name:<58} {seconds:6.2f} s  (target {TARGET_SECONDS:.0f} s) {verdict}")
    path.unlink()
    raise SystemExit(1 if missed else 0)


if __name__ == "__main__":
    main()
