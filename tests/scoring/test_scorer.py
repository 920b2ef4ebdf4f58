import json

import numpy as np
import pandas as pd
import pytest

from scoring import features as F
from scoring import scorer, training
from scoring.registry import LoadedModel


def _loaded(result):
    return LoadedModel(0, "", result.pipeline, result.types, result.baseline, result.blocks, {})


def _data(n=1500, seed=0):
    rng = np.random.default_rng(seed)
    plan = rng.choice(["basic", "pro"], size=n).astype(object)
    visits = rng.normal(size=n)
    noise = rng.normal(size=n)
    logit = 1.5 * (plan == "pro") - 0.75 + 1.2 * visits
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    frame = pd.DataFrame({"plan": plan, "visits": visits, "noise": noise})
    return frame, y, {"plan": F.CATEGORY, "visits": F.NUMBER, "noise": F.NUMBER}


def test_linear_reasons_are_exact_additive_contributions():
    frame, y, types = _data()
    candidate = training.Candidate("lr", "logistic_regression", {"C": 1.0})
    result = training.train(frame, y, types, folds=3, candidates=[candidate])
    prep = result.pipeline.named_steps["prep"]
    estimator = training.base_estimator(result.pipeline)
    transformed = prep.transform(frame.head(50))

    contrib = scorer.contributions(estimator, transformed, result.baseline, result.blocks)

    decision = estimator.decision_function(transformed)
    baseline_decision = estimator.decision_function(result.baseline[None, :])[0]
    np.testing.assert_allclose(contrib.sum(axis=1), decision - baseline_decision, atol=1e-9)
    columns = [b[0] for b in result.blocks]
    pro = frame.head(50)["plan"].to_numpy() == "pro"
    plan = contrib[:, columns.index("plan")]
    assert plan[pro].min() > plan[~pro].max()  # pro converts more than basic, whichever is typical
    visits = contrib[:, columns.index("visits")]
    assert np.corrcoef(visits, frame.head(50)["visits"])[0, 1] > 0.99


def test_impacts_add_up_to_the_score_difference_from_the_baseline():
    frame, y, types = _data()
    result = training.train(frame, y, types, folds=3, candidates=[training.Candidate("lr", "logistic_regression", {})])
    loaded = _loaded(result)

    p, impacts = scorer.score_frame(loaded, frame.head(30))

    base = scorer.baseline_probability(loaded)
    moved = np.abs(100 * (p - base)) > 0.5
    np.testing.assert_allclose(impacts.sum(axis=1)[moved], 100 * (p - base)[moved], atol=1e-6)


def test_tree_reasons_recover_a_known_effect():
    """Occlusion on a boosted-tree model: the true log-odds effects are plan pro +1.5 vs basic
    and +1.2 per unit of visits; noise has none."""
    frame, y, types = _data(n=3000, seed=1)
    candidate = training.Candidate("hgb", "hist_gradient_boosting", {"max_iter": 100})
    result = training.train(frame, y, types, folds=3, candidates=[candidate])
    loaded = _loaded(result)
    sample = frame.head(400)
    transformed = result.pipeline.named_steps["prep"].transform(sample)

    contrib = scorer.contributions(
        training.base_estimator(result.pipeline), transformed, result.baseline, result.blocks
    )
    _, impacts = scorer.score_frame(loaded, sample)

    columns = [b[0] for b in result.blocks]
    strength = np.abs(contrib).mean(axis=0)
    assert strength[columns.index("noise")] < 0.5 * strength[columns.index("visits")]
    assert strength[columns.index("noise")] < 0.5 * strength[columns.index("plan")]
    pro = sample["plan"].to_numpy() == "pro"
    plan = contrib[:, columns.index("plan")]
    assert plan[pro].mean() - plan[~pro].mean() == pytest.approx(1.5, abs=0.6)
    visits = sample["visits"].to_numpy()
    assert np.corrcoef(contrib[:, columns.index("visits")], visits)[0, 1] > 0.9
    # In score points the signs agree with the log-odds contributions.
    assert (np.sign(impacts) == np.sign(contrib))[np.abs(contrib) > 0.05].all()


def test_reasons_name_the_column_and_value_in_words():
    reasons = scorer.reasons_for(
        np.array([12.4, -9.2, 0.1, 3.0]),
        ["Lead Origin", F.DAYS_SINCE_LAST, "x", "visits"],
        ["Lead Add Form", 30.0, 1.0, None],
    )

    assert reasons == [
        {"feature": "Lead Origin", "text": "Lead Origin: Lead Add Form (+12)", "impact": 12.4},
        {"feature": F.DAYS_SINCE_LAST, "text": "no activity for 30 days (-9)", "impact": -9.2},
        {"feature": "visits", "text": "Visits: not given (+3)", "impact": 3.0},
    ]


def test_reasons_read_labels_units_and_yes_no_and_drop_what_says_nothing():
    columns = [
        "time_on_site_seconds",
        "car.loan",
        F.DAYS_SINCE_LAST,
        F.activity_column("web_visit", 7),
        "Total Time Spent on Website",
        "plan",
        F.activity_column("call", 30),
        "tiny",
    ]
    values = [1464.0, 1.0, 0.2, 0.0, 4000.0, "pro", 2.0, 5.0]
    kinds = {"car.loan": F.BOOLEAN, "plan": F.CATEGORY}
    words = F.ReasonWords(labels={"Total Time Spent on Website": "Time on website", "plan": "Plan"},
                          units={"Total Time Spent on Website": "seconds"})  # fmt: skip

    reasons = scorer.reasons_for(
        np.array([14.0, 6.0, -1.0, 1.0, -5.0, 2.0, -3.0, 0.4]), columns, values, kinds=kinds, words=words
    )

    assert [r["text"] for r in reasons] == [
        "Time on site: 24 min (+14)",
        "Car loan: yes (+6)",
        "Time on website: 67 min (-5)",
        "2 calls in the last 30 days (-3)",
        "Plan: pro (+2)",
    ]


