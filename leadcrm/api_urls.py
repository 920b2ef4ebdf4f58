"""API v1: each app contributes its own urlpatterns; the schema and docs are served here."""

from django.contrib.auth.signals import user_logged_in
from django.contrib.auth.views import redirect_to_login
from django.urls import include, path
from drf_spectacular.utils import extend_schema, extend_schema_view
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework import serializers
from rest_framework.authtoken.models import Token
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.response import Response

from leadcrm.json_limits import LimitedJSONParser
from leadcrm.throttling import LoginThrottle


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(read_only=True, help_text="Send it as `Authorization: Token <token>`.")


@extend_schema_view(
    post=extend_schema(
        summary="Exchange a username and password for the user's API token",
        description="Unauthenticated. The same token comes back until it is revoked in the admin. Throttled "
        "per IP, and AXES_FAILURE_LIMIT wrong passwords lock the username + IP out for the cool-off "
        "(429 `locked_out`, even with the right password).",
        tags=["auth"],
        request=AuthTokenSerializer,
        responses={200: TokenSerializer},
        auth=[],
    )
)
class TokenObtainView(ObtainAuthToken):
    """Guarded like /login/: throttled per IP (API_THROTTLE_LOGIN), and django-axes locks a username +
    IP out after AXES_FAILURE_LIMIT wrong passwords (429 `locked_out`, even with the right password,
    until the cool-off). A success is a login: user_logged_in resets the failures and is audited."""

    throttle_classes = [LoginThrottle]
    parser_classes = (LimitedJSONParser,)
    authentication_classes = ()  # credentials travel in the body; no session, so no CSRF either

    def post(self, request, *args, **kwargs):
        try:
            serializer = self.get_serializer(data=request.data)
            serializer.is_valid(raise_exception=True)
        finally:
            # django-axes flags the request it was handed (DRF's wrapper); its middleware reads Django's.
            for name in ("axes_locked_out", "axes_credentials"):
                if name in request.__dict__:
                    setattr(request._request, name, request.__dict__[name])
        user = serializer.validated_data["user"]
        user_logged_in.send(sender=type(user), request=request, user=user)
        token, _created = Token.objects.get_or_create(user=user)
        return Response({"token": token.key})


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
    path("", include("leads.privacy_api")),
    path("", include("scoring.api")),
    path("auth/token/", TokenObtainView.as_view(), name="api-token"),
    path("schema/", SchemaView.as_view(), name="api-schema"),
    path("docs/", DocsView.as_view(url_name="api-schema"), name="api-docs"),
]
