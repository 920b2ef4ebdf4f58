"""Training: screen columns (exclusions + leak check), compare candidates on the same folds,
calibrate the winner, measure it on a holdout, and hand back one fitted Pipeline.

One validation protocol for every candidate and for calibration: shuffled stratified folds with a
fixed seed (a file sorted by time must not give folds that each see one era), and the figures that
judge a model are those of the calibrated pipeline that will score leads.

No fit is done twice: the candidates' CV fits are the winner's per-fold models and their
out-of-fold scores calibrate the holdout (= shipped) model, whose estimator is the one new fit;
each CV fold's sigmoid is fitted on scores from a ring of fits that never saw that fold. The
independent fits run on n_jobs threads (SCORING_TRAINING_JOBS).

Pure functions over a feature frame and outcomes; the database work lives in training_runs.py.

May import scoring.features and scoring.scorer only.
"""

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.base import clone
from sklearn.calibration import CalibratedClassifierCV, _fit_calibrator
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.feature_selection import RFE
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    confusion_matrix,
    log_loss,
    precision_recall_curve,
    roc_auc_score,
    roc_curve,
)
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from threadpoolctl import threadpool_limits

from scoring import features as F

LEAK_AUC = 0.95
# A column this predictive on its own is kept but flagged: it may be filled in after the outcome.
LEAK_WARN_AUC = 0.85
LEAK_WARNING = "suspiciously predictive — known before the outcome?"
REFIT_ALL_BELOW = 20_000
# Fewer of either outcome cannot fill a holdout and two folds, each with both outcomes, whose
# training parts still split for calibration and for the boosted model's early stopping.
MIN_EACH_OUTCOME = 10
RANDOM_STATE = 0
# The key of the score's own distribution among the per-feature drift references.
SCORE_REFERENCE = "__score__"
Progress = Callable[[int, str], None]


class TrainingError(Exception):
    """Training cannot go ahead (too few outcomes, no usable columns)."""


@dataclass
class Candidate:
    name: str
    algorithm: str
    params: dict

    def build(self, n_columns: int):
        if self.algorithm == "logistic_regression":
            return LogisticRegression(max_iter=1000, **self.params)
        if self.algorithm == "logistic_regression_rfe":
            keep = max(1, min(int(self.params.get("n_features", 15)), n_columns))
            inner = LogisticRegression(max_iter=1000, C=self.params.get("C", 1.0))
            if keep >= n_columns:
                # Nothing to eliminate: the plain regression (RFE refuses a single column).
                return inner
            return RFE(inner, n_features_to_select=keep, step=0.15)
        if self.algorithm == "hist_gradient_boosting":
            return HistGradientBoostingClassifier(
                early_stopping=True,
                validation_fraction=0.1,
                n_iter_no_change=15,
                random_state=RANDOM_STATE,
                **self.params,
            )
        raise TrainingError(f"unknown algorithm {self.algorithm!r}")

    def as_dict(self) -> dict:
        return {"candidate": self.name, "algorithm": self.algorithm, "estimator": self.params}


def default_candidates() -> list[Candidate]:
    """Small grids: a 100k-lead, 5-fold run must finish within a minute on two cores."""
    return [
        Candidate("lr_c0.1", "logistic_regression", {"C": 0.1}),
        Candidate("lr_c1", "logistic_regression", {"C": 1.0}),
        Candidate("lr_c1_balanced", "logistic_regression", {"C": 1.0, "class_weight": "balanced"}),
        Candidate("lr_rfe15", "logistic_regression_rfe", {"C": 1.0, "n_features": 15}),
        Candidate(
            "hgb",
            "hist_gradient_boosting",
            {
                "learning_rate": 0.08,
                "max_iter": 300,
                "max_leaf_nodes": 15,
                "min_samples_leaf": 40,
                "l2_regularization": 1.0,
                "max_bins": 127,
            },
        ),
    ]


@dataclass
class TrainResult:
    pipeline: Pipeline
    candidate: Candidate
    types: dict
    baseline: np.ndarray
    blocks: list
    metrics: dict
    features: dict
    threshold: float
    score_quantiles: list
    cv_by_candidate: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)
    # The primary holdout's rows (positions in the training frame) and the calibrated probabilities
    # the holdout pipeline (not fitted on them) gave them: the champion/challenger comparison's data.
    holdout_index: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))
    holdout_p: np.ndarray = field(default_factory=lambda: np.zeros(0))


# --- column screening ---------------------------------------------------------------------


def single_column_auc(series: pd.Series, y: np.ndarray, kind: str) -> float:
    """How well one column alone separates the outcomes (0.5 = not at all, 1 = perfectly).

    Categories are target-encoded out of fold, so a many-level column cannot score by memorising.
    """
    if kind in (F.NUMBER, F.BOOLEAN):
        values = series.astype("float64")
        if values.isna().all() or (values.nunique(dropna=True) < 2 and values.notna().all()):
            return 0.5
        filled = values.fillna(values.median() if values.notna().any() else 0.0).to_numpy()
        missing = values.isna().to_numpy().astype(float)
        aucs = [_auc_safe(y, filled)]
        if missing.any():
            aucs.append(_auc_safe(y, missing))
        return max(max(a, 1 - a) for a in aucs)
    levels = series.fillna(F.MISSING_LEVEL).astype(str).to_numpy()
    encoded = np.zeros(len(levels))
    prior = float(y.mean())
    folds = StratifiedKFold(n_splits=2, shuffle=True, random_state=RANDOM_STATE)
    for fit_idx, enc_idx in folds.split(levels, y):
        stats = pd.DataFrame({"level": levels[fit_idx], "y": y[fit_idx]}).groupby("level")["y"].agg(["sum", "count"])
        means = (stats["sum"] + 10 * prior) / (stats["count"] + 10)
        encoded[enc_idx] = pd.Series(levels[enc_idx]).map(means).fillna(prior).to_numpy()
    auc = _auc_safe(y, encoded)
    return max(auc, 1 - auc)


