"""The CRM's report URLs. leadcrm/urls.py serves them under /reports/ in the "reports"
namespace together with the model pages scoring adds there (scoring/report_urls.py)."""

from django.urls import path

from leads.reports import views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("conversion/", views.conversion, name="conversion"),
    path("funnel/", views.funnel, name="funnel"),
    path("reps/", views.reps, name="reps"),
    path("channels/", views.channels, name="channels"),
    path("channels/spend/", views.spend, name="spend"),
]
