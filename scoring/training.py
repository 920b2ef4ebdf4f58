"""Training: screen columns (exclusions + leak check), compare candidates on the same folds,
calibrate the winner, measure it on a holdout, and hand back one fitted Pipeline.

One validation protocol for every candidate and for calibration: shuffled stratified folds with a
fixed seed (a file sorted by time must not give folds that each see one era), and the figures that
judge a model are those of the calibrated pipeline that will score leads.

Pure functions over a feature frame and outcomes; the database work lives in training_runs.py.

May import scoring.features and scoring.scorer only.
"""

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
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

from scoring import features as F

LEAK_AUC = 0.95
# A column this predictive on its own is kept but flagged: it may be filled in after the outcome.
LEAK_WARN_AUC = 0.85
LEAK_WARNING = "suspiciously predictive — known before the outcome?"
REFIT_ALL_BELOW = 20_000
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


def _calibrated(estimator, n_rows: int) -> CalibratedClassifierCV:
    """Platt (sigmoid) calibration fitted on out-of-fold predictions, then the estimator refitted
    on every row (ensemble=False: one estimator, so reasons stay exact). Sigmoid beat isotonic on
    held-out expected calibration error on X Education and keeps scores smooth (no ties); 5 folds
    while fits are cheap, 3 above 50k rows to keep a 100k-lead training within a minute."""
    cv = folds_split(5 if n_rows < 50_000 else 3)
    return CalibratedClassifierCV(estimator, method="sigmoid", cv=cv, ensemble=False)


def pipeline_build(types: dict, candidate: Candidate, n_rows: int, n_columns: int) -> Pipeline:
    estimator = candidate.build(n_columns)
    return Pipeline([("prep", preprocessor_build(types, n_rows)), ("model", _calibrated(estimator, n_rows))])


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
        stamps = pd.to_datetime(pd.Series(created), utc=True)
        if (stamps.max() - stamps.min()).total_seconds() > 86400 and stamps.nunique() > len(y) // 10:
            order = np.argsort(stamps.to_numpy(), kind="stable")
            cut = int(len(y) * 0.8)
            train, hold = np.sort(order[:cut]), np.sort(order[cut:])
            if 0 < y[hold].sum() < len(hold) and 0 < y[train].sum() < len(train):
                return train, hold, "time-ordered (newest 20 %)"
    return shuffled_split(y)


def shuffled_split(y: np.ndarray) -> tuple[np.ndarray, np.ndarray, str]:
    """A shuffled stratified 80/20 split (seeded)."""
    train, hold = train_test_split(np.arange(len(y)), test_size=0.2, stratify=y, random_state=RANDOM_STATE)
    return np.sort(train), np.sort(hold), "stratified 20 %"