def _auc_safe(y: np.ndarray, values: np.ndarray) -> float:
    try:
        return float(roc_auc_score(y, values))
    except ValueError:
        return 0.5


def columns_screen(
    frame: pd.DataFrame, y: np.ndarray, types: dict, *, excluded: dict[str, str], kept: list[str]
) -> tuple[dict, dict, dict]:
    """Which columns the model may use. Returns (used types, excluded {col: reason}, leak AUCs)."""
    used: dict[str, str] = {}
    dropped: dict[str, str] = {}
    aucs: dict[str, float] = {}
    kept_set = set(kept or [])
    n = len(frame)
    for column, kind in types.items():
        if column in excluded and column not in kept_set:
            dropped[column] = excluded[column]
            continue
        series = frame[column]
        if kind in F.DATE_KINDS:
            # frame_types turns a date into its gap to the created date; a raw timestamp never goes in.
            dropped[column] = "date column: used as days to the created date, never as a raw timestamp"
            continue
        non_missing = series.dropna()
        if non_missing.empty:
            dropped[column] = "always empty"
            continue
        distinct = non_missing.nunique()
        if distinct < 2 and series.notna().all():
            dropped[column] = "the same value for every lead"
            continue
        if kind == F.CATEGORY and distinct > 50 and distinct > 0.5 * len(non_missing):
            dropped[column] = f"identifier-like: {distinct} distinct values in {n} leads"
            continue
        if kind == F.NUMBER and n >= 50 and distinct == len(non_missing) == n and _is_integer_like(non_missing):
            dropped[column] = "identifier-like: a different whole number for every lead"
            continue
        auc = single_column_auc(series, y, kind)
        aucs[column] = round(auc, 4)
        if auc >= LEAK_AUC and column not in kept_set:
            dropped[column] = f"leak check: this column alone predicts the outcome (ROC AUC {auc:.3f})"
            continue
        used[column] = kind
    if not used:
        raise TrainingError("no usable columns after exclusions and the leak check")
    return used, dropped, aucs


def leak_warnings(aucs: dict[str, float], used: dict) -> dict[str, str]:
    """The used columns whose single-column ROC AUC is in the warning band: {column: words}."""
    return {
        column: f"{LEAK_WARNING} (this column alone: ROC AUC {auc:.3f})"
        for column, auc in sorted(aucs.items(), key=lambda item: -item[1])
        if column in used and auc >= LEAK_WARN_AUC
    }


def _is_integer_like(series: pd.Series) -> bool:
    values = series.astype("float64").to_numpy()
    return bool(np.all(np.equal(np.mod(values, 1), 0)))


# --- pipeline -----------------------------------------------------------------------------


def preprocessor_build(types: dict, n_rows: int) -> ColumnTransformer:
    numbers = [c for c, k in types.items() if k == F.NUMBER]
    booleans = [c for c, k in types.items() if k == F.BOOLEAN]
    categories = [c for c, k in types.items() if k == F.CATEGORY]
    min_frequency = max(5, int(0.002 * n_rows))
    transformers = []
    if numbers:
        transformers.append(
            (
                "num",
                Pipeline(
                    [
                        ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
                        ("scale", StandardScaler()),
                    ]
                ),
                numbers,
            )
        )
    if booleans:
        transformers.append(("bool", SimpleImputer(strategy="most_frequent", keep_empty_features=True), booleans))
    if categories:
        transformers.append(
            (
                "cat",
                Pipeline(
                    [
                        (
                            "impute",
                            SimpleImputer(strategy="constant", fill_value=F.MISSING_LEVEL, keep_empty_features=True),
                        ),
                        (
                            "onehot",
                            OneHotEncoder(
                                handle_unknown="infrequent_if_exist",
                                min_frequency=min_frequency,
                                sparse_output=False,
                                dtype=np.float64,
                            ),
                        ),
                    ]
                ),
                categories,
            )
        )
    return ColumnTransformer(transformers, remainder="drop", sparse_threshold=0.0)


def column_blocks(prep: ColumnTransformer) -> list[list]:
    """[[original column, start, stop], ...]: which transformed columns each input column became."""
    blocks = []
    for name, transformer, columns in prep.transformers_:
        if name == "remainder" or transformer == "drop":
            continue
        where = prep.output_indices_[name]
        start = where.start
        if name == "cat":
            encoder = transformer.named_steps["onehot"]
            widths = list(encoder._n_features_outs)
        else:
            widths = [1] * len(columns)
        for column, width in zip(columns, widths, strict=True):
            blocks.append([column, start, start + width])
            start += width
    return blocks


def folds_split(n_splits: int) -> StratifiedKFold:
    """The folds of every cross-validation here (candidates, calibration): shuffled, stratified,
    seeded. Unshuffled folds over rows in file order calibrate a time-sorted file backwards."""
    return StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=RANDOM_STATE)


def _calibration_folds(n_rows: int) -> int:
    return 5 if n_rows < 50_000 else 3


def _calibrated(estimator, n_rows: int) -> CalibratedClassifierCV:
    """Platt (sigmoid) calibration fitted on out-of-fold predictions, then the estimator refitted
    on every row (ensemble=False: one estimator, so reasons stay exact). Sigmoid beat isotonic on
    held-out expected calibration error on X Education and keeps scores smooth (no ties); 5 folds
    while fits are cheap, 3 above 50k rows to keep a 100k-lead training within a minute."""
    cv = folds_split(_calibration_folds(n_rows))
    return CalibratedClassifierCV(estimator, method="sigmoid", cv=cv, ensemble=False)


