"""Settings come from the environment: production settings pass Django's deploy checks, and a
missing secret or a malformed value stops the process at start-up instead of running wrongly.

Each case starts a fresh `python manage.py ...` with a controlled environment."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Everything settings.py reads: removed from the inherited environment so each case is exact.
KNOBS = (
    "DEBUG",
    "SECRET_KEY",
    "ALLOWED_HOSTS",
    "CSRF_TRUSTED_ORIGINS",
    "DATABASE_URL",
    "REDIS_URL",
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "QUEUE_PAGE_SIZE",
    "CELERY_TASK_ALWAYS_EAGER",
    "API_THROTTLE_USER",
    "API_THROTTLE_ANON",
    "API_THROTTLE_BULK",
    "REDIS_CACHE_URL",
    "WHITENOISE_USE_FINDERS",
    "DB_DISABLE_JIT",
    "REPORTS_DATABASE_URL",
    "LOG_FORMAT",
    "METRICS_TOKEN",
    "METRICS_ALLOWED_IPS",
    # Set by the browser fixture for Playwright's event loop in this test process; a deployment
    # never has it (check --deploy warns about it).
    "DJANGO_ALLOW_ASYNC_UNSAFE",
)


def manage(tmp_path, *args: str, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in KNOBS}
    base.update(
        DJANGO_SETTINGS_MODULE="leadcrm.settings",
        LEADCRM_VAR_DIR=str(tmp_path / "var"),
        SQLITE_PATH=str(tmp_path / "db.sqlite3"),
    )
    base.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=base, capture_output=True, text=True, timeout=120
    )


def production_env(**overrides: str) -> dict:
    return {
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "ALLOWED_HOSTS": "crm.example.com",
        **overrides,
    }


def test_check_deploy_passes_with_production_settings(tmp_path):
    result = manage(tmp_path, "check", "--deploy", "--fail-level", "WARNING", **production_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_flags_a_weak_secret_key(tmp_path):
    # Proves the deploy check above is really checking: a guessable key fails it.
    env = production_env(SECRET_KEY="short")
    result = manage(tmp_path, "check", "--deploy", "--tag", "security", "--fail-level", "WARNING", **env)
    assert result.returncode != 0
    assert "security.W009" in result.stderr


def test_debug_off_without_secret_key_fails_loudly(tmp_path):
    env = production_env()
    del env["SECRET_KEY"]
    result = manage(tmp_path, "check", **env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "SECRET_KEY must be set" in result.stderr


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DEBUG", "maybe"),
        ("QUEUE_PAGE_SIZE", "abc"),
        ("QUEUE_PAGE_SIZE", "0"),
        ("DATABASE_URL", "garbage"),
        ("REDIS_URL", "http://127.0.0.1:6379/0"),
        ("API_THROTTLE_USER", "lots"),
        ("LOG_FORMAT", "xml"),
        ("REPORTS_DATABASE_URL", "garbage"),
    ],
)
def test_malformed_values_fail_loudly_at_start_up(tmp_path, name, value):
    result = manage(tmp_path, "check", **{name: value})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert name in result.stderr
