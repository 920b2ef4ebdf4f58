from django.urls import path

from leads.reports import views

app_name = "reports"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("conversion/", views.conversion, name="conversion"),
    path("funnel/", views.funnel, name="funnel"),
    path("reps/", views.reps, name="reps"),
    path("model/", views.model_quality, name="model"),
    path("drift/", views.drift, name="drift"),
]
