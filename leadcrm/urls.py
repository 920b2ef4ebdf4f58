from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.templatetags.static import static
from django.urls import include, path, re_path
from django.utils.functional import lazy
from django.views.generic import RedirectView

from leadcrm.api_errors import api_not_found
from leadcrm.health import HealthView
from leadcrm.metrics import metrics_view
from leads import audit_views
from leads.reports import urls as crm_report_urls
from scoring import report_urls as model_report_urls

# /reports/ is one "reports" namespace: the CRM's reports and the model pages scoring serves
# there (model quality, drift), so {% url 'reports:...' %} names every report page.
report_urls = (crm_report_urls.urlpatterns + model_report_urls.urlpatterns, "reports")

urlpatterns = [
    path("favicon.ico", RedirectView.as_view(url=lazy(static, str)("favicon.svg"), permanent=True)),
    # For load balancers and monitoring: no login (see leadcrm/health.py and leadcrm/metrics.py).
    path("health/", HealthView.as_view(), name="health"),
    path("metrics", metrics_view, name="metrics"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    # Password reset by email: Django's views, the site's templates (templates/registration/).
    path("password-reset/", auth_views.PasswordResetView.as_view(), name="password_reset"),
    path("password-reset/sent/", auth_views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path(
        "password-reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path("password-reset/done/", auth_views.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("leadcrm.api_urls")),
    # Any other /api/ path is a JSON 404 whatever DEBUG is (with DEBUG on, handler404 is not used).
    re_path(r"^api/", api_not_found),
    path("imports/", include("leads.importing.urls")),
    path("reports/", include(report_urls)),
    path("models/", include("scoring.urls")),
    path("audit/", audit_views.audit_list, name="audit"),
    path("", include("leads.urls")),
]

# Unmatched /api/ URLs answer in the API's JSON error body (leadcrm/api_errors.py).
handler404 = "leadcrm.api_errors.not_found"
handler500 = "leadcrm.api_errors.server_error"
