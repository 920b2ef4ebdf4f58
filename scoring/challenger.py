"""The champion/challenger rule: whether a newly trained model replaces the active one. A pure
decision over the two models' probabilities on the same leads, the activation gates and the
admin's margins.

It compares MODELS, not settings: the active model's artifact and the challenger (as fitted without
its holdout) score the same leads, which neither was fitted on when that can be arranged (see
training_runs.champion_comparison). A challenger that is not worse by the margin replaces the
champion: it has learnt from more outcomes, so ties go to the newer model.

May import scoring.training and scoring.models (for the settings' type); training_runs imports it.
"""

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import log_loss, roc_auc_score

from scoring import training
from scoring.models import ScoringSettings


@dataclass
class Comparison:
    """Outcomes of the comparison leads and both models' probabilities for them."""

    y: np.ndarray
    challenger: np.ndarray
    champion: np.ndarray | None  # None: the champion could not score (why: `problem`)
    data: str  # which leads, in words
    problem: str = ""


def _figures(y: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    return float(roc_auc_score(y, p)), float(log_loss(y, np.clip(p, 1e-6, 1 - 1e-6), labels=[0, 1]))


def challenger_decision(
    result: training.TrainResult,
    *,
    comparison: Comparison | None,
    options: ScoringSettings,
    gate_failures: list[str],
) -> dict:
    """Activate when the challenger passes every gate and either there is no champion, the
    champion cannot score, or the challenger is not worse than it by the margins (AUC down by
    more than margin_auc, or log loss up by more than margin_log_loss, is worse)."""
    if gate_failures:
        return {
            "activate": False,
            "gates": gate_failures,
            "reason": "not activated: it failed the activation gates — " + "; ".join(gate_failures),
        }
    if comparison is None:
        return {"activate": True, "gates": [], "reason": "first model: nothing to compare against; every gate passed"}
    if comparison.champion is None:
        return {
            "activate": True,
            "gates": [],
            "reason": f"the active model could not score ({comparison.problem}); the challenger replaces it",
        }
    y = np.asarray(comparison.y).astype(int)
    if len(np.unique(y)) < 2:
        return {"activate": True, "gates": [], "reason": "no comparison possible (one outcome only): newer wins"}
    chal_auc, chal_ll = _figures(y, comparison.challenger)
    champ_auc, champ_ll = _figures(y, comparison.champion)
    d_auc, d_ll = chal_auc - champ_auc, chal_ll - champ_ll
    worse = d_auc < -options.margin_auc or d_ll > options.margin_log_loss
    verdict = "stays a candidate: worse than the champion" if worse else "replaces the champion (not worse)"
    reason = (
        f"challenger {result.candidate.name} {verdict} on {comparison.data}: "
        f"AUC {chal_auc:.4f} vs champion {champ_auc:.4f} ({d_auc:+.4f}), log loss {chal_ll:.4f} vs "
        f"{champ_ll:.4f} ({d_ll:+.4f}); a challenger may be worse by AUC {options.margin_auc} "
        f"and log loss {options.margin_log_loss}"
    )
    return {
        "activate": not worse,
        "gates": [],
        "reason": reason,
        "compared_on": comparison.data,
        "n_compared": len(y),
        "challenger": {"roc_auc": round(chal_auc, 5), "log_loss": round(chal_ll, 5)},
        "champion": {"roc_auc": round(champ_auc, 5), "log_loss": round(champ_ll, 5)},
        "delta_auc": round(d_auc, 5),
        "delta_log_loss": round(d_ll, 5),
    }
