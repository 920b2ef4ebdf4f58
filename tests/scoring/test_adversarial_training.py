"""Training on data nobody has tried: small synthetic companies whose outcomes are noise, too
few, or given away by a column, and what training, the gates and activation make of them."""

import random
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from django.utils import timezone

from leads.models import Activity, ImportJob, Lead
from scoring import features as F
from scoring import gates, training, training_runs
from scoring.models import ModelVersion, ScoringSettings, TrainingRun
from tests.factories import ActivityFactory, AdminFactory, LeadFactory

BASE = pd.Timestamp("2024-01-01", tz="UTC")


def _created(n: int, rng: np.random.Generator) -> np.ndarray:
    """`n` creation dates over a year, oldest first (as a file sorted by date gives them)."""
    return np.array([BASE + pd.Timedelta(days=float(d)) for d in np.sort(rng.uniform(0, 365, n))], dtype=object)


def company_create(n: int, *, seed: int, converts, attributes, open_leads: int = 0) -> list[Lead]:
    """`n` closed leads and `open_leads` open ones; `converts(rng, attrs)` decides an outcome and
    `attributes(rng, converts)` gives a lead's attributes (converts is None for an open lead)."""
    rng = random.Random(seed)
    now = timezone.now()
    leads = []
    for i in range(n + open_leads):
        closed = i < n
        attrs = attributes(rng, None)
        outcome = converts(rng, attrs) if closed else None
        if closed:
            attrs = attributes(rng, outcome) | attrs
        created = now - timedelta(days=rng.uniform(40, 300) if closed else rng.uniform(0, 10))
        status = Lead.Status.NEW if not closed else (Lead.Status.CONVERTED if outcome else Lead.Status.LOST)
        leads.append(
            LeadFactory.build(
                email=f"c{seed}-{i}@example.com",
                source=rng.choice(["Web", "Referral", "Ads"]),
                status=status,
                created_at=created,
                converted_at=created + timedelta(days=5) if outcome else None,
                attributes=attrs,
            )
        )
    return Lead.objects.bulk_create(leads)


# --- pure noise --------------------------------------------------------------------------------


def test_noise_labels_that_reach_the_auc_floor_on_a_small_holdout_fail_a_gate_in_words():
    n = 300
    created = _created(n, np.random.default_rng(0))
    rng = np.random.default_rng(4)
    y = (rng.random(n) < 0.3).astype(int)
    frame = pd.DataFrame({"x": rng.normal(size=n), "cat": rng.choice(list("abcdefgh"), n), "z": rng.normal(size=n)})

    result = training.train(frame, y, {"x": F.NUMBER, "cat": F.CATEGORY, "z": F.NUMBER}, created=created)

    # Chance alone put this noise model above the AUC floor on its 60 newest leads...
    assert result.metrics["holdout"]["roc_auc"] >= 0.55
    failures = gates.gate_failures(result.metrics)
    # ...so the gate that stops it is the one allowing for the holdout's sampling error.
    assert len(failures) == 1
    assert "within chance" in failures[0] and "60 holdout leads" in failures[0]


def test_gate_allows_for_sampling_error_of_a_small_holdout_but_not_of_a_large_one():
    def metrics(n, positives, auc):
        confusion = {"tp": positives, "fn": 0, "tn": n - positives, "fp": 0}
        return {"holdout": {"roc_auc": auc, "n": n, "confusion": confusion, "calibration": []}}

    assert any("within chance" in f for f in gates.gate_failures(metrics(60, 15, 0.59)))
    assert gates.gate_failures(metrics(6000, 1500, 0.59)) == []
    assert gates.gate_failures(metrics(60, 15, 0.80)) == []


@pytest.mark.django_db
def test_a_retrain_on_noise_outcomes_is_not_activated_and_the_run_says_why(client):
    company_create(
        300,
        seed=3,
        open_leads=10,
        converts=lambda rng, attrs: rng.random() < 0.35,
        attributes=lambda rng, converts: {"plan": rng.choice(["a", "b", "c"]), "visits": rng.randint(0, 9)},
    )

    run = training_runs.retrain_run(trigger="test", folds=3)

    assert run.status == TrainingRun.Status.SUCCEEDED
    version = run.model_version
    assert version.status == ModelVersion.Status.CANDIDATE
    assert not ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).exists()
    assert "not activated: it failed the activation gates" in run.message
    assert version.metrics["gates"]
    client.force_login(AdminFactory())
    page = client.get(f"/models/{version.pk}/").content.decode()
    assert version.metrics["gates"][0].split(":")[0] in page


