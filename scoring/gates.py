"""Activation gates: the checks a trained model must pass before it may score leads on its own.

A version that fails one is never activated automatically (the first model included); an admin can
still activate it with an explicit "activate anyway" and a reason (scoring.activation). Pure
functions over a version's stored metrics and the thresholds in settings.

Small holdouts are noisy (60 leads give an AUC give or take 0.07 and an ECE of about 0.15 from
chance alone), so the two comparative gates allow for the holdout's own sampling error: the CV gap
must exceed max(the setting, twice the AUC's standard error), and the ECE must exceed the setting
plus the ECE a perfectly calibrated model would show on that many leads. On thousands of leads the
allowances vanish and the thresholds apply as set. For the same reason an AUC above the floor is
not enough on its own: it must also be above chance beyond its sampling error (labels that are
pure noise reach 0.59 on a 60-lead holdout one time in six).

May import django.conf only.
"""

import math

from django.conf import settings

# One-sided 95 %: the holdout AUC's lower bound (AUC - CHANCE_Z standard errors) must exceed 0.5.
CHANCE_Z = 1.645


def auc_standard_error(auc: float, n_positive: int, n_negative: int) -> float:
    """Hanley & McNeil (1982): the standard error of a ROC AUC measured on this many cases."""
    if n_positive < 1 or n_negative < 1:
        return 0.0
    q1 = auc / (2 - auc)
    q2 = 2 * auc * auc / (1 + auc)
    variance = (auc * (1 - auc) + (n_positive - 1) * (q1 - auc * auc) + (n_negative - 1) * (q2 - auc * auc)) / (
        n_positive * n_negative
    )
    return math.sqrt(max(variance, 0.0))


def chance_ece(calibration: list[dict]) -> float:
    """The expected calibration error a perfectly calibrated model shows on these bins by chance:
    per bin, the mean absolute deviation of an observed rate from its probability (sqrt(2/pi) sd)."""
    total = sum(row.get("count") or 0 for row in calibration)
    if not total:
        return 0.0
    noise = 0.0
    for row in calibration:
        count, p = row.get("count") or 0, row.get("mean_predicted")
        if count and p is not None:
            noise += math.sqrt(2 / math.pi) * math.sqrt(count * p * (1 - p))
    return noise / total


def gate_failures(metrics: dict) -> list[str]:
    """Which gates a version fails, in words ([] when it passes them all). A version without a
    holdout measurement fails: nothing shows it is better than random."""
    holdout = (metrics or {}).get("holdout") or {}
    auc = holdout.get("roc_auc")
    if auc is None:
        return ["no holdout measurement: retrain to measure this model"]
    failures = []
    n = int(holdout.get("n") or 0)
    confusion = holdout.get("confusion") or {}
    positives = int(confusion.get("tp", 0)) + int(confusion.get("fn", 0))
    negatives = int(confusion.get("tn", 0)) + int(confusion.get("fp", 0))
    if auc < settings.SCORING_GATE_MIN_AUC:
        failures.append(
            f"holdout ROC AUC {auc:.3f} is below {settings.SCORING_GATE_MIN_AUC:.2f}: "
            "it ranks leads little better than chance (or backwards)"
        )
    elif auc - CHANCE_Z * auc_standard_error(auc, positives, negatives) <= 0.5:
        lower = auc - CHANCE_Z * auc_standard_error(auc, positives, negatives)
        failures.append(
            f"holdout ROC AUC {auc:.3f} on {n} holdout leads ({positives} converted) is within chance: "
            f"its 95 % lower bound is {lower:.3f}, and a model that ranks at random can score this high "
            "on so few leads; it needs more outcomes (or stronger columns) to show it beats chance"
        )
    slope = metrics.get("calibration_slope")
    if slope is not None and slope <= 0:
        failures.append(
            "the model that would score was calibrated flat: its scores on leads it was not fitted on did not "
            "rise with conversion (or fell), so every lead would get the same probability"
        )
    cv_auc = ((metrics.get("cv") or {}).get("roc_auc") or {}).get("mean")
    if cv_auc is not None:
        allowed = max(settings.SCORING_GATE_MAX_CV_GAP, 2 * auc_standard_error(auc, positives, negatives))
        if cv_auc - auc > allowed:
            failures.append(
                f"holdout ROC AUC {auc:.3f} is {cv_auc - auc:.3f} below its cross-validated {cv_auc:.3f} "
                f"(allowed {allowed:.3f} on {n} holdout leads): it does worse on leads it has not seen"
            )
    ece = holdout.get("ece")
    if ece is not None:
        allowed = settings.SCORING_GATE_MAX_ECE + chance_ece(holdout.get("calibration") or [])
        if ece > allowed:
            failures.append(
                f"holdout calibration error (ECE) {ece:.3f} is above {allowed:.3f} "
                f"({settings.SCORING_GATE_MAX_ECE:.2f} plus what chance gives on {n} leads): "
                "its probabilities do not match how often leads convert"
            )
    return failures