def raw_scores(estimator, x: np.ndarray) -> np.ndarray:
    """What the sigmoid calibrates: the decision function, as CalibratedClassifierCV takes it
    (every candidate has one; predict_proba's positive column otherwise)."""
    if hasattr(estimator, "decision_function"):
        return np.asarray(estimator.decision_function(x), dtype=float)
    return estimator.predict_proba(x)[:, 1]


def calibrated_assemble(
    prep: ColumnTransformer, estimator, oof_scores: np.ndarray, y: np.ndarray, *, folds: int
) -> Pipeline:
    """The calibrated pipeline from parts already fitted: `prep` and `estimator` fitted on the
    same rows, and a sigmoid fitted on `oof_scores`, out-of-fold raw scores of that estimator's
    recipe for those rows (each from a fit that did not see the row). The result is what
    CalibratedClassifierCV(ensemble=False) builds when its folds are the ones that gave
    `oof_scores` (tests/scoring/test_training.py checks they agree), without refitting anything,
    except that its sigmoid never turns the ranking upside down (sigmoid_fit)."""
    model = CalibratedClassifierCV(clone(estimator), method="sigmoid", cv=folds_split(folds), ensemble=False)
    classes = np.array([0, 1])
    model.calibrated_classifiers_ = [sigmoid_fit(estimator, oof_scores, y)]
    model.classes_ = classes
    model.n_features_in_ = estimator.n_features_in_
    return Pipeline([("prep", prep), ("model", model)])


def sigmoid_fit(estimator, scores: np.ndarray, y: np.ndarray):
    """Platt's sigmoid from raw scores to probabilities, never decreasing: when the scores it is
    fitted on rank the outcomes backwards (a fit on few rows, a time-sorted file), an unconstrained
    sigmoid would turn the estimator's ranking upside down, and the calibrated model with it. The
    best non-decreasing sigmoid is then the flat one, the base rate for every lead: the model is
    shown as no better than chance (and gated), never as a model that ranks in reverse."""
    classes = np.array([0, 1])
    fitted = _fit_calibrator(estimator, np.asarray(scores, dtype=float).reshape(-1, 1), y, classes, "sigmoid", xp=np)
    sigmoid = fitted.calibrators[0]
    if sigmoid.a_ >= 0:  # predict is expit(-(a_ * score + b_)): a_ < 0 keeps the ranking
        rate = float(np.clip(np.mean(y), 1e-6, 1 - 1e-6))
        sigmoid.a_, sigmoid.b_ = 0.0, -math.log(rate / (1 - rate))
    return fitted


def calibration_slope(pipeline: Pipeline) -> float:
    """How steeply the calibrated pipeline's probability rises with its estimator's raw score
    (0: flat, every lead gets the base rate; sigmoid_fit never makes it negative)."""
    return float(-calibrator(pipeline).a_)


# --- parallel fits --------------------------------------------------------------------------
# Fits run on `n_jobs` threads (joblib's threading backend: nothing to pickle, works inside a
# Celery worker whose processes may not fork children). The estimators release the GIL in their
# numeric loops; each thread is held to one OpenMP thread, so n_jobs is the cores training uses.


def _one_thread(function, *args):
    with threadpool_limits(limits=1, user_api="openmp"):
        return function(*args)


def _parallel(n_jobs: int, jobs: list[tuple], *, sizes: list[int] | None = None) -> list:
    """Run [(function, *args), ...] and return the results in the jobs' order. With `sizes`, the
    largest jobs start first, so two threads do not end with one of them idle on the biggest."""
    if n_jobs <= 1 or len(jobs) <= 1:
        return [job[0](*job[1:]) for job in jobs]
    order = sorted(range(len(jobs)), key=lambda i: -sizes[i]) if sizes else list(range(len(jobs)))
    runner = Parallel(n_jobs=min(n_jobs, len(jobs)), backend="threading")
    done = runner(delayed(_one_thread)(*jobs[i]) for i in order)
    results: list = [None] * len(jobs)
    for i, result in zip(order, done, strict=True):
        results[i] = result
    return results


def _fit_scores(frame: pd.DataFrame, y: np.ndarray, types: dict, candidate: Candidate, fit_rows, score_rows):
    """`candidate` (with its own preprocessing) fitted on fit_rows; its raw scores for score_rows."""
    prep = preprocessor_build(types, len(fit_rows))
    x_fit = prep.fit_transform(frame.iloc[fit_rows])
    estimator = candidate.build(x_fit.shape[1]).fit(x_fit, y[fit_rows])
    return raw_scores(estimator, prep.transform(frame.iloc[score_rows]))


def _fit_prep_estimator(frame: pd.DataFrame, y: np.ndarray, types: dict, candidate: Candidate, rows, n_columns: int):
    prep = preprocessor_build(types, len(rows))
    x = prep.fit_transform(frame.iloc[rows])
    return prep, candidate.build(n_columns).fit(x, y[rows])


def calibrated_fit_jobs(frame: pd.DataFrame, y: np.ndarray, types: dict, candidate: Candidate, n_columns: int):
    """The fits of a calibrated pipeline on every row of `frame` (the estimator on all rows, and
    for the sigmoid, out-of-fold scores over _calibration_folds shuffled folds), and the function
    that assembles their results: (jobs, their sizes, finish). Run them with others in one _parallel."""
    n_folds = _calibration_folds(len(y))
    splits = list(folds_split(n_folds).split(np.zeros(len(y)), y))
    jobs = [(_fit_prep_estimator, frame, y, types, candidate, np.arange(len(y)), n_columns)]
    jobs += [(_fit_scores, frame, y, types, candidate, fit_idx, score_idx) for fit_idx, score_idx in splits]
    sizes = [len(y), *[len(fit_idx) for fit_idx, _ in splits]]

    def finish(results: list) -> Pipeline:
        (prep, estimator), oof = results[0], np.zeros(len(y))
        for (_, score_idx), scores in zip(splits, results[1:], strict=True):
            oof[score_idx] = scores
        return calibrated_assemble(prep, estimator, oof, y, folds=n_folds)

    return jobs, sizes, finish


