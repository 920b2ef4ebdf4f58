"""The cost curve: how each workload grows from 10k to 1M leads, in one table.

    .venv/bin/python bench/cost_curve.py [--sizes 10000,100000,1000000] [--steps import,train,rescore,queue,reports]
                                         [--workers 1,2] [--train-max 1000000]

For each size it runs the project's own benchmarks as child processes, each against its own bench database,
and reads their figures (never re-implementing them):
- import:  bench/import_bench.py --rows N --skip-reimport       -> end-to-end rows/s and the job's peak RSS
- train:   bench/score_bench.py --steps train --train-leads N   -> training time with 5-fold CV (full app path)
- rescore: bench/score_bench.py --steps rescore --rescore-leads N [--workers W] -> full rescore time per W
- queue:   bench/make_data.py --leads N --activities 5N, then bench/queue_bench.py -> p95 of 200 requests
- reports: bench/reports_bench.py on the same data -> the slowest report computed in the request
Every step also records its child's wall time and peak RSS (os.wait4: the child process itself, not the
Celery workers a rescore may start). Results go to bench/out/cost_curve.json and a Markdown table is printed
for BENCHMARKS.md. The machine and load average are printed with it. Sizes run smallest first, so a reader
sees the curve build up; a step that fails is recorded as failed and the rest go on.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "bench" / "out"
PYTHON = sys.executable
HOST_URL = "postgres://postgres@127.0.0.1:5432"
SCORING_DB = f"{HOST_URL}/leadcrm_bench_curve_scoring"
QUEUE_DB = f"{HOST_URL}/leadcrm_bench_curve"
IMPORT_DB = f"{HOST_URL}/leadcrm_bench_curve_import"
STEPS = ("import", "train", "rescore", "queue", "reports")


def run(command: list[str], *, env: dict | None = None) -> dict:
    """Run one benchmark; its output, wall time and peak RSS (MB) of the child process."""
    started = time.perf_counter()
    with subprocess.Popen(
        command,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as child:
        output = child.stdout.read() if child.stdout else ""
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
    return {
        "ok": child.returncode == 0,
        "seconds": round(time.perf_counter() - started, 1),
        "peak_rss_mb": round(usage.ru_maxrss / 1024),
        "output": output,
    }


def said(output: str, label_start: str) -> str | None:
    """A figure printed by score_bench's `say` (label padded to 48 columns, then the value)."""
    for line in output.splitlines():
        if line.startswith(label_start):
            return line[48:].strip() or line[len(label_start) :].strip()
    return None


def number(text: str | None) -> float | None:
    match = re.search(r"-?[\d,]+(?:\.\d+)?", text or "")
    return float(match.group().replace(",", "")) if match else None


def database_ready(url: str) -> None:
    """Create the bench database when missing and migrate it (the benches that don't do it themselves)."""
    name = url.rsplit("/", 1)[1]
    exists = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-tAc", f"SELECT 1 FROM pg_database WHERE datname = '{name}'"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    if not exists:
        subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-c", f"CREATE DATABASE {name}"], check=True)
    subprocess.run(
        [PYTHON, "manage.py", "migrate", "--noinput", "-v0"],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": url},
        check=True,
    )


def score_bench_takes_workers() -> bool:
    return (
        "--workers"
        in subprocess.run([PYTHON, "bench/score_bench.py", "--help"], cwd=ROOT, capture_output=True, text=True).stdout
    )


def step_import(n: int) -> dict:
    result = run([PYTHON, "bench/import_bench.py", "--rows", str(n), "--skip-reimport", "--database-url", IMPORT_DB])
    line = next((row for row in result["output"].splitlines() if row.startswith("LeadCRM job path (")), "")
    figures = line.split()[-5:] if line else []
    if len(figures) == 5:
        result["rows_per_second"] = number(figures[2])
        result["job_peak_rss_mb"] = number(figures[4])
    return result


def step_train(n: int) -> dict:
    result = run(
        [PYTHON, "bench/score_bench.py", "--steps", "train", "--train-leads", str(n)], env={"DATABASE_URL": SCORING_DB}
    )
    result["train_seconds"] = number(said(result["output"], f"train {n:,} leads"))
    result["candidate"] = said(result["output"], "  chosen candidate")
    return result


def step_rescore(n: int, workers: int) -> dict:
    command = [PYTHON, "bench/score_bench.py", "--steps", "train,rescore", "--train-leads", str(min(n, 20_000))]
    command += ["--rescore-leads", str(n)]
    if score_bench_takes_workers():
        command += ["--workers", str(workers)]
    elif workers > 1:
        return {"ok": False, "seconds": 0.0, "peak_rss_mb": 0, "output": "score_bench.py has no --workers"}
    result = run(command, env={"DATABASE_URL": SCORING_DB})
    line = next((row for row in result["output"].splitlines() if row.startswith("rescore ") and "again" not in row), "")
    result["rescore_seconds"] = number(line[48:]) if line else None
    result["leads_per_second"] = number(said(result["output"], "  leads per second"))
    return result


def measured(result: dict) -> dict:
    """A bench that measured but missed its target exits 1 after writing its figures ("results
    written to" / "wrote"): that is a figure for the curve, not a failed step. `target_met` keeps the verdict."""
    result["target_met"] = result["ok"]
    wrote = any(line.startswith(("results written to", "wrote ")) for line in result["output"].splitlines())
    result["ok"] = result["ok"] or wrote
    return result


