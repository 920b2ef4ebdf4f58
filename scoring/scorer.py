"""Probabilities, scores, tiers and reasons from a loaded model.

Reasons: each original column's contribution to the model's log-odds relative to a typical
lead (training.typical_row: median numbers, most frequent levels), then scaled to score points so
that a lead's impacts add up to (its score - the baseline's score).
- Linear models (logistic regression, also after RFE): exact, coefficient x (value - baseline),
  summed over the one-hot/scaled columns that came from the same original column.
- Tree models: occlusion. The contribution of a column is the change in log-odds when that
  column's transformed values are replaced by the baseline's, all other columns kept. For an
  additive model this equals the linear formula; with interactions it is the effect of the
  column given the rest of this lead. Tested on synthetic data with a known effect.

May import scoring.features and scoring.registry only: no database work here.
"""

import math
import warnings

import numpy as np
import pandas as pd
from sklearn import config_context
from sklearn.feature_selection import RFE
from sklearn.linear_model import LogisticRegression

from scoring import features as F
from scoring.registry import LoadedModel

REASONS_EACH_WAY = 3
OCCLUSION_BATCH_ROWS = 200_000


def linear_coef(estimator) -> np.ndarray | None:
    if isinstance(estimator, LogisticRegression):
        return estimator.coef_[0]
    if isinstance(estimator, RFE) and isinstance(estimator.estimator_, LogisticRegression):
        full = np.zeros(len(estimator.support_))
        full[estimator.support_] = estimator.estimator_.coef_[0]
        return full
    return None


def contributions(estimator, transformed: np.ndarray, baseline: np.ndarray, blocks: list) -> np.ndarray:
    """(n leads x n original columns) contributions to the log-odds, relative to the baseline."""
    return decision_and_contributions(estimator, transformed, baseline, blocks)[1]