def calibrated_fit(
    frame: pd.DataFrame, y: np.ndarray, types: dict, candidate: Candidate, n_columns: int, *, n_jobs: int = 1
) -> Pipeline:
    """The calibrated pipeline fitted on every row of `frame`: what fitting preprocessing then
    _calibrated(candidate) would give, its fits in parallel."""
    jobs, sizes, finish = calibrated_fit_jobs(frame, y, types, candidate, n_columns)
    return finish(_parallel(n_jobs, jobs, sizes=sizes))


def base_estimator(pipeline: Pipeline):
    """The fitted uncalibrated estimator inside the calibrated model."""
    return pipeline.named_steps["model"].calibrated_classifiers_[0].estimator


def calibrator(pipeline: Pipeline):
    return pipeline.named_steps["model"].calibrated_classifiers_[0].calibrators[0]


# --- metrics ------------------------------------------------------------------------------


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> tuple[float, list[dict]]:
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1], right=False), 0, bins - 1)
    ece = 0.0
    table = []
    for b in range(bins):
        mask = which == b
        count = int(mask.sum())
        mean_p = float(p[mask].mean()) if count else None
        observed = float(y[mask].mean()) if count else None
        if count:
            ece += count / len(p) * abs(mean_p - observed)
        table.append(
            {
                "bin": b,
                "lower": round(float(edges[b]), 2),
                "upper": round(float(edges[b + 1]), 2),
                "mean_predicted": _r(mean_p),
                "observed": _r(observed),
                "count": count,
            }
        )
    return float(ece), table


def deciles_table(y: np.ndarray, p: np.ndarray) -> list[dict]:
    order = np.argsort(-p, kind="stable")
    y_sorted = y[order]
    base = y.mean() if len(y) else 0.0
    total_pos = max(int(y.sum()), 1)
    rows, cum = [], 0
    for d, part in enumerate(np.array_split(y_sorted, 10), start=1):
        n = len(part)
        pos = int(part.sum())
        cum += pos
        rate = pos / n if n else 0.0
        rows.append(
            {
                "decile": d,
                "n": n,
                "positives": pos,
                "conversion_rate": _r(rate),
                "lift": _r(rate / base if base else 0.0),
                "cum_gain": _r(cum / total_pos),
            }
        )
    return rows


def thresholds_table(y: np.ndarray, p: np.ndarray) -> list[dict]:
    rows = []
    for t in np.round(np.arange(0.05, 0.96, 0.05), 2):
        flagged = p >= t
        tp = int((flagged & (y == 1)).sum())
        fp = int((flagged & (y == 0)).sum())
        fn = int((~flagged & (y == 1)).sum())
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        rows.append(
            {
                "threshold": float(t),
                "precision": _r(precision),
                "recall": _r(recall),
                "f1": _r(f1),
                "flagged": int(flagged.sum()),
            }
        )
    return rows


def _downsample(values: np.ndarray, n: int = 101) -> list[float]:
    if len(values) <= n:
        return [_r(v) for v in values]
    idx = np.unique(np.linspace(0, len(values) - 1, n).astype(int))
    return [_r(v) for v in values[idx]]


def _r(value, digits: int = 4):
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else round(value, digits)


def holdout_metrics(y: np.ndarray, p: np.ndarray, threshold: float | None = None) -> dict:
    thresholds = thresholds_table(y, p)
    if threshold is None:
        threshold = max(thresholds, key=lambda row: (row["f1"], -abs(row["threshold"] - 0.5)))["threshold"]
    predicted = (p >= threshold).astype(int)
    tn, fp, fn, tp = confusion_matrix(y, predicted, labels=[0, 1]).ravel()
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    ece, calibration = expected_calibration_error(y, p)
    fpr, tpr, _ = roc_curve(y, p)
    prec_curve, rec_curve, _ = precision_recall_curve(y, p)
    return {
        "roc_auc": _r(roc_auc_score(y, p)),
        "pr_auc": _r(average_precision_score(y, p)),
        "log_loss": _r(log_loss(y, np.clip(p, 1e-6, 1 - 1e-6), labels=[0, 1])),
        "brier": _r(brier_score_loss(y, p)),
        "ece": _r(ece),
        "accuracy": _r((tp + tn) / len(y)),
        "precision": _r(precision),
        "recall": _r(recall),
        "f1": _r(2 * precision * recall / (precision + recall) if precision + recall else 0.0),
        "threshold": float(threshold),
        "confusion": {"tn": int(tn), "fp": int(fp), "fn": int(fn), "tp": int(tp)},
        "calibration": calibration,
        "deciles": deciles_table(y, p),
        "roc_curve": {"fpr": _downsample(fpr), "tpr": _downsample(tpr)},
        "pr_curve": {"precision": _downsample(prec_curve), "recall": _downsample(rec_curve)},
        "thresholds": thresholds,
    }


