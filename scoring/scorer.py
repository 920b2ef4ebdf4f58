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

import itertools
import json
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
    impacts_row: np.ndarray,
    columns: list[str],
    values,
    order: np.ndarray | None = None,
    *,
    kinds: dict[str, str] | None = None,
    words: F.ReasonWords | None = None,
) -> list[dict]:
    """Top factors up and down, in words, sorted by |impact| (the contract of Lead.score_reasons).

    A factor worth less than one score point, or whose value says nothing ("0 web visits in the
    last 7 days"), is not shown; the next one takes its place. `values` is a list or a function
    of the column position (only the shown candidates are looked up)."""
    if order is None:
        order = np.argsort(-impacts_row, kind="stable")
    value_of = values if callable(values) else values.__getitem__
    kinds = kinds or {}
    words = words or F.ReasonWords()
    reasons = []
    for sequence, sign in ((order, 1), (order[::-1], -1)):
        shown = 0
        for j in sequence:
            impact = float(impacts_row[j])
            if shown >= REASONS_EACH_WAY or sign * round(impact) < 1:
                break
            text = words.describe(columns[j], value_of(j), kinds.get(columns[j], F.NUMBER))
            if text is None:
                continue
            shown_impact = round(impact, 1)  # the text says what is stored, rounded once more
            reasons.append({"feature": columns[j], "text": f"{text} ({shown_impact:+.0f})", "impact": shown_impact})
            shown += 1
    reasons.sort(key=lambda r: -abs(r["impact"]))
    return reasons


def reason_words(loaded: LoadedModel) -> F.ReasonWords:
    """The labels, units and date columns the model was trained with (older artifacts: defaults)."""
    words = loaded.extras.get("_words")
    if words is None:
        extras = loaded.extras
        words = F.ReasonWords(
            labels=dict(extras.get("labels") or {}),
            units=dict(extras.get("units") or {}),
            dates=dict(extras.get("dates") or {}),
        )
        loaded.extras["_words"] = words
    return words


def reasons_for_frame(loaded: LoadedModel, frame: pd.DataFrame, impacts: np.ndarray) -> list[list[dict]]:
    """reasons_for() for every lead of a frame (tests check they are equal), computed column by
    column (see _reason_picks)."""
    out: list[list[dict]] = [[] for _ in range(len(frame))]
    rows, cols, texts, shown = _reason_picks(loaded, frame, impacts)
    columns = [b[0] for b in loaded.blocks]
    for i, j, text, impact in zip(rows.tolist(), cols.tolist(), texts.tolist(), shown.tolist(), strict=True):
        out[i].append({"feature": columns[j], "text": f"{text} ({impact:+.0f})", "impact": impact})
    return out


