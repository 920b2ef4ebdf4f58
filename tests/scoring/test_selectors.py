import pytest

from scoring import selectors
from tests.scoring.conftest import outcome_leads_create


@pytest.mark.django_db
def test_queue_banner_explains_cold_start(settings):
    outcome_leads_create(20)

    banner = selectors.queue_banner()

    assert banner.startswith("model not trained yet:") and "of 100 outcomes" in banner


@pytest.mark.django_db
def test_queue_banner_is_empty_with_an_active_model(trained):
    assert selectors.queue_banner() is None
    assert selectors.active_model_version() == trained


@pytest.mark.django_db
def test_versions_list_carries_headline_metrics(trained):
    (version,) = selectors.model_versions_list()

    assert float(version.cv_auc) == trained.metrics["cv"]["roc_auc"]["mean"]
    assert float(version.holdout_ece) == trained.metrics["holdout"]["ece"]