def decision_and_contributions(estimator, transformed: np.ndarray, baseline: np.ndarray, blocks: list):
    """The estimator's log-odds for each lead and each column's contribution to it."""
    coef = linear_coef(estimator)
    starts = np.array([b[1] for b in blocks], dtype=int)
    n = transformed.shape[0]
    if coef is not None:
        decision = estimator.decision_function(transformed)
        per_column = (transformed - baseline) * coef
        return decision, (np.add.reduceat(per_column, starts, axis=1) if len(starts) else per_column[:, :0])
    # Occlusion: the lead itself and every occluded copy go through the model in as few calls as
    # possible (tree ensembles have a large per-call cost), about OCCLUSION_BATCH_ROWS rows a call.
    out = np.empty((n, len(blocks)))
    per_batch = max(1, OCCLUSION_BATCH_ROWS // max(n, 1) - 1)
    decision = None
    for first in range(0, max(len(blocks), 1), per_batch):
        group = blocks[first : first + per_batch]
        stacked = np.tile(transformed, (len(group) + (decision is None), 1))
        offset = n if decision is None else 0
        for g, (_, start, stop) in enumerate(group):
            stacked[offset + g * n : offset + (g + 1) * n, start:stop] = baseline[start:stop]
        values = estimator.decision_function(stacked)
        if decision is None:
            decision, values = values[:n], values[n:]
        out[:, first : first + len(group)] = (decision[None, :] - values.reshape(len(group), n)).T
    return decision, out


def _calibrated_probability(calibrated, decision: np.ndarray) -> np.ndarray:
    """The calibrated probability from the estimator's log-odds (ensemble=False: one calibrator)."""
    return np.clip(calibrated.calibrated_classifiers_[0].calibrators[0].predict(decision), 0.0, 1.0)


def _model_parts(loaded: LoadedModel):
    pipeline = loaded.pipeline
    calibrated = pipeline.named_steps["model"]
    return pipeline.named_steps["prep"], calibrated, calibrated.calibrated_classifiers_[0].estimator


def baseline_probability(loaded: LoadedModel) -> float:
    cached = loaded.extras.get("_baseline_p")
    if cached is None:
        _, calibrated, _ = _model_parts(loaded)
        cached = float(calibrated.predict_proba(np.asarray(loaded.baseline)[None, :])[0, 1])
        loaded.extras["_baseline_p"] = cached
    return cached


def score_frame(loaded: LoadedModel, frame: pd.DataFrame, *, with_reasons: bool = True):
    """(probabilities, impacts in score points (n x columns) or None) for a frame of leads."""
    prep, calibrated, estimator = _model_parts(loaded)
    transformed = prep.transform(frame[list(loaded.types)])
    if not with_reasons:
        return calibrated.predict_proba(transformed)[:, 1], None
    baseline = np.asarray(loaded.baseline)
    decision, contrib = decision_and_contributions(estimator, transformed, baseline, loaded.blocks)
    p = _calibrated_probability(calibrated, decision)
    total = 100.0 * (p - baseline_probability(loaded))
    summed = contrib.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where((np.abs(summed) > 1e-9) & (total * summed > 0), total / summed, np.nan)
    # Where calibration is flat (isotonic steps) the difference is 0: use the local slope instead.
    scale = np.where(np.isnan(ratio), 100.0 * p * (1 - p), ratio)
    return p, contrib * scale[:, None]


def reasons_for(
    impacts_row: np.ndarray, columns: list[str], values: list, order: np.ndarray | None = None
) -> list[dict]:
    """Top factors up and down, in words, sorted by |impact| (the contract of Lead.score_reasons)."""
    if order is None:
        order = np.argsort(-impacts_row, kind="stable")
    picked = [j for j in order[:REASONS_EACH_WAY] if impacts_row[j] >= 0.5]
    picked += [j for j in order[::-1][:REASONS_EACH_WAY] if impacts_row[j] <= -0.5]
    reasons = []
    for j in picked:
        impact = round(float(impacts_row[j]), 1)  # the text shows the stored impact, rounded once more
        reasons.append(
            {
                "feature": columns[j],
                "text": f"{F.describe_value(columns[j], values[j])} ({impact:+.0f})",
                "impact": impact,
            }
        )
    reasons.sort(key=lambda r: -abs(r["impact"]))
    return reasons


def reasons_for_frame(loaded: LoadedModel, frame: pd.DataFrame, impacts: np.ndarray) -> list[list[dict]]:
    columns = [b[0] for b in loaded.blocks]
    arrays = [frame[c].to_numpy() for c in columns]
    orders = np.argsort(-impacts, axis=1, kind="stable")
    out = []
    for i in range(len(frame)):
        row = impacts[i]
        order = orders[i]
        # Only the columns that can become reasons need their values looked up.
        wanted = set(order[:REASONS_EACH_WAY].tolist()) | set(order[-REASONS_EACH_WAY:].tolist())
        values = [_plain(arrays[j][i]) if j in wanted else None for j in range(len(columns))]
        out.append(reasons_for(row, columns, values, order))
    return out


def _plain(value):
    if isinstance(value, np.floating):
        value = float(value)
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def transform_one(prep, values: dict) -> np.ndarray:
    """The fitted ColumnTransformer's output for one lead, without building a DataFrame.

    Each fitted sub-transformer is applied to its own columns, in the ColumnTransformer's output
    order: the same fitted preprocessing, minus ~15 ms of pandas and column-selection overhead
    per call (tests check it equals prep.transform on a frame).
    """
    parts = []
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="X does not have valid feature names")
        for name, transformer, columns in prep.transformers_:
            if name == "remainder" or transformer == "drop":
                continue
            dtype = object if name == "cat" else np.float64
            row = np.array([[values[c] for c in columns]], dtype=dtype)
            parts.append(transformer.transform(row))
    return np.hstack(parts)


def score_one(loaded: LoadedModel, raw: dict) -> tuple[float, list[dict]]:
    """Probability and reasons for one lead given raw values (the API's fast path)."""
    _, calibrated, estimator = _model_parts(loaded)
    values = {column: F.coerce_value(kind, raw.get(column)) for column, kind in loaded.types.items()}
    with config_context(assume_finite=True, skip_parameter_validation=True):
        transformed = transform_one(loaded.pipeline.named_steps["prep"], values)
        decision, contrib = decision_and_contributions(
            estimator, transformed, np.asarray(loaded.baseline), loaded.blocks
        )
        p = float(_calibrated_probability(calibrated, decision)[0])
        contrib = contrib[0]
        p_base = baseline_probability(loaded)
    total = 100.0 * (p - p_base)
    summed = float(contrib.sum())
    scale = total / summed if abs(summed) > 1e-9 and total * summed > 0 else 100.0 * p * (1 - p)
    columns = [b[0] for b in loaded.blocks]
    return p, reasons_for(contrib * scale, columns, [_plain(values[c]) for c in columns])


def tier_for(probability: float, cutoffs: dict) -> str:
    if probability >= cutoffs["hot"]:
        return "hot"
    if probability >= cutoffs["warm"]:
        return "warm"
    return "cold"


def score_from_probability(probability: float) -> int:
    return int(min(100, max(0, round(100 * probability))))
