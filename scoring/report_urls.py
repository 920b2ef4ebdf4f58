"""The model pages scoring serves under /reports/, in the reports' "reports" namespace
(leadcrm/urls.py joins them to leads/reports/urls.py)."""

from django.urls import path

from scoring import report_views

urlpatterns = [
    path("model/", report_views.model_quality, name="model"),
    path("drift/", report_views.drift, name="drift"),
]
