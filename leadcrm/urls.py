from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from leadcrm.health import HealthView
from leadcrm.metrics import metrics_view
from leads.reports import urls as crm_report_urls
from scoring import report_urls as model_report_urls

# /reports/ is one "reports" namespace: the CRM's reports and the model pages scoring serves
# there (model quality, drift), so {% url 'reports:...' %} names every report page.
report_urls = (crm_report_urls.urlpatterns + model_report_urls.urlpatterns, "reports")

urlpatterns = [
    # For load balancers and monitoring: no login (see leadcrm/health.py and leadcrm/metrics.py).
    path("health/", HealthView.as_view(), name="health"),
    path("metrics", metrics_view, name="metrics"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("leadcrm.api_urls")),
    path("imports/", include("leads.importing.urls")),
    path("reports/", include(report_urls)),
    path("models/", include("scoring.urls")),
    path("", include("leads.urls")),
]

# Unmatched /api/ URLs answer in the API's JSON error body (leadcrm/api_errors.py).
handler404 = "leadcrm.api_errors.not_found"
handler500 = "leadcrm.api_errors.server_error"