# --- too little data ---------------------------------------------------------------------------


@pytest.mark.parametrize("n", [5, 12, 20])
def test_too_few_outcomes_is_a_training_error_in_words(n):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=n), "cat": (["a", "b"] * n)[:n]})
    y = np.array(([1, 0, 0] * n)[:n])

    with pytest.raises(training.TrainingError, match=r"too few outcomes to validate a model: \d+ converted"):
        training.train(frame, y, {"x": F.NUMBER, "cat": F.CATEGORY}, created=_created(n, rng))


@pytest.mark.django_db
def test_a_retrain_after_an_admin_lowered_the_minimums_fails_in_words_not_with_a_crash():
    ScoringSettings.objects.update_or_create(pk=1, defaults={"min_converted": 2, "min_lost": 2})
    company_create(
        6,
        seed=1,
        converts=lambda rng, attrs: attrs["visits"] > 4,
        attributes=lambda rng, converts: {"visits": rng.randint(0, 9)},
    )

    run = training_runs.retrain_run(trigger="test", folds=3)

    assert run.status == TrainingRun.Status.FAILED
    assert run.message.startswith("too few outcomes to validate a model")


def test_a_single_usable_column_trains_every_candidate():
    rng = np.random.default_rng(1)
    n = 300
    x = rng.normal(size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-2 * x))).astype(int)

    result = training.train(pd.DataFrame({"x": x}), y, {"x": F.NUMBER}, created=_created(n, rng))

    assert set(result.cv_by_candidate) >= {"lr_rfe15", "hgb"}
    assert result.metrics["holdout"]["roc_auc"] > 0.75


def test_creation_dates_centuries_apart_still_give_a_time_ordered_holdout():
    rng = np.random.default_rng(2)
    n = 300
    x = rng.normal(size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-2 * x))).astype(int)
    created = list(_created(n, rng))
    created[0], created[1] = datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, tzinfo=UTC)

    result = training.train(
        pd.DataFrame({"x": x, "c": rng.choice(list("ab"), n)}),
        y,
        {"x": F.NUMBER, "c": F.CATEGORY},
        created=np.array(created, dtype=object),
    )

    assert result.metrics["holdout"]["split"].startswith("time-ordered")
    assert 1 in result.holdout_index  # the lead dated 9999 is the newest
    sample = training.training_sample(y, np.array(created, dtype=object), max_rows=100)
    assert len(sample.index) == 100


# --- leakage -----------------------------------------------------------------------------------


def _plan_and_visits(rng, converts):
    if converts is None:
        return {"plan": rng.choice(["basic", "pro", "enterprise"]), "visits": rng.randint(0, 12)}
    return {}


def _converts_by_plan_and_visits(rng, attrs):
    logit = -1.0 + {"basic": -0.8, "pro": 0.4, "enterprise": 1.4}[attrs["plan"]] + 0.2 * attrs["visits"]
    return rng.random() < 1 / (1 + np.exp(-logit))


def _tags_set_when_closing(rng, converts):
    """A CRM's won and lost tags: each written on 60 % of the leads that closed that way, never on
    an open lead. Alone each column is only moderately predictive; together they are the outcome."""
    attrs = _plan_and_visits(rng, converts)
    if converts is not None:
        if converts and rng.random() < 0.6:
            attrs["won tag"] = "Closed by Horizon"
        if not converts and rng.random() < 0.6:
            attrs["lost tag"] = "Lost to a competitor"
            attrs["lost on"] = "2024-03-01"
    return attrs


