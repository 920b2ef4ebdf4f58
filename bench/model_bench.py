"""Model quality through the app, against a plain HistGradientBoostingClassifier.

Given a CSV and a mapping (an import profile as JSON: mapping, outcome_column, converted_values,
lost_values, column_types, excluded_columns, placeholder_values), the bench wipes a scratch
database, imports the file through the app's import pipeline, trains through the app
(training_runs.model_train, as `train_model` does) and then fits a plain
HistGradientBoostingClassifier (default settings) on the same columns under the same holdout split.
It prints the trained version's CV / holdout figures, its gates and status, and the gap to the plain
model. Targets (issue 13): holdout within 0.03 of CV, the app's model within 0.01 of plain HGB,
never active with holdout ROC AUC < 0.55.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/leadcrm_bench_models \\
        .venv/bin/python bench/model_bench.py --csv ../shared/data/x_education_leads.csv --profile x_education
    .venv/bin/python bench/model_bench.py --synthetic drift      # generates a file, then as above
    .venv/bin/python bench/model_bench.py --synthetic dategap    # needs date features (issue 13 part B)
    .venv/bin/python bench/model_bench.py --csv FILE --mapping FILE.json

Synthetic files (written to bench/out/):
- drift: a telemarketing-like export in time order (= row order): the conversion rate rises from
  about 3 % in the first fifth to about 30 % in the last, and `market_rate` tracks the era.
- dategap: a retail file whose strongest signal is the days from `signup_date` to `enquiry_date`.
"""

import argparse
import csv
import json
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/leadcrm_bench_models")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadcrm.settings")
os.environ.setdefault("LEADCRM_VAR_DIR", "/tmp/leadcrm_bench_models")
os.environ.setdefault("DEBUG", "0")
os.environ.setdefault("SECRET_KEY", "bench-only-not-a-secret-0123456789abcdefghijklmnopqrstuvwxyz")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402
from sklearn.ensemble import HistGradientBoostingClassifier  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402

from leads.importing import services as import_services  # noqa: E402
from leads.models import ImportProfile, Lead  # noqa: E402
from scoring import features as F  # noqa: E402
from scoring import registry, training, training_runs  # noqa: E402
from scoring.models import ScoringSettings  # noqa: E402
from scoring.selectors import outcome_leads_for  # noqa: E402

OUT = ROOT / "bench" / "out"
PROFILE_FIELDS = (
    "mapping",
    "outcome_column",
    "converted_values",
    "lost_values",
    "column_types",
    "excluded_columns",
    "placeholder_values",
)


def say(label: str, value) -> None:
    print(f"{label:<44} {value}", flush=True)


def wipe() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE leads_activity, leads_followup, scoring_scorehistory, scoring_rescorerun, scoring_trainingrun, "
            "scoring_activationevent, leads_lead, scoring_modelversion RESTART IDENTITY CASCADE"
        )
    registry.cache_clear()


# --- synthetic files ----------------------------------------------------------------------


def drift_file(n: int = 20_000, seed: int = 7) -> tuple[Path, dict]:
    rng = np.random.default_rng(seed)
    position = np.linspace(0.0, 1.0, n)
    jobs = np.array(["admin", "technician", "services", "management", "retired", "student", "blue-collar"])
    job = rng.choice(jobs, size=n)
    age = rng.integers(18, 80, size=n)
    contacts = rng.poisson(2.0, size=n) + 1
    previous = rng.choice(["success", "failure", "nonexistent"], size=n, p=[0.05, 0.15, 0.8])
    market_rate = np.round(4.9 - 4.0 * position + rng.normal(0, 0.25, n), 3)
    logit = (
        -4.3
        + 3.0 * position
        + np.select([previous == "success", previous == "failure"], [2.0, 0.3], 0.0)
        + np.where(np.isin(job, ["retired", "student"]), 0.8, 0.0)
        - 0.15 * contacts
        + 0.01 * (age - 40)
    )
    y = rng.random(n) < 1 / (1 + np.exp(-logit))
    path = OUT / "model_bench_drift.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "age", "job", "contacts", "previous_outcome", "market_rate", "subscribed"])
        for i in range(n):
            row = [f"d{i}", age[i], job[i], contacts[i], previous[i], market_rate[i], "yes" if y[i] else "no"]
            writer.writerow(row)
    mapping = {
        "mapping": {"external_id": "id"},
        "outcome_column": "subscribed",
        "converted_values": ["yes"],
        "lost_values": ["no"],
        "column_types": {"age": "number", "contacts": "number", "market_rate": "number"},
        "excluded_columns": {},
        "placeholder_values": [],
    }
    return path, mapping


