"""`schemathesis run --checks all` with the stateful phase, against a live server, as an integrator's
CI would run it (issue 20): zero failures, not only zero 5xx. Bounded (few examples per operation,
deterministic) to keep CI time small; tests/api/schemathesis.toml explains the answers a
schema-valid request may still get."""

import subprocess
import sys
from pathlib import Path

import pytest
from rest_framework.authtoken.models import Token

from tests.factories import ActivityFactory, AdminFactory, FollowUpFactory, LeadFactory

CONFIG = Path(__file__).with_name("schemathesis.toml")
CLI = Path(sys.executable).with_name("schemathesis")
MAX_EXAMPLES = 5


@pytest.fixture
def _generous_throttles(settings, monkeypatch):
    from leads import permissions

    for throttle in (permissions.UserThrottle, permissions.BulkThrottle):
        monkeypatch.setattr(throttle, "THROTTLE_RATES", {**throttle.THROTTLE_RATES, "user": None, "bulk": None})


def test_schemathesis_all_checks_and_stateful_phase_find_nothing(
    live_server, transactional_db, _generous_throttles, tmp_path
):
    admin = AdminFactory(username="fuzzer")
    leads = [LeadFactory(owner=admin) for _ in range(3)] + [LeadFactory()]
    ActivityFactory(lead=leads[0])
    FollowUpFactory(lead=leads[0])
    token, _ = Token.objects.get_or_create(user=admin)
    result = subprocess.run(
        [
            str(CLI),
            "--config-file",
            str(CONFIG),
            "run",
            f"{live_server.url}/api/v1/schema/?format=json",
            "--header",
            f"Authorization: Token {token.key}",
            "--checks",
            "all",
            "--phases",
            "examples,coverage,fuzzing,stateful",
            "--max-examples",
            str(MAX_EXAMPLES),
            "--seed",
            "20",
            "--generation-deterministic",
            "--workers",
            "1",
            "--output-truncate",
            "false",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=tmp_path,  # its cache directory stays out of the repository
    )
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-5000:]