def cross_validate(
    frame: pd.DataFrame,
    y: np.ndarray,
    types: dict,
    candidates: list[Candidate],
    *,
    folds: int,
    progress: Progress | None = None,
    start: int = 10,
    end: int = 70,
) -> dict[str, dict]:
    """Every candidate on the same stratified folds. The (unsupervised) preprocessing is fitted
    once per fold on that fold's training part and shared by the candidates."""
    splitter = folds_split(folds)
    scores: dict[str, dict[str, list]] = {c.name: {"roc_auc": [], "log_loss": []} for c in candidates}
    steps = folds * len(candidates)
    done = 0
    n_columns = 0
    for fold, (fit_idx, val_idx) in enumerate(splitter.split(np.zeros(len(y)), y), start=1):
        prep = preprocessor_build(types, len(fit_idx))
        x_fit = prep.fit_transform(frame.iloc[fit_idx])
        x_val = prep.transform(frame.iloc[val_idx])
        n_columns = x_fit.shape[1]
        for candidate in candidates:
            estimator = candidate.build(x_fit.shape[1])
            estimator.fit(x_fit, y[fit_idx])
            p = estimator.predict_proba(x_val)[:, 1]
            scores[candidate.name]["roc_auc"].append(roc_auc_score(y[val_idx], p))
            scores[candidate.name]["log_loss"].append(log_loss(y[val_idx], np.clip(p, 1e-6, 1 - 1e-6), labels=[0, 1]))
            done += 1
            if progress:
                stage = f"cross-validation fold {fold}/{folds}: {candidate.name}"
                progress(start + (end - start) * done // steps, stage)
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
    return summary


def calibrated_cross_validate(
    frame: pd.DataFrame, y: np.ndarray, types: dict, candidate: Candidate, *, folds: int, n_columns: int
) -> dict:
    """The calibrated pipeline that will score leads, cross-validated on the candidates' folds:
    per fold it is built, calibrated and fitted on the fold's training part only."""
    p = np.zeros(len(y))
    aucs, losses = [], []
    for fit_idx, val_idx in folds_split(folds).split(np.zeros(len(y)), y):
        pipe = pipeline_build(types, candidate, len(fit_idx), n_columns)
        pipe.fit(frame.iloc[fit_idx], y[fit_idx])
        p[val_idx] = pipe.predict_proba(frame.iloc[val_idx])[:, 1]
        aucs.append(roc_auc_score(y[val_idx], p[val_idx]))
        losses.append(log_loss(y[val_idx], np.clip(p[val_idx], 1e-6, 1 - 1e-6), labels=[0, 1]))
    ece, _ = expected_calibration_error(y, p)
    return {
        "roc_auc": {"mean": _r(np.mean(aucs)), "std": _r(np.std(aucs))},
        "log_loss": {"mean": _r(np.mean(losses)), "std": _r(np.std(losses))},
        "ece": _r(ece),
        "folds": [_r(a) for a in aucs],
    }


def _holdout_measure(
    frame: pd.DataFrame, y: np.ndarray, types: dict, candidate: Candidate, split: tuple, n_columns: int
) -> tuple[Pipeline, np.ndarray]:
    """The calibrated pipeline fitted on the split's training part, and its holdout probabilities."""
    train_idx, hold_idx, _ = split
    pipe = pipeline_build(types, candidate, len(train_idx), n_columns)
    pipe.fit(frame.iloc[train_idx], y[train_idx])
    return pipe, pipe.predict_proba(frame.iloc[hold_idx])[:, 1]


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
) -> TrainResult:
    """Screen, cross-validate, calibrate, measure; returns the pipeline refitted on all rows."""
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    progress = progress or (lambda pct, stage: None)
    y = np.asarray(y).astype(int)
    if len(np.unique(y)) < 2:
        raise TrainingError("training needs both converted and lost leads")
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
    cv = cross_validate(x_train, y_train, used, candidates, folds=folds, progress=progress)
    timings["cv"] = time.perf_counter() - clock
    best = max(candidates, key=lambda c: (cv[c.name]["roc_auc"]["mean"], -cv[c.name]["log_loss"]["mean"]))

    n_columns = cv[best.name]["n_columns"]
    progress(72, f"cross-validating the calibrated {best.name}")
    clock = time.perf_counter()
    calibrated_cv = calibrated_cross_validate(x_train, y_train, used, best, folds=folds, n_columns=n_columns)
    timings["calibrated_cv"] = time.perf_counter() - clock

    progress(80, f"calibrating {best.name} and measuring it on the holdout")
    clock = time.perf_counter()
    split = (train_idx, hold_idx, holdout_kind)
    holdout_pipe, p_hold = _holdout_measure(frame, y, used, best, split, n_columns)
    holdout = holdout_metrics(y[hold_idx], p_hold)
    holdout_shuffled = None
    if holdout_kind.startswith("time-ordered"):
        # Both are reported: the newest leads (as the model will be used) and a shuffled split
        # (the same population as the folds); a large gap between them means the data drifts.
        shuffled = shuffled_split(y)
        _, p_shuffled = _holdout_measure(frame, y, used, best, shuffled, n_columns)
        measured = holdout_metrics(y[shuffled[1]], p_shuffled)
        holdout_shuffled = {
            **{key: measured[key] for key in ("roc_auc", "pr_auc", "log_loss", "brier", "ece")},
            "split": shuffled[2],
            "n": len(shuffled[1]),
        }
    timings["holdout"] = time.perf_counter() - clock

    clock = time.perf_counter()
    if len(y) < REFIT_ALL_BELOW:
        # Small data: the last 20 % matter, refit on every outcome (the holdout measured the recipe).
        progress(88, "refitting on every outcome")
        final = pipeline_build(used, best, len(y), n_columns)
        final.fit(frame, y)
    else:
        # Plenty of data: ship exactly the pipeline the holdout measured.
        final = holdout_pipe
    p_all = final.predict_proba(frame)[:, 1]
    timings["final_fit"] = time.perf_counter() - clock
    prep = final.named_steps["prep"]
    blocks = column_blocks(prep)
    transformed = prep.transform(frame)
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
            "protocol": f"{folds} shuffled stratified folds (seed {RANDOM_STATE}), calibration on shuffled folds too",
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