@pytest.mark.django_db
def test_columns_written_only_when_a_lead_closes_are_excluded_with_the_reason(client):
    company_create(300, seed=7, open_leads=40, converts=_converts_by_plan_and_visits, attributes=_tags_set_when_closing)

    version = training_runs.model_train(folds=3)

    excluded = version.features["excluded"]
    for column in ("won tag", "lost tag", "Days from lost on to created"):
        assert column not in version.features["used"]
        assert excluded[column].startswith("only on closed leads: filled in on ")
        assert "of the 40 open leads the model will score" in excluded[column]
    assert {"plan", "visits"} <= set(version.features["used"])
    # Without the tags the model is only as good as plan and visits make it: no near-perfect score.
    assert version.metrics["holdout"]["roc_auc"] < 0.9
    client.force_login(AdminFactory())
    page = client.get(f"/models/{version.pk}/").content.decode()
    assert "<strong>won tag</strong>: only on closed leads: filled in on " in page


@pytest.mark.django_db
def test_columns_open_leads_carry_too_are_kept_and_typed_in_open_leads_are_not_counted():
    company_create(300, seed=7, converts=_converts_by_plan_and_visits, attributes=_plan_and_visits)
    # Open leads typed in by reps: no attributes at all, so they say nothing about the columns.
    LeadFactory.create_batch(40, attributes={})

    version = training_runs.model_train(folds=3)

    assert {"plan", "visits"} <= set(version.features["used"])
    assert not any(why.startswith("only on closed leads") for why in version.features["excluded"].values())


def test_closed_only_columns_needs_enough_open_leads_to_tell():
    closed = pd.DataFrame({"stage": ["won"] * 50, "plan": ["a"] * 50})
    types = {"stage": F.CATEGORY, "plan": F.CATEGORY}

    assert F.closed_only_columns(closed, types, [{"plan": "a"}] * (F.CLOSED_ONLY_MIN_OPEN - 1)) == {}
    assert list(F.closed_only_columns(closed, types, [{"plan": "a", "stage": ""}] * F.CLOSED_ONLY_MIN_OPEN)) == [
        "stage"
    ]


@pytest.mark.django_db
def test_activity_logged_after_an_imported_lead_was_already_lost_is_not_a_feature():
    # An import brings history: this lead was lost before the file was imported (no closing
    # status change in the CRM, no converted_at). A rep's email afterwards follows the outcome.
    imported_at = timezone.now() - timedelta(days=20)
    job = ImportJob.objects.create(file="imports/x.csv", original_name="x.csv", created_at=imported_at)
    lost = LeadFactory(status=Lead.Status.LOST, created_at=imported_at - timedelta(days=200), import_job=job)
    still_open = LeadFactory(status=Lead.Status.NEW, created_at=imported_at - timedelta(days=200), import_job=job)
    for lead in (lost, still_open):
        ActivityFactory(lead=lead, kind=Activity.Kind.EMAIL, occurred_at=imported_at + timedelta(days=2))

    frame = F.activity_aggregates([lost.pk, still_open.pk], as_of=timezone.now())

    email = F.activity_column(str(Activity.Kind.EMAIL), 30)
    assert frame.loc[lost.pk, email] == 0
    assert np.isnan(frame.loc[lost.pk, F.DAYS_SINCE_LAST])
    assert frame.loc[still_open.pk, email] == 1  # an open lead's activity is what scoring sees


# --- calibration never turns a model upside down -----------------------------------------------


def test_a_sigmoid_fitted_on_backward_scores_is_flat_not_inverted():
    rng = np.random.default_rng(5)
    y = (rng.random(200) < 0.3).astype(int)
    backward = -y + rng.normal(scale=0.5, size=200)  # higher score, less likely to convert
    estimator = training.Candidate("lr", "logistic_regression", {}).build(1).fit(backward.reshape(-1, 1), 1 - y)

    sigmoid = training.sigmoid_fit(estimator, backward, y).calibrators[0]

    p = sigmoid.predict(np.array([-2.0, 0.0, 2.0]))
    assert np.allclose(p, y.mean())  # the base rate for every lead: never a reversed ranking