def step_queue(n: int) -> dict:
    data = run(
        [PYTHON, "bench/make_data.py", "--leads", str(n), "--activities", str(5 * n), "--database-url", QUEUE_DB]
    )
    if not data["ok"]:
        return {**data, "stage": "make_data"}
    result = measured(run([PYTHON, "bench/queue_bench.py", "--database-url", QUEUE_DB, "--deep-pages", "1,10"]))
    result["make_data_seconds"] = data["seconds"]
    queue = json.loads((OUT_DIR / "queue_bench.json").read_text()) if result["ok"] else {}
    result["p95_ms"] = (queue.get("summary") or {}).get("p95")
    result["max_queries"] = queue.get("max_queries")
    return result


def step_reports(n: int) -> dict:
    result = measured(run([PYTHON, "bench/reports_bench.py", "--database-url", QUEUE_DB, "--repeat", "1"]))
    if result["ok"]:
        views = json.loads((OUT_DIR / "reports_bench.json").read_text())["results"]
        computed = {name: figures["p50"] for name, figures in views.items() if name.endswith(", computed")}
        served = {name: figures["p50"] for name, figures in views.items() if name.endswith(", from summary")}
        if computed:
            result["slowest_computed"] = max(computed.items(), key=lambda item: item[1])
        if served:
            result["slowest_served"] = max(served.items(), key=lambda item: item[1])
    return result


STEP_FUNCTIONS = {"import": step_import, "train": step_train, "queue": step_queue, "reports": step_reports}


def cell(figure, unit: str = "") -> str:
    if figure is None:
        return "—"
    if isinstance(figure, float) and figure >= 100:
        return f"{figure:,.0f}{unit}"
    return f"{figure:,}{unit}" if isinstance(figure, int) else f"{figure:.1f}{unit}"


def table(rows: list[dict], sizes: list[int], workers: list[int]) -> str:
    by_size = {row["size"]: row for row in rows}
    header = "| workload | " + " | ".join(f"{size:,} leads" for size in sizes) + " |"
    lines = [header, "|---|" + "---|" * len(sizes)]

    def line(label: str, pick) -> None:
        values = []
        for size in sizes:
            try:
                values.append(pick(by_size[size]))
            except (KeyError, TypeError):
                values.append("—")
        lines.append(f"| {label} | " + " | ".join(values) + " |")

    line(
        "import: rows/s (job peak RSS)",
        lambda r: f"{cell(r['import'].get('rows_per_second'))} ({cell(r['import'].get('job_peak_rss_mb'), ' MB')})",
    )
    line(
        "training, 5-fold CV: s (peak RSS)",
        lambda r: f"{cell(r['train'].get('train_seconds'), ' s')} ({cell(r['train']['peak_rss_mb'], ' MB')})",
    )
    for w in workers:
        line(
            f"full rescore, {w} worker{'s' if w > 1 else ''}: s (leads/s)",
            lambda r, w=w: (
                f"{cell(r[f'rescore_{w}'].get('rescore_seconds'), ' s')} ({cell(r[f'rescore_{w}'].get('leads_per_second'))})"
            ),
        )
    line(
        "queue p95 of 200 requests (max queries)",
        lambda r: f"{cell(r['queue'].get('p95_ms'), ' ms')} ({r['queue'].get('max_queries')})",
    )
    line(
        "slowest report computed in the request",
        lambda r: f"{cell(r['reports']['slowest_computed'][1], ' ms')} ({r['reports']['slowest_computed'][0]})",
    )
    line(
        "slowest report as served",
        lambda r: f"{cell(r['reports']['slowest_served'][1], ' ms')} ({r['reports']['slowest_served'][0]})",
    )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--steps", default=",".join(STEPS))
    parser.add_argument("--workers", default="1,2", help="worker counts for the full rescore")
    parser.add_argument("--train-max", type=int, default=1_000_000, help="largest size that also trains")
    args = parser.parse_args()
    sizes = sorted(int(size) for size in args.sizes.split(","))
    steps = [step for step in args.steps.split(",") if step]
    workers = [int(w) for w in args.workers.split(",")]
    unknown = set(steps) - set(STEPS)
    if unknown:
        parser.error(f"unknown steps: {', '.join(sorted(unknown))}")

    for url in (SCORING_DB, IMPORT_DB):
        database_ready(url)
    print(f"cost curve, {time.strftime('%Y-%m-%d %H:%M:%S %Z')}, nproc {os.cpu_count()}, load {os.getloadavg()}")
    rows = []
    for size in sizes:
        row: dict = {"size": size, "load_before": os.getloadavg()}
        for step in steps:
            if step == "train" and size > args.train_max:
                continue
            if step == "rescore":
                targets = [(f"rescore_{w}", step_rescore, (size, w)) for w in workers]
            else:
                targets = [(step, STEP_FUNCTIONS[step], (size,))]
            for key, function, arguments in targets:
                result = function(*arguments)
                output = result.pop("output", "")
                if not result["ok"]:
                    result["tail"] = output.splitlines()[-15:]
                row[key] = result
                print(
                    f"{size:>9,} {key:<10} {'ok' if result['ok'] else 'FAILED'} {result['seconds']:>8.1f} s", flush=True
                )
        rows.append(row)
        OUT_DIR.mkdir(parents=True, exist_ok=True)
        (OUT_DIR / "cost_curve.json").write_text(json.dumps(rows, indent=2, default=str))
    print()
    print(table(rows, sizes, workers))
    print(f"\nload average at the end {os.getloadavg()}; details in {OUT_DIR / 'cost_curve.json'}")
    return 0 if all(value.get("ok", True) for row in rows for value in row.values() if isinstance(value, dict)) else 1


if __name__ == "__main__":
    raise SystemExit(main())
