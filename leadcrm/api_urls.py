"""API v1: each app contributes its own urlpatterns; the schema and docs are served here."""

from django.contrib.auth.views import redirect_to_login
from django.urls import include, path
from drf_spectacular.utils import extend_schema, extend_schema_view
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework import serializers
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.parsers import JSONParser


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(read_only=True, help_text="Send it as `Authorization: Token <token>`.")


@extend_schema_view(
    post=extend_schema(
        summary="Exchange a username and password for the user's API token",
        description="Unauthenticated. The same token comes back until it is revoked in the admin.",
        tags=["auth"],
        request=AuthTokenSerializer,
        responses={200: TokenSerializer},
        auth=[],
    )
)
class TokenObtainView(ObtainAuthToken):
    parser_classes = (JSONParser,)
    authentication_classes = ()  # credentials travel in the body; no session, so no CSRF either


class SchemaView(SpectacularAPIView):
    """The OpenAPI document (logged-in users: a browser session or a token)."""


class DocsView(SpectacularSwaggerView):
    """Swagger UI; an anonymous browser is sent to the login page rather than shown a JSON 401."""

    @extend_schema(exclude=True)
    def get(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        return super().get(request, *args, **kwargs)

    def get_permissions(self):
        return []  # checked in get() so an anonymous browser is redirected, not refused


urlpatterns = [
    path("", include("leads.api")),
    path("", include("leads.importing.api")),
    path("", include("scoring.api")),
    path("auth/token/", TokenObtainView.as_view(), name="api-token"),
    path("schema/", SchemaView.as_view(), name="api-schema"),
    path("docs/", DocsView.as_view(url_name="api-schema"), name="api-docs"),
]