@pytest.mark.django_db
def test_calibrated_cross_validation_never_ranks_a_fold_backwards(tmp_path):
    from leads.models import ImportProfile
    from tests.scoring.test_data_sets import ACME, _company_csv, _import

    # A boosted model on 3 folds of 240 leads: each fold's sigmoid is fitted on scores from a fit on
    # 80 leads, which ranked them backwards and turned two good folds (0.69, 0.71) into 0.31 and 0.29.
    profile = ImportProfile.objects.create(
        name="acme", **{**ACME, "mapping": {**ACME["mapping"], "created_at": "created"}}
    )
    _import(tmp_path, _company_csv(with_dates=True), profile=profile)

    version = training_runs.model_train(folds=3)

    cv = version.metrics["cv"]
    best = cv["candidates"][cv["best"]]["folds"]
    assert min(best) > 0.6  # the uncalibrated folds rank well...
    assert min(cv["calibrated_folds"]) >= 0.5  # ...and no calibrated fold ranks in reverse
    assert version.metrics["calibration_slope"] > 0


def test_a_flat_calibration_of_the_model_that_would_score_fails_a_gate_in_words():
    metrics = {"holdout": {"roc_auc": 0.8, "n": 6000, "confusion": {"tp": 1000, "fn": 500, "tn": 4500, "fp": 0}}}

    assert gates.gate_failures({**metrics, "calibration_slope": 1.2}) == []
    assert gates.gate_failures({**metrics, "calibration_slope": 0.0}) == [
        "the model that would score was calibrated flat: its scores on leads it was not fitted on did not "
        "rise with conversion (or fell), so every lead would get the same probability"
    ]


# --- columns that carry nothing ----------------------------------------------------------------


def test_empty_constant_and_identifier_columns_are_left_out_with_the_reason():
    rng = np.random.default_rng(3)
    n = 300
    x = rng.normal(size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-1.5 * x))).astype(int)
    frame = pd.DataFrame(
        {
            "x": x,
            "empty": [None] * n,
            "constant": ["Form"] * n,
            "email": [f"person{i}@example.com" for i in range(n)],
            "customer id": np.arange(1000, 1000 + n, dtype=float),
        }
    )
    types = {"x": F.NUMBER, "empty": F.NUMBER, "constant": F.CATEGORY, "email": F.CATEGORY, "customer id": F.NUMBER}

    result = training.train(frame, y, types, created=_created(n, rng))

    assert result.features["used"] == ["x"]
    assert result.features["excluded"] == {
        "empty": "always empty",
        "constant": "the same value for every lead",
        "email": "identifier-like: 300 distinct values in 300 leads",
        "customer id": "identifier-like: a different whole number for every lead",
    }


def test_only_unusable_columns_is_a_training_error_in_words():
    n = 100
    frame = pd.DataFrame({"empty": [None] * n, "constant": ["Form"] * n})
    y = np.array([0, 1] * (n // 2))

    with pytest.raises(training.TrainingError, match="no usable columns after exclusions and the leak check"):
        training.train(frame, y, {"empty": F.NUMBER, "constant": F.CATEGORY})


# --- a file sorted by date whose base rate drifts ----------------------------------------------


def test_rows_sorted_by_date_with_a_rising_base_rate_are_validated_shuffled_and_on_the_newest_leads():
    rng = np.random.default_rng(0)
    n = 300
    created = _created(n, rng)  # row order = date order
    x = rng.normal(size=n)
    era = np.arange(n) / n
    y = (rng.random(n) < 1 / (1 + np.exp(-(1.5 * x - 2 + 4 * era)))).astype(int)  # 12 % -> 88 % of leads convert

    result = training.train(
        pd.DataFrame({"x": x, "c": rng.choice(list("abc"), n)}), y, {"x": F.NUMBER, "c": F.CATEGORY}, created=created
    )

    metrics = result.metrics
    # Shuffled folds: the calibrated model ranks as well as the uncalibrated one (no inversion)...
    uncalibrated = metrics["cv"]["candidates"][metrics["cv"]["best"]]["roc_auc"]["mean"]
    assert metrics["cv"]["roc_auc"]["mean"] > 0.7 and abs(metrics["cv"]["roc_auc"]["mean"] - uncalibrated) < 0.05
    assert metrics["calibration_slope"] > 0
    # ...and the newest leads, measured apart, show what the drift does to its probabilities.
    assert metrics["holdout"]["split"] == "time-ordered (newest 20 %)" and metrics["holdout_shuffled"] is not None
    failures = gates.gate_failures(metrics)
    assert any(f.startswith("holdout calibration error (ECE)") for f in failures)
