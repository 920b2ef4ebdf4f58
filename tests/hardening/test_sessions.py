"""Session hardening: idle timeout, password validators, and a role change ends the user's sessions."""

import time

import pytest
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError

from leadcrm import sessions
from leads.models import User


def test_the_idle_timeout_defaults_to_eight_hours(settings):
    assert settings.SESSION_IDLE_TIMEOUT_SECONDS == 8 * 3600
    assert settings.SESSION_COOKIE_AGE == settings.SESSION_IDLE_TIMEOUT_SECONDS
    assert "leadcrm.sessions.IdleSessionMiddleware" in settings.MIDDLEWARE


def test_an_active_session_is_refreshed_at_most_every_few_minutes(rep_client, monkeypatch):
    stamp = rep_client.session[sessions._REFRESHED_KEY]  # a login starts the clock
    assert rep_client.get("/").status_code == 200
    assert rep_client.session[sessions._REFRESHED_KEY] == stamp  # within REFRESH_EVERY: no write

    later = time.time() + sessions.REFRESH_EVERY + 1
    monkeypatch.setattr(sessions.time, "time", lambda: later)
    response = rep_client.get("/")
    assert rep_client.session[sessions._REFRESHED_KEY] == int(later)
    assert response.cookies["sessionid"]["max-age"] == 8 * 3600  # re-sent with a fresh expiry


def test_an_idle_session_expires(rep_client, settings):
    from django.contrib.sessions.models import Session

    key = rep_client.session.session_key
    session = Session.objects.get(session_key=key)
    Session.objects.filter(session_key=key).update(expire_date=session.expire_date.replace(year=2000))
    response = rep_client.get("/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


@pytest.mark.parametrize("password", ["password", "12345678", "short", "rep_alice1"])
def test_weak_passwords_are_refused(rep, password):
    with pytest.raises(ValidationError):
        validate_password(password, user=rep)


def test_a_strong_password_passes(rep):
    validate_password("correct-horse-battery-staple-42", user=rep)


def test_a_role_change_ends_the_users_sessions(rep_client, rep):
    assert rep_client.get("/").status_code == 200
    rep.role = User.Role.MANAGER
    rep.save()
    response = rep_client.get("/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_other_changes_keep_the_session(rep_client, rep):
    rep.first_name = "Alicia"
    rep.save()
    assert rep_client.get("/").status_code == 200


def test_a_role_change_also_rotates_a_promoted_users_session(client, rep):
    """Gaining a role needs a fresh login too, so a stolen rep session never becomes a manager's."""
    client.force_login(rep)
    rep.role = User.Role.ADMIN
    rep.save()
    assert client.get("/audit/").status_code == 302
