"""API v1: each app contributes its own urlpatterns; the schema and docs are served here."""

from django.urls import include, path
from drf_spectacular.utils import extend_schema, extend_schema_view
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.authtoken.views import ObtainAuthToken


@extend_schema_view(
    post=extend_schema(summary="Exchange a username and password for the user's API token", tags=["auth"])
)
class TokenObtainView(ObtainAuthToken):
    pass


urlpatterns = [
    path("", include("leads.api")),
    path("", include("leads.importing.api")),
    path("", include("scoring.api")),
    # username + password -> the user's API token (throttled per IP like every anonymous call).
    path("auth/token/", TokenObtainView.as_view(), name="api-token"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]
