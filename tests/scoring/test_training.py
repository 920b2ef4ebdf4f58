import numpy as np
import pandas as pd
import pytest

from scoring import features as F
from scoring import training


def _synthetic(n=400, seed=0, leak=False):
    rng = np.random.default_rng(seed)
    plan = rng.choice(["basic", "pro", "enterprise"], size=n)
    visits = rng.integers(0, 12, size=n).astype(float)
    logit = -1 + np.select([plan == "basic", plan == "pro"], [-0.8, 0.4], 1.4) + 0.25 * visits
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    frame = pd.DataFrame({"plan": plan.astype(object), "visits": visits, "noise": rng.random(n)})
    types = {"plan": F.CATEGORY, "visits": F.NUMBER, "noise": F.NUMBER}
    if leak:
        frame["verdict"] = np.where(y == 1, "won", "gone").astype(object)
        types["verdict"] = F.CATEGORY
    return frame, y, types


def test_leak_check_flags_a_planted_leaking_column():
    frame, y, types = _synthetic(leak=True)

    used, excluded, aucs = training.columns_screen(frame, y, types, excluded={}, kept=[])

    assert "verdict" not in used
    assert excluded["verdict"].startswith("leak check")
    assert aucs["verdict"] >= training.LEAK_AUC
    assert {"plan", "visits"} <= set(used)


def test_admin_can_keep_a_flagged_column_on_purpose():
    frame, y, types = _synthetic(leak=True)

    used, excluded, _ = training.columns_screen(frame, y, types, excluded={}, kept=["verdict"])

    assert "verdict" in used and "verdict" not in excluded


def test_identifier_like_and_profile_excluded_columns_are_left_out():
    frame, y, types = _synthetic()
    frame["row_id"] = np.arange(len(frame)).astype(float)
    frame["email"] = [f"x{i}@example.com" for i in range(len(frame))]
    types.update({"row_id": F.NUMBER, "email": F.CATEGORY})

    used, excluded, _ = training.columns_screen(frame, y, types, excluded={"noise": "by profile"}, kept=[])

    assert set(used) == {"plan", "visits"}
    assert excluded["noise"] == "by profile"
    assert "identifier-like" in excluded["row_id"] and "identifier-like" in excluded["email"]


def test_training_stores_metrics_by_the_contract():
    frame, y, types = _synthetic()

    result = training.train(frame, y, types, folds=3)

    metrics = result.metrics
    assert metrics["cv"]["folds"] == 3
    assert set(metrics["cv"]["candidates"]) == {c.name for c in training.default_candidates()}
    assert all(len(c["folds"]) == 3 for c in metrics["cv"]["candidates"].values())
    holdout = metrics["holdout"]
    for key in (
        "roc_auc",
        "pr_auc",
        "log_loss",
        "brier",
        "ece",
        "accuracy",
        "precision",
        "recall",
        "f1",
        "threshold",
        "confusion",
        "calibration",
        "deciles",
        "roc_curve",
        "pr_curve",
        "thresholds",
    ):
        assert key in holdout, key
    assert len(holdout["calibration"]) == 10 and len(holdout["deciles"]) == 10
    assert holdout["deciles"][-1]["cum_gain"] == pytest.approx(1.0)
    assert metrics["n_rows"] == len(y) and metrics["n_positive"] == int(y.sum())
    assert metrics["reference"]["plan"]["kind"] == "categorical"
    assert metrics["reference"]["visits"]["kind"] == "numeric"
    assert "__score__" in metrics["reference"]
    assert holdout["roc_auc"] > 0.7
    assert result.features["global_factors"][0]["feature"] in ("plan", "visits")


def test_holdout_is_time_ordered_when_dates_vary():
    y = np.array([0, 1] * 100)
    created = pd.date_range("2024-01-01", periods=200, freq="D", tz="UTC").to_numpy()

    train_idx, hold_idx, kind = training.holdout_split(y, created)

    assert kind.startswith("time-ordered")
    assert train_idx.max() < hold_idx.min()


