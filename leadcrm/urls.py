from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("leadcrm.api_urls")),
    path("imports/", include("leads.importing.urls")),
    path("reports/", include("leads.reports.urls")),
    path("models/", include("scoring.urls")),
    path("", include("leads.urls")),
]

# Unmatched /api/ URLs answer in the API's JSON error body (leadcrm/api_errors.py).
handler404 = "leadcrm.api_errors.not_found"
handler500 = "leadcrm.api_errors.server_error"
