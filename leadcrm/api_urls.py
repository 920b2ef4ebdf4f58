"""API v1: each app contributes its own urlpatterns; the schema and docs are served here."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

urlpatterns = [
    path("", include("leads.api")),
    path("", include("leads.importing.api")),
    path("", include("scoring.api")),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]
