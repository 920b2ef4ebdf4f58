"""The champion/challenger rule: whether a newly trained model replaces the active one. A pure
decision over training results and the admin's margins.

May import scoring.training and scoring.models (for the settings' type); training_runs imports it.
"""

from scoring import training
from scoring.models import ScoringSettings


def challenger_decision(result: training.TrainResult, *, champion_present: bool, options: ScoringSettings) -> dict:
    """Activate when there is no champion, or when the challenger beats the champion's config
    retrained on the same folds: AUC up by the margin (log loss no worse) or log loss down by
    the margin (AUC no worse)."""
    best = result.metrics["cv"]["candidates"][result.candidate.name]
    if not champion_present:
        return {"activate": True, "reason": "first model: nothing to compare against"}
    champ = result.cv_by_candidate.get(result.metrics["cv"].get("champion") or "")
    if champ is None:
        return {"activate": False, "reason": "the champion could not be evaluated on these folds"}
    d_auc = best["roc_auc"]["mean"] - champ["roc_auc"]["mean"]
    d_ll = best["log_loss"]["mean"] - champ["log_loss"]["mean"]
    beats = (d_auc >= options.margin_auc and d_ll <= 0) or (d_ll <= -options.margin_log_loss and d_auc >= 0)
    reason = (
        f"challenger {result.candidate.name}: AUC {best['roc_auc']['mean']:.4f} vs champion "
        f"{champ['roc_auc']['mean']:.4f} ({d_auc:+.4f}), log loss {best['log_loss']['mean']:.4f} vs "
        f"{champ['log_loss']['mean']:.4f} ({d_ll:+.4f}); margins AUC {options.margin_auc}, "
        f"log loss {options.margin_log_loss}"
    )
    return {"activate": bool(beats), "reason": reason, "delta_auc": round(d_auc, 5), "delta_log_loss": round(d_ll, 5)}
