import numpy as np
import pandas as pd
import pytest
import sklearn

from scoring import features as F
from scoring import registry, training


@pytest.fixture
def result():
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"plan": rng.choice(["a", "b", "c"], 300).astype(object), "x": rng.normal(size=300)})
    y = ((frame["plan"] == "a") | (frame["x"] > 0.5)).astype(int).to_numpy()
    return frame, training.train(frame, y, {"plan": F.CATEGORY, "x": F.NUMBER}, folds=3)


def _save(result):
    return registry.artifact_save(
        {"pipeline": result.pipeline, "types": result.types, "baseline": result.baseline, "blocks": result.blocks},
        name="test",
    )


def test_pipeline_round_trip_gives_the_same_predictions(result):
    frame, trained = result

    saved = _save(trained)
    payload = registry.artifact_load(
        saved.path, sha256=saved.sha256, sklearn_version=sklearn.__version__, format_version=registry.FORMAT_VERSION
    )

    np.testing.assert_allclose(payload["pipeline"].predict_proba(frame), trained.pipeline.predict_proba(frame))
    assert payload["types"] == trained.types
    assert saved.sklearn_version == sklearn.__version__


def test_artifact_is_written_atomically_without_temp_leftovers(result):
    saved = _save(result[1])

    leftovers = [p for p in registry.artifact_dir().iterdir() if p.suffix == ".tmp"]
    assert not leftovers
    assert saved.path.endswith("test.skops")


def test_a_corrupt_artifact_is_refused(result):
    saved = _save(result[1])
    with open(saved.path, "r+b") as handle:
        handle.seek(100)
        handle.write(b"garbage!")

    with pytest.raises(registry.ArtifactError, match="sha256"):
        registry.artifact_load(
            saved.path, sha256=saved.sha256, sklearn_version=sklearn.__version__, format_version=registry.FORMAT_VERSION
        )


def test_another_sklearn_or_format_version_means_retrain(result):
    saved = _save(result[1])

    with pytest.raises(registry.ArtifactError, match="scikit-learn"):
        registry.artifact_load(
            saved.path, sha256=saved.sha256, sklearn_version="0.1", format_version=registry.FORMAT_VERSION
        )
    with pytest.raises(registry.ArtifactError, match="format"):
        registry.artifact_load(
            saved.path,
            sha256=saved.sha256,
            sklearn_version=sklearn.__version__,
            format_version=registry.FORMAT_VERSION + 1,
        )
