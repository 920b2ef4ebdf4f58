"""The API clients of tests/api, for the hardening tests that call the API."""

from tests.api.conftest import api_admin, api_manager, api_rep, token_client  # noqa: F401 (fixtures)