def dategap_file(n: int = 20_000, seed: int = 8) -> tuple[Path, dict]:
    rng = np.random.default_rng(seed)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    enquiry = [start + timedelta(days=float(d)) for d in rng.uniform(0, 365, n)]
    gap = rng.exponential(40.0, n)
    signup = [e - timedelta(days=float(g)) for e, g in zip(enquiry, gap, strict=True)]
    channel = rng.choice(["web", "store", "app", "partner"], size=n)
    basket = np.round(rng.gamma(2.0, 30.0, n), 2)
    logit = -0.6 - 0.035 * gap + np.where(channel == "app", 0.5, 0.0) + 0.004 * basket
    y = rng.random(n) < 1 / (1 + np.exp(-logit))
    path = OUT / "model_bench_dategap.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "signup_date", "enquiry_date", "channel", "basket_value", "bought"])
        for i in range(n):
            row = [f"g{i}", signup[i].date().isoformat(), enquiry[i].date().isoformat(), channel[i], basket[i]]
            writer.writerow([*row, "1" if y[i] else "0"])
    mapping = {
        "mapping": {"external_id": "id", "created_at": "enquiry_date"},
        "outcome_column": "bought",
        "converted_values": ["1"],
        "lost_values": ["0"],
        "column_types": {"basket_value": "number", "signup_date": "date"},
        "excluded_columns": {},
        "placeholder_values": [],
    }
    return path, mapping


# --- the run ------------------------------------------------------------------------------


def profile_for(name: str, mapping: dict | None) -> ImportProfile:
    if mapping is None:
        profile = ImportProfile.objects.filter(name=name).first()
        if profile is None:
            sys.exit(f"No import profile {name!r}.")
        return profile
    fields = {key: mapping[key] for key in PROFILE_FIELDS if key in mapping}
    profile, _ = ImportProfile.objects.update_or_create(name=name, defaults=fields)
    return profile


def import_file(path: Path, profile: ImportProfile) -> None:
    started = time.perf_counter()
    job = import_services.import_job_create(file=str(path), user=None, profile=profile, mode="atomic", dry_run=False)
    job = import_services.import_job_run(job_id=job.pk)
    if job.error:
        sys.exit(f"import failed: {job.error}")
    say("import (s)", f"{time.perf_counter() - started:.1f} ({job.created_count} leads)")


def plain_hgb_holdout_auc(version) -> float:
    """A default HistGradientBoostingClassifier on the version's columns under the same split."""
    options = ScoringSettings.current()
    rows = list(outcome_leads_for(options).order_by("pk").values_list("pk", "status", "created_at"))
    types = version.features["types"]
    frame = F.lead_frame(
        [r[0] for r in rows],
        as_of=timezone.now(),
        types=types,
        fields=version.features["fields"],
        dates=version.features.get("dates"),
    )
    for column, kind in types.items():
        frame[column] = frame[column].astype("category") if kind == F.CATEGORY else frame[column].astype("float64")
    positive = options.conversion_status or Lead.Status.CONVERTED
    y = np.array([1 if r[1] == positive else 0 for r in rows])
    train_idx, hold_idx, _ = training.holdout_split(y, np.array([r[2] for r in rows], dtype=object))
    model = HistGradientBoostingClassifier(random_state=training.RANDOM_STATE)
    model.fit(frame.iloc[train_idx], y[train_idx])
    return float(roc_auc_score(y[hold_idx], model.predict_proba(frame.iloc[hold_idx])[:, 1]))