def test_labels_default_to_the_header_in_words():
    assert F.label_from_header("time_on_site_seconds") == "Time on site"
    assert F.label_from_header("car.loan") == "Car loan"
    assert F.label_from_header("TotalVisits") == "Total visits"
    assert F.label_from_header("Lead Source") == "Lead Source"
    gap = F.date_gap_column("signup_date")
    words = F.ReasonWords(dates={gap: ["signup_date", False]})
    assert F.describe_value(gap, 12.4, F.NUMBER, words) == "Signup date: 12 days before the lead came in"
    assert F.describe_value(F.CREATED_WEEKDAY, "Monday", F.CATEGORY) == "came in on a Monday"
    assert F.describe_value(F.HOURS_TO_FIRST_CONTACT, 0.2) == "first contact within the hour"


@pytest.mark.parametrize(("score", "tier"), [(70, "hot"), (60, "hot"), (59, "warm"), (30, "warm"), (29, "cold")])
def test_tiers_follow_score_point_cutoffs(score, tier):
    assert scorer.tier_for(score, {"hot": 60, "warm": 30}) == tier


def test_score_is_rounded_percent():
    assert [scorer.score_from_probability(p) for p in (0.0, 0.004, 0.355, 1.0)] == [0, 0, 36, 100]


def test_scores_and_tiers_of_a_chunk_equal_those_of_each_lead():
    probabilities = np.concatenate([np.random.default_rng(0).random(5000), np.arange(0, 1.0001, 0.005), [-0.1, 1.2]])
    cutoffs = {"hot": 60, "warm": 30}

    scores = scorer.scores_from_probabilities(probabilities)

    assert scores.tolist() == [scorer.score_from_probability(p) for p in probabilities]
    assert scorer.tiers_for(scores, cutoffs).tolist() == [scorer.tier_for(s, cutoffs) for s in scores.tolist()]


@pytest.mark.parametrize("algorithm", ["logistic_regression", "hist_gradient_boosting"])
def test_single_lead_fast_path_matches_the_pipeline(algorithm):
    frame, y, types = _data(n=800)
    frame.loc[3, "plan"] = None
    result = training.train(frame, y, types, folds=3, candidates=[training.Candidate("m", algorithm, {})])
    loaded = _loaded(result)
    rows = frame.head(20)

    p_frame, impacts = scorer.score_frame(loaded, rows)
    expected = result.pipeline.predict_proba(rows)[:, 1]

    np.testing.assert_allclose(p_frame, expected, atol=1e-12)
    for i in range(len(rows)):
        raw = {c: (None if pd.isna(v) else v) for c, v in rows.iloc[i].items()}
        p_one, reasons = scorer.score_one(loaded, raw)
        assert p_one == pytest.approx(expected[i], abs=1e-12)
        columns = [b[0] for b in result.blocks]
        assert reasons == scorer.reasons_for(impacts[i], columns, [scorer._plain(rows.iloc[i][c]) for c in columns])


@pytest.mark.parametrize("algorithm", ["logistic_regression", "hist_gradient_boosting"])
def test_reasons_for_a_frame_equal_reasons_for_each_lead(algorithm):
    frame, y, types = _data(n=900, seed=3)
    frame["Call in last 7 days"] = np.random.default_rng(1).integers(0, 3, size=len(frame)).astype(float)
    types["Call in last 7 days"] = F.NUMBER  # an activity count: a 0 says nothing, the next factor shows
    frame.loc[::7, "plan"] = None
    frame.loc[::11, "visits"] = np.nan
    result = training.train(frame, y, types, folds=3, candidates=[training.Candidate("m", algorithm, {})])
    loaded = _loaded(result)
    _, impacts = scorer.score_frame(loaded, frame)
    impacts = impacts * 4  # more factors over a point, so the cut at three each way is exercised

    reasons = scorer.reasons_for_frame(loaded, frame, impacts)

    columns = [b[0] for b in result.blocks]
    words = scorer.reason_words(loaded)
    expected = [
        scorer.reasons_for(
            impacts[i], columns, [scorer._plain(frame.iloc[i][c]) for c in columns], kinds=types, words=words
        )
        for i in range(len(frame))
    ]
    assert reasons == expected
    assert [json.loads(text) for text in scorer.reasons_json_for_frame(loaded, frame, impacts)] == expected
    assert any(len(r) >= 3 for r in reasons) and any(r["impact"] < 0 for row in reasons for r in row)


def test_impacts_round_to_tenths_as_python_rounds_them():
    rng = np.random.default_rng(7)
    values = np.concatenate(
        [
            rng.normal(0, 20, 20_000),
            np.arange(-300, 300) / 20,  # every x.x5 and x.x0 between -15 and 15
            np.array([0.05, 0.15, 0.25, 2.675, -2.675, 1.45, -1.45, 0.0, -0.0]),
        ]
    )
    assert scorer._round_tenths(values).tolist() == [round(x, 1) for x in values.tolist()]