def test_same_dates_give_a_stratified_holdout():
    y = np.array([0, 0, 0, 1] * 50)

    _, hold_idx, kind = training.holdout_split(y, None)

    assert kind.startswith("stratified")
    assert y[hold_idx].mean() == pytest.approx(0.25, abs=0.03)


def test_champion_config_is_evaluated_on_the_same_folds():
    frame, y, types = _synthetic()
    champion = training.Candidate("champion", "logistic_regression", {"C": 0.01})

    result = training.train(frame, y, types, folds=3, champion=champion)

    assert result.metrics["cv"]["champion"] == "champion"
    assert "champion" in result.metrics["cv"]["candidates"]


def test_expected_calibration_error_of_a_perfect_forecast_is_zero():
    p = np.repeat([0.2, 0.8], 500)
    y = np.concatenate([np.r_[np.ones(100), np.zeros(400)], np.r_[np.ones(400), np.zeros(100)]])

    ece, table = training.expected_calibration_error(y, p)

    assert ece == pytest.approx(0.0, abs=1e-9)
    assert sum(row["count"] for row in table) == 1000


def test_yes_no_features_get_true_false_shares_for_drift():
    # 10 training rows: 3 yes, 5 no, 2 missing; a second flag is never missing.
    frame = pd.DataFrame(
        {
            "newsletter": [1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, np.nan, np.nan],
            "opted_out": [1.0] + [0.0] * 9,
            "visits": np.arange(10, dtype=float),
        }
    )
    types = {"newsletter": F.BOOLEAN, "opted_out": F.BOOLEAN, "visits": F.NUMBER}

    reference = training.reference_distributions(frame, types, np.full(10, 0.5))

    assert reference["newsletter"] == {"kind": "boolean", "fractions": {"true": 0.3, "false": 0.5, "(missing)": 0.2}}
    assert reference["opted_out"] == {"kind": "boolean", "fractions": {"true": 0.1, "false": 0.9}}
    assert reference["visits"]["kind"] == "numeric" and len(reference["visits"]["fractions"]) == 10


def _drifting_in_row_order(n=4000, seed=3):
    """Rows in time (= id) order whose base rate rises from about 6 % to about 39 % across the file,
    a `market_rate` that tracks the era (as an economic indicator does) and a real signal in `visits`
    and `plan`; every lead shares one created date (an import). Calibrated on unshuffled folds, a
    gradient-boosted model on this file learnt a reversed curve: holdout ROC AUC 0.21."""
    rng = np.random.default_rng(seed)
    position = np.linspace(0.0, 1.0, n)
    plan = rng.choice(["basic", "pro", "enterprise"], size=n)
    visits = rng.integers(0, 12, size=n).astype(float)
    logit = -4.4 + 3.4 * position + np.select([plan == "basic", plan == "pro"], [-0.6, 0.3], 1.0) + 0.12 * visits
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    frame = pd.DataFrame(
        {"plan": plan.astype(object), "visits": visits, "market_rate": 5 * position + rng.normal(0, 0.3, n)}
    )
    return frame, y, {"plan": F.CATEGORY, "visits": F.NUMBER, "market_rate": F.NUMBER}


def test_a_file_whose_base_rate_drifts_in_row_order_gives_a_holdout_close_to_cv():
    frame, y, types = _drifting_in_row_order()
    assert y[:800].mean() < 0.08 and y[-800:].mean() > 0.3  # the drift is real
    boosting = [c for c in training.default_candidates() if c.algorithm == "hist_gradient_boosting"]

    result = training.train(frame, y, types, folds=3, candidates=boosting)

    cv_auc = result.metrics["cv"]["roc_auc"]["mean"]
    holdout_auc = result.metrics["holdout"]["roc_auc"]
    assert holdout_auc > 0.55
    assert abs(holdout_auc - cv_auc) < 0.05
    assert result.metrics["holdout"]["ece"] < 0.05
    assert "shuffled" in result.metrics["cv"]["protocol"]


