"""The activation gates (scoring/gates.py): each gate, in words, and the small-holdout allowances."""

import pytest

from scoring import gates


def _metrics(*, auc=0.8, cv_auc=0.8, ece=0.02, n=5000, positives=1000, mean_predicted=0.2):
    """Stored metrics of a version measured on a holdout of `n` leads."""
    calibration = [{"bin": 2, "mean_predicted": mean_predicted, "observed": mean_predicted, "count": n}]
    confusion = {"tp": positives // 2, "fn": positives - positives // 2, "tn": n - positives, "fp": 0}
    return {
        "cv": {"roc_auc": {"mean": cv_auc, "std": 0.01}},
        "holdout": {"roc_auc": auc, "ece": ece, "n": n, "confusion": confusion, "calibration": calibration},
    }


def test_a_sound_model_passes_every_gate():
    assert gates.gate_failures(_metrics()) == []


def test_holdout_auc_below_the_floor_fails_in_words():
    failures = gates.gate_failures(_metrics(auc=0.216, cv_auc=0.23))

    assert len(failures) == 1
    assert failures[0].startswith("holdout ROC AUC 0.216 is below 0.55")
    assert "chance" in failures[0]


def test_holdout_far_below_its_own_cv_fails_in_words():
    failures = gates.gate_failures(_metrics(auc=0.70, cv_auc=0.78))

    assert failures == [
        "holdout ROC AUC 0.700 is 0.080 below its cross-validated 0.780 (allowed 0.050 on 5000 holdout leads): "
        "it does worse on leads it has not seen"
    ]


def test_a_badly_calibrated_holdout_fails_in_words():
    failures = gates.gate_failures(_metrics(ece=0.14))

    assert len(failures) == 1 and failures[0].startswith("holdout calibration error (ECE) 0.140 is above 0.1")


def test_a_version_without_a_holdout_fails():
    assert gates.gate_failures({}) == ["no holdout measurement: retrain to measure this model"]


def test_small_holdouts_allow_for_their_sampling_error():
    # 60 leads: a 0.08 gap and an ECE of 0.14 are within what chance gives on so few.
    small = _metrics(auc=0.70, cv_auc=0.78, ece=0.14, n=60, positives=20, mean_predicted=0.33)

    assert gates.gate_failures(small) == []
    assert gates.auc_standard_error(0.7, 20, 40) > 0.05
    assert gates.chance_ece(small["holdout"]["calibration"]) > 0.04


def test_thresholds_come_from_settings(settings):
    settings.SCORING_GATE_MIN_AUC = 0.85
    settings.SCORING_GATE_MAX_CV_GAP = 0.01
    settings.SCORING_GATE_MAX_ECE = 0.01

    failures = gates.gate_failures(_metrics(auc=0.8, cv_auc=0.82, ece=0.03))

    assert len(failures) == 3


@pytest.mark.parametrize("auc", [0.5, 0.9])
def test_auc_standard_error_shrinks_with_more_leads(auc):
    assert gates.auc_standard_error(auc, 1000, 4000) < gates.auc_standard_error(auc, 10, 40)