def reference_distributions(frame: pd.DataFrame, types: dict, p: np.ndarray) -> dict:
    """Training distributions per feature and of the score, for drift reports."""
    reference: dict = {}
    for column, kind in types.items():
        series = frame[column]
        if kind == F.BOOLEAN:
            reference[column] = _boolean_reference(series)
        elif kind == F.NUMBER:
            values = series.dropna().to_numpy(dtype="float64")
            reference[column] = _numeric_reference(values)
        else:
            counts = series.fillna(F.MISSING_LEVEL).astype(str).value_counts(normalize=True)
            top = counts.head(30)
            fractions = {str(k): _r(v) for k, v in top.items()}
            if len(counts) > len(top):
                fractions[F.OTHER_LEVEL] = _r(counts.iloc[len(top) :].sum())
            reference[column] = {"kind": "categorical", "fractions": fractions}
    reference[SCORE_REFERENCE] = {
        "kind": "numeric",
        "edges": [round(x, 2) for x in np.linspace(0, 1, 11)],
        "fractions": [_r(f) for f in np.histogram(p, bins=np.linspace(0, 1, 11))[0] / max(len(p), 1)],
    }
    return reference


def _boolean_reference(series: pd.Series) -> dict:
    """Shares of true, false and (only when training saw it) missing among all training rows.
    Quantile bins cannot split a 0/1 column, so a yes/no feature gets its own two bins."""
    values = series.astype("float64")
    n = len(values)
    if n == 0:
        return {"kind": "boolean", "fractions": {}}
    missing = int(values.isna().sum())
    true = int((values.notna() & (values != 0)).sum())
    fractions = {"true": _r(true / n), "false": _r((n - missing - true) / n)}
    if missing:
        fractions[F.MISSING_LEVEL] = _r(missing / n)
    return {"kind": "boolean", "fractions": fractions}


def _numeric_reference(values: np.ndarray) -> dict:
    if len(values) == 0:
        return {"kind": "numeric", "edges": [], "fractions": []}
    edges = np.unique(np.quantile(values, np.linspace(0, 1, 11)))
    if len(edges) < 2:
        edges = np.array([edges[0], edges[0] + 1.0])
    counts = np.histogram(values, bins=edges)[0]
    return {"kind": "numeric", "edges": [_r(e) for e in edges], "fractions": [_r(c / len(values)) for c in counts]}


# --- the run ------------------------------------------------------------------------------


def holdout_split(y: np.ndarray, created: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, str]:
    """80/20: the newest 20 % when creation dates vary (as the model will be used), else stratified."""
    if created is not None and len(created):
        stamps = _epoch_seconds(created)
        if stamps.max() - stamps.min() > 86400 and len(np.unique(stamps)) > len(y) // 10:
            order = np.argsort(stamps, kind="stable")
            cut = int(len(y) * 0.8)
            train, hold = np.sort(order[:cut]), np.sort(order[cut:])
            if 0 < y[hold].sum() < len(hold) and 0 < y[train].sum() < len(train):
                return train, hold, "time-ordered (newest 20 %)"
    return shuffled_split(y)