def run(path: Path, profile: ImportProfile, folds: int) -> None:
    say("file", path)
    say("load average at start", " ".join(f"{x:.2f}" for x in os.getloadavg()))
    wipe()
    settings.SCORING_RETRAIN_AFTER_OUTCOMES = 10**9  # the bench trains explicitly below
    import_file(path, profile)
    started = time.perf_counter()
    version = training_runs.model_train(folds=folds)
    say(f"train (model_train, {folds} folds) (s)", f"{time.perf_counter() - started:.1f}")
    version.refresh_from_db()
    metrics = version.metrics
    cv, holdout, shuffled = metrics["cv"], metrics["holdout"], metrics.get("holdout_shuffled")
    say("chosen candidate", version.params.get("candidate"))
    say("CV ROC AUC (calibrated)", f"{cv['roc_auc']['mean']:.4f} ± {cv['roc_auc']['std']:.4f}")
    say("CV ECE (calibrated)", cv["ece"])
    say(f"holdout ({holdout['split']}, {holdout['n']})", f"ROC AUC {holdout['roc_auc']}, ECE {holdout['ece']}")
    if shuffled:
        say(f"holdout ({shuffled['split']}, {shuffled['n']})", f"ROC AUC {shuffled['roc_auc']}, ECE {shuffled['ece']}")
    say("holdout - CV", f"{holdout['roc_auc'] - cv['roc_auc']['mean']:+.4f} (target within 0.03)")
    say("gates", "passed" if not metrics["gates"] else "; ".join(metrics["gates"]))
    say("leak warnings", json.dumps(metrics.get("leak_warnings") or {})[:300] or "none")
    say("status", version.status)
    say("features used", f"{len(version.features['used'])}: {', '.join(version.features['used'])[:300]}")
    started = time.perf_counter()
    plain = plain_hgb_holdout_auc(version)
    say("plain HGB holdout ROC AUC (same split)", f"{plain:.4f} ({time.perf_counter() - started:.1f} s)")
    gap = holdout["roc_auc"] - plain
    say("app - plain HGB", f"{gap:+.4f} (target >= -0.01: {'PASS' if gap >= -0.01 else 'MISS'})")
    never = version.status != "active" or holdout["roc_auc"] >= 0.55
    say("never active with holdout < 0.55", "PASS" if never else "MISS")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--csv", help="the file to import")
    parser.add_argument("--mapping", help="an import profile as JSON (else --profile names a saved one)")
    parser.add_argument("--profile", default="", help="a saved import profile, e.g. x_education")
    parser.add_argument("--synthetic", choices=["drift", "dategap"], help="generate a file and its mapping")
    parser.add_argument("--rows", type=int, default=20_000, help="rows of a synthetic file")
    parser.add_argument("--cv", type=int, default=5)
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("The model bench needs PostgreSQL: set DATABASE_URL to a scratch database.")
    call_command("migrate", verbosity=0)
    OUT.mkdir(parents=True, exist_ok=True)
    if args.synthetic:
        path, mapping = (drift_file if args.synthetic == "drift" else dategap_file)(args.rows)
        profile = profile_for(f"bench_{args.synthetic}", mapping)
    elif args.csv:
        path = Path(args.csv)
        mapping = json.loads(Path(args.mapping).read_text()) if args.mapping else None
        profile = profile_for(args.profile or f"bench_{path.stem}"[:64], mapping)
    else:
        sys.exit("Give --csv FILE (with --profile or --mapping) or --synthetic drift|dategap.")
    run(path, profile, args.cv)


if __name__ == "__main__":
    main()
