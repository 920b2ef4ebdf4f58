"""Model artifacts on disk: skops files written atomically, checked on load, cached per process.

An artifact is one skops file holding a dict: the fitted Pipeline (ColumnTransformer + calibrated
estimator) plus what scoring needs beside it (column types, the baseline for reasons, the
column blocks of the transformed matrix). skops never runs code on load; only the types in
TRUSTED_TYPES may be built, so an artifact cannot smuggle in anything else.

May import django.conf and scikit-learn/skops only.
"""

import hashlib
import os
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

import sklearn
import skops.io as sio
from django.conf import settings

# Bump when the artifact's dict layout changes: an old file then means "retrain", not a crash.
FORMAT_VERSION = 2

# Everything a scoring pipeline may contain beyond skops' default-trusted builtins and numpy.
TRUSTED_TYPES = [
    "builtins.dict",
    "builtins.list",
    "builtins.tuple",
    "builtins.slice",
    "builtins.str",
    "builtins.int",
    "builtins.float",
    "builtins.bool",
    "builtins.object",
    "numpy.dtype",
    "numpy.ndarray",
    "numpy.float64",
    "numpy.int64",
    "numpy.random.mtrand.RandomState",
    "numpy.random._mt19937.MT19937",
    "collections.OrderedDict",
    "sklearn.pipeline.Pipeline",
    "sklearn.compose._column_transformer.ColumnTransformer",
    "sklearn.compose._column_transformer._RemainderColsList",
    "sklearn.preprocessing._data.StandardScaler",
    "sklearn.preprocessing._encoders.OneHotEncoder",
    "sklearn.impute._base.SimpleImputer",
    "sklearn.linear_model._logistic.LogisticRegression",
    "sklearn.feature_selection._rfe.RFE",
    "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn._loss.loss.HalfBinomialLoss",
    "sklearn._loss.link.LogitLink",
    "sklearn._loss.link.Interval",
    "sklearn.calibration.CalibratedClassifierCV",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.isotonic.IsotonicRegression",
    "sklearn.model_selection._split.StratifiedKFold",
    "sklearn.utils._bunch.Bunch",
]


class ArtifactError(Exception):
    """The artifact is missing, corrupt, of another scikit-learn or format version, or untrusted."""


@dataclass
class SavedArtifact:
    path: str
    sha256: str
    sklearn_version: str
    format_version: int


@dataclass
class LoadedModel:
    """A model ready to score: the pipeline and what reasons need. Shared read-only per process."""

    version_id: int
    sha256: str
    pipeline: object
    types: dict
    baseline: object
    blocks: list
    extras: dict = field(default_factory=dict)


def artifact_dir() -> Path:
    path = Path(settings.MODEL_ARTIFACT_DIR)
    path.mkdir(parents=True, exist_ok=True)
    return path


def artifact_save(payload: dict, *, name: str) -> SavedArtifact:
    """Write `payload` to `<name>.skops` via a temp file in the same directory and an atomic rename."""
    payload = {**payload, "format_version": FORMAT_VERSION, "sklearn_version": sklearn.__version__}
    data = sio.dumps(payload)
    directory = artifact_dir()
    final = directory / f"{name}.skops"
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, final)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return SavedArtifact(str(final), hashlib.sha256(data).hexdigest(), sklearn.__version__, FORMAT_VERSION)


def artifact_load(path: str, *, sha256: str, sklearn_version: str, format_version: int) -> dict:
    """Read and check an artifact. Raises ArtifactError with a message an admin can act on."""
    if format_version != FORMAT_VERSION:
        raise ArtifactError(f"artifact format {format_version} is not {FORMAT_VERSION}: retrain")
    if sklearn_version != sklearn.__version__:
        raise ArtifactError(f"trained with scikit-learn {sklearn_version}, running {sklearn.__version__}: retrain")
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ArtifactError(f"cannot read artifact {path}: {exc}") from exc
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha256:
        raise ArtifactError(f"artifact {path} does not match its sha256 (corrupt or replaced)")
    try:
        untrusted = set(sio.get_untrusted_types(data=data)) - set(TRUSTED_TYPES)
        if untrusted:
            raise ArtifactError(f"artifact holds untrusted types: {sorted(untrusted)}")
        payload = sio.loads(data, trusted=TRUSTED_TYPES)
    except ArtifactError:
        raise
    except Exception as exc:
        raise ArtifactError(f"cannot load artifact {path}: {exc}") from exc
    if not isinstance(payload, dict) or "pipeline" not in payload:
        raise ArtifactError("artifact does not hold a scoring pipeline")
    if payload.get("format_version") != FORMAT_VERSION or payload.get("sklearn_version") != sklearn.__version__:
        raise ArtifactError("artifact's embedded versions do not match: retrain")
    return payload


_cache: dict[tuple[int, str], LoadedModel] = {}
_cache_lock = threading.Lock()


def model_load(version) -> LoadedModel:
    """The loaded model of a ModelVersion, read from disk once per process (keyed by id + sha256)."""
    key = (version.pk, version.artifact_sha256)
    cached = _cache.get(key)
    if cached is not None:
        return cached
    with _cache_lock:
        cached = _cache.get(key)
        if cached is not None:
            return cached
        payload = artifact_load(
            version.artifact_path,
            sha256=version.artifact_sha256,
            sklearn_version=version.sklearn_version,
            format_version=version.format_version,
        )
        loaded = LoadedModel(
            version_id=version.pk,
            sha256=version.artifact_sha256,
            pipeline=payload["pipeline"],
            types=payload["types"],
            baseline=payload["baseline"],
            blocks=payload["blocks"],
            extras={k: v for k, v in payload.items() if k not in ("pipeline", "types", "baseline", "blocks")},
        )
        _cache.clear()  # one model per process at a time is plenty; keep memory bounded
        _cache[key] = loaded
        return loaded


def cache_clear() -> None:
    with _cache_lock:
        _cache.clear()
