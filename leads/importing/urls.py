from django.urls import path

from leads.importing import views

app_name = "imports"

urlpatterns = [
    path("", views.job_list, name="list"),
    path("<int:pk>/", views.job_detail, name="detail"),
    path("<int:pk>/resume/", views.job_resume, name="resume"),
    path("<int:pk>/errors.csv", views.job_errors_csv, name="errors_csv"),
]