def test_cv_figures_are_those_of_the_calibrated_pipeline():
    frame, y, types = _synthetic(n=600)

    result = training.train(frame, y, types, folds=3)

    cv = result.metrics["cv"]
    assert len(cv["calibrated_folds"]) == 3 and cv["ece"] is not None
    assert cv["roc_auc"]["mean"] == pytest.approx(np.mean(cv["calibrated_folds"]), abs=1e-3)
    # Calibration (a sigmoid of positive slope) keeps the winner's ranking: close to its raw CV AUC.
    assert cv["roc_auc"]["mean"] == pytest.approx(cv["candidates"][cv["best"]]["roc_auc"]["mean"], abs=0.03)


def test_calibration_uses_shuffled_seeded_folds():
    calibrated = training._calibrated(training.Candidate("lr", "logistic_regression", {}).build(3), 1000)

    assert calibrated.cv.shuffle is True and calibrated.cv.random_state == training.RANDOM_STATE


def test_time_ordered_holdout_is_reported_with_a_shuffled_one():
    frame, y, types = _synthetic(n=500)
    created = pd.date_range("2024-01-01", periods=len(y), freq="D", tz="UTC").to_numpy()

    result = training.train(frame, y, types, created=created, folds=3, candidates=training.default_candidates()[:1])

    assert result.metrics["holdout"]["split"].startswith("time-ordered")
    shuffled = result.metrics["holdout_shuffled"]
    assert shuffled["split"].startswith("stratified") and shuffled["n"] == 100 and shuffled["roc_auc"] > 0.6


def test_leak_check_keeps_a_suspiciously_predictive_column_and_flags_it():
    frame, y, types = _synthetic(n=1000)
    rng = np.random.default_rng(5)
    # Right nine times in ten: AUC about 0.9, inside the warning band.
    frame["tag"] = np.where(rng.random(len(y)) < 0.9, y, 1 - y).astype(float)
    types["tag"] = F.NUMBER

    result = training.train(frame, y, types, folds=3, candidates=training.default_candidates()[:1])

    assert training.LEAK_WARN_AUC <= result.metrics["leak_check"]["tag"] < training.LEAK_AUC
    assert "tag" in result.features["used"]
    warning = result.metrics["leak_warnings"]["tag"]
    assert warning.startswith("suspiciously predictive — known before the outcome?")
    assert set(result.metrics["leak_warnings"]) == {"tag"}


def test_calibration_assembled_from_out_of_fold_scores_equals_calibrated_classifier_cv():
    # The holdout (and shipped) model reuses fits instead of refitting: it must be the model
    # CalibratedClassifierCV(ensemble=False) would build on the same folds.
    from sklearn.base import clone
    from sklearn.model_selection import cross_val_predict

    frame, y, types = _synthetic(n=600)
    prep = training.preprocessor_build(types, len(y)).fit(frame)
    x = prep.transform(frame)
    for candidate in training.default_candidates():
        estimator = candidate.build(x.shape[1])
        oof = cross_val_predict(clone(estimator), x, y, cv=training.folds_split(5), method="decision_function")
        assembled = training.calibrated_assemble(prep, clone(estimator).fit(x, y), oof, y, folds=5)
        reference = training._calibrated(clone(estimator), len(y)).fit(x, y)

        np.testing.assert_allclose(
            assembled.predict_proba(frame)[:, 1], reference.predict_proba(x)[:, 1], rtol=1e-9, atol=1e-12
        )


@pytest.mark.parametrize("folds", [2, 3, 5])
def test_each_cv_folds_calibration_never_saw_that_folds_rows(folds):
    y = np.array([0, 0, 1] * 100)
    splits = list(training.folds_split(folds).split(np.zeros(len(y)), y))

    jobs = training._inner_calibration_jobs(splits, y)

    for outer, (fit_idx, val_idx) in enumerate(splits):
        used = [(fit_rows, score_rows[uses[outer]]) for fit_rows, score_rows, uses in jobs if outer in uses]
        calibration_rows = np.concatenate([rows for _, rows in used])
        assert len(calibration_rows) >= len(fit_idx) // 2
        assert set(calibration_rows) <= set(fit_idx)  # calibrated on its own training part only
        for fit_rows, rows in used:
            assert not set(fit_rows) & set(val_idx)  # no fit behind its sigmoid saw the measured rows
            assert not set(fit_rows) & set(rows)  # and each score is out of fold
        if folds == 3:
            assert sorted(calibration_rows) == sorted(fit_idx)