def reasons_json_for_frame(loaded: LoadedModel, frame: pd.DataFrame, impacts: np.ndarray) -> list[str]:
    """reasons_for_frame() as each lead's JSON text, built without a dict per reason: what the
    rescore writes. A chunk's reasons repeat (a column, its words, an impact to a tenth of a
    point), so each distinct one is written as JSON once and each lead's list joins its pieces."""
    rows, cols, texts, shown = _reason_picks(loaded, frame, impacts)
    if not len(rows):
        return ["[]"] * len(frame)
    columns = [b[0] for b in loaded.blocks]
    text_codes, text_values = pd.factorize(texts)
    impact_codes, impact_values = pd.factorize(shown)
    n_texts, n_impacts = len(text_values), len(impact_values)
    keys = (cols.astype(np.int64) * n_texts + text_codes) * n_impacts + impact_codes
    piece_codes, unique_keys = pd.factorize(keys)
    features = [json.dumps(column) for column in columns]
    texts_open = [json.dumps(text)[:-1] for text in text_values]  # closed after the impact, which needs no escaping
    impacts_shown = impact_values.tolist()
    pieces = []
    for key in unique_keys.tolist():
        j, rest = divmod(key, n_texts * n_impacts)
        text, impact = texts_open[rest // n_impacts], impacts_shown[rest % n_impacts]
        pieces.append(f'{{"feature": {features[j]}, "text": {text} ({impact:+.0f})", "impact": {impact!r}}}')
    by_reason = np.asarray(pieces, dtype=object)[piece_codes].tolist()
    bounds = np.searchsorted(rows, np.arange(len(frame) + 1)).tolist()  # rows are in lead order
    return ["[" + ", ".join(by_reason[a:b]) + "]" for a, b in itertools.pairwise(bounds)]


def _reason_picks(loaded: LoadedModel, frame: pd.DataFrame, impacts: np.ndarray):
    """(lead positions, column positions, words, shown impacts) of every reason of every lead, as
    arrays in lead order and, within a lead, in reasons_for's order. At a million leads a Python
    loop per lead was a third of a rescore: here which factors show is decided with numpy, and
    each distinct value of a column is put in words once (ReasonWords.describe, the one rule)."""
    columns = [b[0] for b in loaded.blocks]
    if len(frame) == 0 or not columns:
        empty = np.empty(0, dtype=np.intp)
        return empty, empty, np.empty(0, dtype=object), np.empty(0, dtype=float)
    rounded = np.round(impacts)  # half to even, as Python's round()
    texts = _candidate_texts(loaded, frame, columns, (rounded >= 1) | (rounded <= -1))
    has_text = texts != None  # noqa: E711 (elementwise)
    order = np.argsort(-impacts, axis=1, kind="stable")
    up_rows, up_pos, up_cols = _first_shown(order, (rounded >= 1) & has_text)
    down_rows, down_pos, down_cols = _first_shown(order[:, ::-1], (rounded <= -1) & has_text)
    rows = np.concatenate([up_rows, down_rows])
    cols = np.concatenate([up_cols, down_cols])
    shown = _round_tenths(impacts[rows, cols])
    # reasons_for lists the ups then the downs, each in its own order, then sorts stably by |impact|.
    side = np.concatenate([np.zeros(len(up_rows), dtype=int), np.ones(len(down_rows), dtype=int)])
    by = np.lexsort((np.concatenate([up_pos, down_pos]), side, -np.abs(shown), rows))
    rows, cols = rows[by], cols[by]
    return rows, cols, texts[rows, cols], shown[by]


def _round_tenths(values: np.ndarray) -> np.ndarray:
    """round(x, 1) of each value, as Python rounds it (the reasons' stored impact). numpy's
    rint(10x) / 10 gives the same float except where 10x lies within rounding error of a half:
    those few are rounded by Python."""
    shown = np.round(values, 1)
    scaled = values * 10
    near_half = np.abs(scaled - np.floor(scaled) - 0.5) < 1e-6
    if near_half.any():
        shown[near_half] = [round(x, 1) for x in values[near_half].tolist()]
    return shown


def _candidate_texts(loaded: LoadedModel, frame: pd.DataFrame, columns: list[str], candidate: np.ndarray):
    """(n x columns) the words of each value that may become a reason (None: it says nothing or
    is not a candidate); each distinct value of a column described once."""
    words = reason_words(loaded)
    texts = np.full(candidate.shape, None, dtype=object)
    for j, column in enumerate(columns):
        rows = np.flatnonzero(candidate[:, j])
        if not len(rows):
            continue
        kind = loaded.types.get(column, F.NUMBER)
        codes, uniques = pd.factorize(frame[column].to_numpy()[rows], use_na_sentinel=True)
        described = [words.describe(column, _plain(u), kind) for u in uniques]
        described.append(words.describe(column, None, kind))  # code -1: a missing value
        texts[rows, j] = np.array(described, dtype=object)[codes]
    return texts


def _first_shown(sequence: np.ndarray, shown: np.ndarray):
    """(rows, positions, columns) of the first REASONS_EACH_WAY shown factors of each row, walking
    each row's columns in `sequence` order. The shown factors are a prefix of the candidates
    (sorted by impact), as reasons_for's loop stops at the first one under a point."""
    in_order = np.take_along_axis(shown, sequence, axis=1)
    keep = in_order & (np.cumsum(in_order, axis=1) <= REASONS_EACH_WAY)
    rows, positions = np.nonzero(keep)
    return rows, positions, sequence[rows, positions]


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
    return p, reasons_for(
        contrib * scale,
        columns,
        [_plain(values[c]) for c in columns],
        kinds=loaded.types,
        words=reason_words(loaded),
    )


def tier_for(score: int, cutoffs: dict) -> str:
    """The tier of a displayed score (0-100): hot at or above cutoffs["hot"] points, warm at or
    above cutoffs["warm"]. A function of the score alone, so one score always shows one tier."""
    if score >= cutoffs["hot"]:
        return "hot"
    if score >= cutoffs["warm"]:
        return "warm"
    return "cold"


def score_from_probability(probability: float) -> int:
    return int(min(100, max(0, round(100 * probability))))


def scores_from_probabilities(probabilities) -> np.ndarray:
    """score_from_probability for an array (np.round rounds half to even, as round() does)."""
    return np.clip(np.round(100 * np.asarray(probabilities, dtype=float)), 0, 100).astype(int)


def tiers_for(scores: np.ndarray, cutoffs: dict) -> np.ndarray:
    """tier_for for an array of scores."""
    return np.where(scores >= cutoffs["hot"], "hot", np.where(scores >= cutoffs["warm"], "warm", "cold")).astype(object)
