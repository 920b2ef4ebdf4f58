"""API clients for the roles. Token auth, as a machine would call the API."""

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient


def token_client(user) -> APIClient:
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def api_rep(rep):
    return token_client(rep)


@pytest.fixture
def api_other_rep(other_rep):
    return token_client(other_rep)


@pytest.fixture
def api_manager(manager):
    return token_client(manager)


@pytest.fixture
def api_admin(admin_user):
    return token_client(admin_user)


@pytest.fixture
def api_anon():
    return APIClient()