def test_parallel_training_gives_the_same_model_as_one_fit_at_a_time():
    frame, y, types = _synthetic(n=500)
    created = pd.date_range("2024-01-01", periods=len(y), freq="D", tz="UTC").to_numpy()

    one = training.train(frame, y, types, created=created, folds=3, n_jobs=1)
    two = training.train(frame, y, types, created=created, folds=3, n_jobs=2)

    for key in ("cv", "holdout", "holdout_shuffled"):
        assert one.metrics[key] == two.metrics[key], key
    np.testing.assert_array_equal(one.pipeline.predict_proba(frame), two.pipeline.predict_proba(frame))


def _closed_over_time(n=5000, seed=3):
    """n outcomes over a year whose base rate climbs with time (3 % early, 40 % late)."""
    rng = np.random.default_rng(seed)
    created = pd.Timestamp("2025-01-01", tz="UTC") + pd.to_timedelta(np.sort(rng.uniform(0, 365, n)), unit="D")
    rate = np.linspace(0.03, 0.40, n)
    y = (rng.random(n) < rate).astype(int)
    return y, created.to_numpy()


def test_training_uses_every_row_up_to_the_cap():
    y, created = _closed_over_time(1000)

    sample = training.training_sample(y, created, max_rows=1000)

    assert sample.described is None
    assert sample.of == 1000 and np.array_equal(sample.index, np.arange(1000))


def test_training_sample_above_the_cap_is_the_same_for_the_same_seed_and_says_how_it_was_drawn():
    y, created = _closed_over_time()

    first = training.training_sample(y, created, max_rows=1000, seed=7)
    again = training.training_sample(y, created, max_rows=1000, seed=7)
    other = training.training_sample(y, created, max_rows=1000, seed=8)

    assert np.array_equal(first.index, again.index)
    assert not np.array_equal(first.index, other.index)
    assert len(first.index) == 1000 and len(np.unique(first.index)) == 1000
    assert first.described["n"] == 1000 and first.described["of"] == 5000
    assert first.described["seed"] == 7 and first.described["max_rows"] == 1000
    assert "1000 of the 5000 closed leads" in first.described["how"]


def test_training_sample_keeps_both_outcomes_in_their_share_in_every_period():
    y, created = _closed_over_time()

    index = training.training_sample(y, created, max_rows=500).index

    assert y[index].mean() == pytest.approx(y.mean(), abs=0.005)
    # Per tenth of the period (by creation order) the sample keeps the period's rows and base rate.
    bands = np.arange(len(y)) * 10 // len(y)
    for band in range(10):
        chosen = index[bands[index] == band]
        assert len(chosen) == pytest.approx(50, abs=1)
        assert y[chosen].mean() == pytest.approx(y[bands == band].mean(), abs=0.03)
        assert 0 < y[chosen].sum() < len(chosen)


def test_training_sample_keeps_a_rare_outcome():
    y = np.zeros(20_000, dtype=int)
    y[::4000] = 1  # 5 converted leads among 20,000

    index = training.training_sample(y, None, max_rows=1000).index

    assert 0 < y[index].sum() <= 10


def test_time_ordered_holdout_of_a_sample_is_still_the_newest_leads():
    y, created = _closed_over_time()
    index = training.training_sample(y, created, max_rows=1000).index

    train_idx, hold_idx, kind = training.holdout_split(y[index], created[index])

    assert kind.startswith("time-ordered")
    held = created[index][hold_idx]
    assert held.min() > created[index][train_idx].max()
    # The sample's newest fifth starts where the whole data's newest fifth starts.
    newest_fifth_start = np.sort(created)[int(0.8 * len(created))]
    assert abs(pd.Timestamp(held.min()) - pd.Timestamp(newest_fifth_start)) < pd.Timedelta(days=3)
