"""The model pages' URLs. May import scoring.views only."""

from django.urls import path

from scoring import views

app_name = "scoring"

urlpatterns = [
    path("", views.versions_list, name="list"),
    path("compare/", views.versions_compare, name="compare"),
    path("retrain/", views.retrain, name="retrain"),
    path("rollback/", views.rollback, name="rollback"),
    path("settings/", views.settings_update, name="settings"),
    path("runs/<int:pk>/", views.training_run_progress, name="run"),
    path("<int:pk>/", views.version_detail, name="detail"),
    path("<int:pk>/activate/", views.activate, name="activate"),
    path("<int:pk>/threshold/", views.threshold_set, name="threshold"),
    path("leads/<int:pk>/override/", views.override_set, name="override"),
    path("leads/<int:pk>/override/clear/", views.override_clear, name="override_clear"),
]
