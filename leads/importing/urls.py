from django.urls import path

from leads.importing import views, wizard_views

app_name = "imports"

urlpatterns = [
    path("", views.job_list, name="list"),
    path("new/", wizard_views.upload, name="new"),
    path("new/map/", wizard_views.map_columns, name="new_map"),
    path("new/outcomes/", wizard_views.outcomes, name="new_outcomes"),
    path("new/columns/", wizard_views.columns, name="new_columns"),
    path("new/preview/", wizard_views.preview, name="new_preview"),
    path("<int:pk>/", views.job_detail, name="detail"),
    path("<int:pk>/resume/", views.job_resume, name="resume"),
    path("<int:pk>/errors.csv", views.job_errors_csv, name="errors_csv"),
]
