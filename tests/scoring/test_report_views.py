"""The model pages under /reports/ (scoring/report_views.py): model quality and drift."""

import pytest
from django.urls import reverse

from scoring.models import ModelVersion
from tests.reports.conftest import contract_metrics, csv_rows

pytestmark = pytest.mark.django_db


def test_model_page_for_the_active_and_any_other_version(manager_client, scored_model):
    page = manager_client.get(reverse("reports:model")).content.decode()
    assert f"v{scored_model.pk}" in page
    for title in ("Calibration: predicted vs observed", "Lift by score decile", "Cumulative gains", "ROC curve",
                  "Precision-recall curve", "Confusion matrix at the active threshold"):  # fmt: skip
        assert title in page
    other = ModelVersion.objects.create(status="retired", algorithm="hgb", metrics=contract_metrics())
    response = manager_client.get(reverse("reports:model"), {"version": other.pk})
    assert response.context["version"] == other
    rows = csv_rows(manager_client.get(reverse("reports:model"), {"version": other.pk, "format": "csv",
                                                              "table": "confusion"}))  # fmt: skip
    assert rows[1] == ["Converted", "25", "15"] and rows[2] == ["Not converted", "10", "50"]


def test_drift_page_flags_features_and_recomputes_on_request(manager_client, scored_model):
    response = manager_client.get(reverse("reports:drift"))
    summary = {r["feature"]: r for r in response.context["summary"].rows}
    assert summary["source"]["flagged"]
    assert "Consider retraining" in response.content.decode()
    assert manager_client.get(reverse("reports:drift"), {"refresh": "1"}).status_code == 200
    rows = csv_rows(manager_client.get(reverse("reports:drift"), {"format": "csv", "table": "bins"}))
    assert rows[0] == ["Feature", "Bin / level", "Training share", "Open leads share", "Open leads"]


def test_drift_page_without_reference(manager_client, db):
    ModelVersion.objects.create(status="active", metrics=contract_metrics())
    assert b"no reference distributions" in manager_client.get(reverse("reports:drift")).content