def _epoch_seconds(created: np.ndarray) -> np.ndarray:
    """Creation dates as seconds since the epoch (float): a lead dated 1900 beside one dated 2200
    is a span a pandas Timedelta (nanoseconds, +-292 years) cannot hold, and a date before 1677 or
    after 2262 is no pandas Timestamp at all (those take the slow path, one date at a time)."""
    try:
        stamps = pd.to_datetime(pd.Series(created), utc=True)
        return (stamps - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy(dtype="float64")
    except (OverflowError, pd.errors.OutOfBoundsDatetime):
        return np.array([stamp.timestamp() for stamp in created], dtype="float64")


SAMPLE_TIME_BANDS = 10


@dataclass
class TrainingSample:
    """The rows a training uses (positions among the closed leads, in their order) and, when
    they are a sample, how it was drawn: `described` is None when every row is used."""

    index: np.ndarray
    of: int
    described: dict | None = None


def training_sample(
    y: np.ndarray, created: np.ndarray | None, *, max_rows: int, seed: int = RANDOM_STATE
) -> TrainingSample:
    """Every row when there are at most `max_rows`; else a seeded sample of `max_rows` of them,
    stratified by outcome and by tenth of the creation-date order, so both outcomes keep their
    share in every period and the newest rows (the time-ordered holdout) are as well represented
    as the oldest. Training's memory grows with its rows; its quality stops growing long before."""
    y = np.asarray(y).astype(int)
    n = len(y)
    if n <= max_rows:
        return TrainingSample(np.arange(n), n)
    band = np.zeros(n, dtype=int)
    if created is not None and len(created):
        order = np.argsort(_epoch_seconds(created), kind="stable")
        band[order] = np.arange(n) * SAMPLE_TIME_BANDS // n
    strata = band * 2 + y
    names, counts = np.unique(strata, return_counts=True)
    quotas = _largest_remainder(counts, max_rows)
    rng = np.random.default_rng(seed)
    chosen = [
        rng.choice(np.flatnonzero(strata == name), size=quota, replace=False)
        for name, quota in zip(names, quotas, strict=True)
    ]
    index = np.sort(np.concatenate(chosen))
    described = {
        "n": len(index),
        "of": n,
        "max_rows": max_rows,
        "seed": seed,
        "how": (
            f"a seeded random sample (seed {seed}) of {len(index)} of the {n} closed leads, stratified by outcome "
            f"and by tenth of the creation dates (more than {max_rows} rows: setting SCORING_TRAINING_MAX_ROWS)"
        ),
    }
    return TrainingSample(index, n, described)


def _largest_remainder(counts: np.ndarray, total: int) -> np.ndarray:
    """Whole quotas proportional to `counts` that add up to `total` (<= counts.sum()), each
    stratum keeping at least one row: an outcome rare in one period is never dropped from it."""
    exact = counts * total / counts.sum()
    quotas = np.maximum(np.floor(exact).astype(int), 1)
    short = total - int(quotas.sum())
    if short > 0:
        for i in np.argsort(-(exact - np.floor(exact)), kind="stable")[:short]:
            quotas[i] += 1
    return np.minimum(quotas, counts)


def shuffled_split(y: np.ndarray) -> tuple[np.ndarray, np.ndarray, str]:
    """A shuffled stratified 80/20 split (seeded)."""
    train, hold = train_test_split(np.arange(len(y)), test_size=0.2, stratify=y, random_state=RANDOM_STATE)
    return np.sort(train), np.sort(hold), "stratified 20 %"


@dataclass
class CandidateFolds:
    """What the candidates' cross-validation fitted, kept for the winner's calibration: per fold
    its rows (positions in the CV frame), and per candidate the fitted estimator and its raw
    scores for the fold's validation rows."""

    splits: list[tuple[np.ndarray, np.ndarray]]
    estimators: list[dict] = field(default_factory=list)
    scores: list[dict] = field(default_factory=list)

    def oof_scores(self, name: str, n_rows: int) -> np.ndarray:
        """Candidate `name`'s out-of-fold raw score for every row of the CV frame."""
        oof = np.zeros(n_rows)
        for (_, val_idx), scores in zip(self.splits, self.scores, strict=True):
            oof[val_idx] = scores[name]
        return oof


def _fold_candidates(frame: pd.DataFrame, y: np.ndarray, types: dict, candidates: list[Candidate], fit_idx, val_idx):
    """One fold: the preprocessing fitted on its training part (shared by the candidates), every
    candidate fitted there and scored on the validation part."""
    prep = preprocessor_build(types, len(fit_idx))
    x_fit = prep.fit_transform(frame.iloc[fit_idx])
    x_val = prep.transform(frame.iloc[val_idx])
    estimators, scores, probabilities = {}, {}, {}
    for candidate in candidates:
        estimator = candidate.build(x_fit.shape[1]).fit(x_fit, y[fit_idx])
        estimators[candidate.name] = estimator
        scores[candidate.name] = raw_scores(estimator, x_val)
        probabilities[candidate.name] = estimator.predict_proba(x_val)[:, 1]
    return estimators, scores, probabilities, x_fit.shape[1]


def cross_validate(
    frame: pd.DataFrame,
    y: np.ndarray,
    types: dict,
    candidates: list[Candidate],
    *,
    folds: int,
    progress: Progress | None = None,
    start: int = 10,
    end: int = 60,
    n_jobs: int = 1,
) -> tuple[dict[str, dict], CandidateFolds]:
    """Every candidate on the same stratified folds (the folds in parallel on n_jobs threads).
    The (unsupervised) preprocessing is fitted once per fold on that fold's training part and
    shared by the candidates. Returns the summary per candidate and the fitted folds."""
    fitted = CandidateFolds(list(folds_split(folds).split(np.zeros(len(y)), y)))
    scores: dict[str, dict[str, list]] = {c.name: {"roc_auc": [], "log_loss": []} for c in candidates}
    n_columns = 0
    # On several threads a boosted model (the slowest fit by far) is a job of its own, beside one
    # job for the linear candidates of the same fold; each job fits the fold's preprocessing.
    slow = [[c] for c in candidates if c.algorithm == "hist_gradient_boosting"]
    fast = [c for c in candidates if c.algorithm != "hist_gradient_boosting"]
    groups = [*slow, *([fast] if fast else [])] if n_jobs > 1 else [candidates]
    jobs = [
        (_fold_candidates, frame, y, types, group, fit_idx, val_idx)
        for fit_idx, val_idx in fitted.splits
        for group in groups
    ]
    sizes = [len(fit_idx) * (4 if group in slow else 1) for fit_idx, _ in fitted.splits for group in groups]
    if progress:
        progress(start, f"cross-validating {len(candidates)} candidates on {folds} folds")
    results = iter(_parallel(n_jobs, jobs, sizes=sizes))
    for fold, (_, val_idx) in enumerate(fitted.splits, start=1):
        estimators, raw, probabilities = {}, {}, {}
        for _ in groups:
            part = next(results)
            estimators.update(part[0])
            raw.update(part[1])
            probabilities.update(part[2])
            n_columns = part[3]
        fitted.estimators.append(estimators)
        fitted.scores.append(raw)
        for candidate in candidates:
            p = probabilities[candidate.name]
            scores[candidate.name]["roc_auc"].append(roc_auc_score(y[val_idx], p))
            scores[candidate.name]["log_loss"].append(log_loss(y[val_idx], np.clip(p, 1e-6, 1 - 1e-6), labels=[0, 1]))
        if progress:
            progress(start + (end - start) * fold // folds, f"cross-validation: fold {fold}/{folds} done")
    summary = {}
    for candidate in candidates:
        auc, ll = np.array(scores[candidate.name]["roc_auc"]), np.array(scores[candidate.name]["log_loss"])
        summary[candidate.name] = {
            "roc_auc": {"mean": _r(auc.mean()), "std": _r(auc.std())},
            "log_loss": {"mean": _r(ll.mean()), "std": _r(ll.std())},
            "folds": [_r(a) for a in auc],
            "n_columns": n_columns,
            **candidate.as_dict(),
        }
    return summary, fitted


def _inner_calibration_jobs(splits: list[tuple[np.ndarray, np.ndarray]], y: np.ndarray) -> list[tuple]:
    """Fits whose out-of-fold scores calibrate each outer fold's model without its rows:
    [(fit_rows, score_rows, {outer fold: positions in score_rows it may calibrate on}), ...].

    With 3+ folds, a ring of pairs: fold k and fold k+1 are left out together, and the fit on
    the rest scores both, giving fold k's calibration the rows of fold k+1 and fold k+1's the
    rows of fold k (k folds fits instead of an inner CV per fold; with 3 folds each fold is
    calibrated on all of its training part). With 2 folds, each training part is split in two."""
    k = len(splits)
    jobs = []
    if k >= 3:
        for a in range(k):
            b = (a + 1) % k
            left_out = np.concatenate([splits[a][1], splits[b][1]])
            fit_rows = np.setdiff1d(np.arange(len(y)), left_out)
            n_a = len(splits[a][1])
            # Outer fold a calibrates on fold b's rows, outer fold b on fold a's.
            jobs.append((fit_rows, left_out, {a: np.arange(n_a, len(left_out)), b: np.arange(n_a)}))
        return jobs
    for outer, (fit_idx, _) in enumerate(splits):
        for inner_fit, inner_score in folds_split(2).split(np.zeros(len(fit_idx)), y[fit_idx]):
            jobs.append((fit_idx[inner_fit], fit_idx[inner_score], {outer: np.arange(len(inner_score))}))
    return jobs


def _calibrated_cv_metrics(
    fitted: CandidateFolds, name: str, y: np.ndarray, inner: list[tuple], inner_scores: list[np.ndarray]
) -> dict:
    """The calibrated model cross-validated on the candidates' folds: fold k's model is the
    candidate's fold-k fit (the same fit CalibratedClassifierCV would refit on the fold's
    training part) with a sigmoid fitted on out-of-fold scores of rows of that training part
    only; it is measured on fold k's validation rows, which nothing in it was fitted on."""
    p = np.zeros(len(y))
    aucs, losses = [], []
    for outer, (_, val_idx) in enumerate(fitted.splits):
        rows, raw = [], []
        for (_, score_rows, uses), scores in zip(inner, inner_scores, strict=True):
            if outer in uses:
                rows.append(score_rows[uses[outer]])
                raw.append(scores[uses[outer]])
        calibration_rows, calibration_scores = np.concatenate(rows), np.concatenate(raw)
        calibrated = sigmoid_fit(fitted.estimators[outer][name], calibration_scores, y[calibration_rows])
        p[val_idx] = calibrated.calibrators[0].predict(fitted.scores[outer][name])
        aucs.append(roc_auc_score(y[val_idx], p[val_idx]))
        losses.append(log_loss(y[val_idx], np.clip(p[val_idx], 1e-6, 1 - 1e-6), labels=[0, 1]))
    ece, _ = expected_calibration_error(y, p)
    return {
        "roc_auc": {"mean": _r(np.mean(aucs)), "std": _r(np.std(aucs))},
        "log_loss": {"mean": _r(np.mean(losses)), "std": _r(np.std(losses))},
        "ece": _r(ece),
        "folds": [_r(a) for a in aucs],
    }


def train(
    frame: pd.DataFrame,
    y: np.ndarray,
    types: dict,
    *,
    created: np.ndarray | None = None,
    folds: int = 5,
    excluded: dict[str, str] | None = None,
    kept: list[str] | None = None,
    champion: Candidate | None = None,
    candidates: list[Candidate] | None = None,
    progress: Progress | None = None,
    n_jobs: int = 1,
) -> TrainResult:
    """Screen, cross-validate, calibrate, measure; returns the pipeline refitted on all rows.
    Independent fits run on n_jobs threads (one numeric thread each)."""
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    progress = progress or (lambda pct, stage: None)
    y = np.asarray(y).astype(int)
    if len(np.unique(y)) < 2:
        raise TrainingError("training needs both converted and lost leads")
    converted, lost = int(y.sum()), int(len(y) - y.sum())
    if min(converted, lost) < MIN_EACH_OUTCOME:
        raise TrainingError(
            f"too few outcomes to validate a model: {converted} converted and {lost} lost leads; "
            f"a holdout and cross-validation need at least {MIN_EACH_OUTCOME} of each"
        )
    progress(3, "screening columns")
    used, dropped, aucs = columns_screen(frame, y, types, excluded=excluded or {}, kept=kept or [])
    frame = frame[list(used)]
    timings["screen"] = time.perf_counter() - clock

    train_idx, hold_idx, holdout_kind = holdout_split(y, created)
    x_train, y_train = frame.iloc[train_idx], y[train_idx]
    candidates = list(candidates or default_candidates())
    champion_name = None
    if champion is not None:
        same = [c for c in candidates if c.algorithm == champion.algorithm and c.params == champion.params]
        if same:
            champion_name = same[0].name
        else:
            candidates.append(Candidate("champion", champion.algorithm, champion.params))
            champion_name = "champion"
    folds = max(2, min(folds, int(min(y_train.sum(), len(y_train) - y_train.sum()))))
    clock = time.perf_counter()
    cv, fitted = cross_validate(x_train, y_train, used, candidates, folds=folds, progress=progress, n_jobs=n_jobs)
    timings["cv"] = time.perf_counter() - clock
    best = max(candidates, key=lambda c: (cv[c.name]["roc_auc"]["mean"], -cv[c.name]["log_loss"]["mean"]))
    n_columns = cv[best.name]["n_columns"]

    # Every remaining fit of the winner at once (they are independent): the fits that calibrate
    # each CV fold's model, the holdout model's estimator (its sigmoid comes from the CV's
    # out-of-fold scores, which never saw the holdout) and, when the holdout is the newest leads,
    # a whole calibrated pipeline on a shuffled split.
    progress(62, f"cross-validating the calibrated {best.name} and measuring it on the holdout")
    clock = time.perf_counter()
    inner = _inner_calibration_jobs(fitted.splits, y_train)
    jobs: list[tuple] = [(_fit_scores, x_train, y_train, used, best, fit_rows, rows) for fit_rows, rows, _ in inner]
    jobs.append((_fit_prep_estimator, frame, y, used, best, train_idx, n_columns))
    shuffled = shuffled_split(y) if holdout_kind.startswith("time-ordered") else None
    sizes = [len(fit_rows) for fit_rows, _, _ in inner] + [len(train_idx)]
    if shuffled is not None:
        shuffled_jobs, shuffled_sizes, shuffled_finish = calibrated_fit_jobs(
            frame.iloc[shuffled[0]], y[shuffled[0]], used, best, n_columns
        )
        jobs += shuffled_jobs
        sizes += shuffled_sizes
    results = _parallel(n_jobs, jobs, sizes=sizes)
    timings["winner_fits"] = time.perf_counter() - clock

    clock = time.perf_counter()
    calibrated_cv = _calibrated_cv_metrics(fitted, best.name, y_train, inner, results[: len(inner)])

    prep, estimator = results[len(inner)]
    oof = fitted.oof_scores(best.name, len(y_train))
    holdout_pipe = calibrated_assemble(prep, estimator, oof, y_train, folds=folds)
    p_hold = holdout_pipe.predict_proba(frame.iloc[hold_idx])[:, 1]
    holdout = holdout_metrics(y[hold_idx], p_hold)
    holdout_shuffled = None
    if shuffled is not None:
        # Both are reported: the newest leads (as the model will be used) and a shuffled split
        # (the same population as the folds); a large gap between them means the data drifts.
        shuffled_pipe = shuffled_finish(results[len(inner) + 1 :])
        measured = holdout_metrics(y[shuffled[1]], shuffled_pipe.predict_proba(frame.iloc[shuffled[1]])[:, 1])
        holdout_shuffled = {
            **{key: measured[key] for key in ("roc_auc", "pr_auc", "log_loss", "brier", "ece")},
            "split": shuffled[2],
            "n": len(shuffled[1]),
        }
    del fitted, results
    timings["holdout"] = time.perf_counter() - clock

    clock = time.perf_counter()
    if len(y) < REFIT_ALL_BELOW:
        # Small data: the last 20 % matter, refit on every outcome (the holdout measured the recipe).
        progress(88, "refitting on every outcome")
        final = calibrated_fit(frame, y, used, best, n_columns, n_jobs=n_jobs)
    else:
        # Plenty of data: ship exactly the pipeline the holdout measured.
        final = holdout_pipe
    prep = final.named_steps["prep"]
    transformed = prep.transform(frame)
    p_all = final.named_steps["model"].predict_proba(transformed)[:, 1]
    timings["final_fit"] = time.perf_counter() - clock
    blocks = column_blocks(prep)
    baseline = typical_row(transformed, blocks)

    metrics = {
        "cv": {
            # The calibrated pipeline's figures; "candidates" holds the uncalibrated comparison
            # that picked it (a sigmoid with a positive slope keeps the ranking, so the AUCs agree
            # unless calibration went wrong).
            "roc_auc": calibrated_cv["roc_auc"],
            "log_loss": calibrated_cv["log_loss"],
            "ece": calibrated_cv["ece"],
            "calibrated_folds": calibrated_cv["folds"],
            "protocol": (
                f"{folds} shuffled stratified folds (seed {RANDOM_STATE}), calibration on shuffled folds too "
                "(each fold's sigmoid fitted on out-of-fold scores from its training part only)"
            ),
            "folds": folds,
            "candidates": cv,
            "best": best.name,
            "champion": champion_name,
        },
        "holdout": {**holdout, "split": holdout_kind, "n": len(hold_idx)},
        "holdout_shuffled": holdout_shuffled,
        "refit_on_all": len(y) < REFIT_ALL_BELOW,
        "timings": {k: round(v, 2) for k, v in timings.items()},
        "reference": reference_distributions(frame, used, p_all),
        "n_rows": len(y),
        "n_positive": int(y.sum()),
        "base_rate": _r(y.mean()),
        # 0: the out-of-fold scores did not rise with conversion, the shipped model is flat (gated).
        "calibration_slope": _r(calibration_slope(final)),
        "leak_check": aucs,
        "leak_warnings": leak_warnings(aucs, used),
    }
    factors = global_factors(final, blocks, transformed)
    features = {"used": list(used), "excluded": dropped, "global_factors": factors, "types": used}
    return TrainResult(
        pipeline=final,
        candidate=best,
        types=used,
        baseline=baseline,
        blocks=blocks,
        metrics=metrics,
        features=features,
        threshold=float(holdout["threshold"]),
        score_quantiles=[_r(q) for q in np.quantile(p_all, np.linspace(0, 1, 101))],
        cv_by_candidate=cv,
        timings=timings,
        holdout_index=hold_idx,
        holdout_p=p_hold,
    )


def typical_row(transformed: np.ndarray, blocks: list) -> np.ndarray:
    """The baseline lead reasons are measured against, in transformed space: the median of each
    number and the most frequent level of each category (a real lead, so trees see real values)."""
    baseline = np.median(transformed, axis=0)
    for _, start, stop in blocks:
        if stop - start > 1:
            block = np.zeros(stop - start)
            block[int(np.argmax(transformed[:, start:stop].mean(axis=0)))] = 1.0
            baseline[start:stop] = block
    return baseline


def global_factors(pipeline: Pipeline, blocks: list, transformed: np.ndarray, top: int = 15) -> list[dict]:
    """Mean absolute contribution of each original column to the log-odds, largest first."""
    from scoring.scorer import contributions

    sample = transformed[: min(len(transformed), 2000)]
    contrib = contributions(base_estimator(pipeline), sample, typical_row(transformed, blocks), blocks)
    weights = np.abs(contrib).mean(axis=0)
    order = np.argsort(-weights)[:top]
    return [{"feature": blocks[i][0], "weight": _r(weights[i])} for i in order]
