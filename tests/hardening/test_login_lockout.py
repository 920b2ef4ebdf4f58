"""Brute force: django-axes locks a username + IP after AXES_FAILURE_LIMIT wrong passwords on /login/,
the admin login and the API token; the next attempt is refused even with the right password until
the cool-off ends or an admin unlocks; a success resets the count. The token endpoint is also throttled."""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from rest_framework.test import APIClient

from leadcrm.throttling import LoginThrottle
from leads.models import AuditEntry
from tests.factories import AdminFactory, RepFactory

PASSWORD = "pw"
LOGIN_DOORS = {
    "page": ("/login/", "username", "password"),
    "admin": ("/admin/login/", "username", "password"),
}


@pytest.fixture
def victim(db):
    return RepFactory(username="victim")


def page_login(client, url: str, username: str, password: str):
    return client.post(url, {"username": username, "password": password})


def token_login(username: str, password: str, ip: str = "10.0.0.1"):
    return APIClient().post(
        "/api/v1/auth/token/", {"username": username, "password": password}, format="json", REMOTE_ADDR=ip
    )


def fail(n: int, attempt):
    for _ in range(n):
        response = attempt("wrong")
        assert response.status_code in (200, 400), response.status_code  # the form again / invalid credentials


def cool_off_passes():
    """Move every recorded failure back past the cool-off (no sleeping in tests)."""
    from django.conf import settings

    for attempt in AccessAttempt.objects.all():
        attempt.attempt_time -= settings.AXES_COOLOFF_TIME + timedelta(seconds=1)
        attempt.save(update_fields=["attempt_time"])


@pytest.mark.parametrize("door", ["page", "admin"])
def test_page_login_locks_after_the_limit_even_with_the_right_password(db, client, settings, door):
    settings.AXES_FAILURE_LIMIT = 3
    user = AdminFactory(username="victim") if door == "admin" else RepFactory(username="victim")
    url = LOGIN_DOORS[door][0]
    fail(2, lambda pw: page_login(client, url, user.username, pw))
    response = page_login(client, url, user.username, "wrong")  # the 3rd failure locks
    assert response.status_code == 429
    response = page_login(client, url, user.username, PASSWORD)  # right password, still locked
    assert response.status_code == 429
    body = response.content.decode()
    assert "Too many failed logins" in body and "15 minutes" in body and "ask an admin" in body
    assert response["Retry-After"] == str(15 * 60)
    assert "_auth_user_id" not in client.session

    cool_off_passes()
    response = page_login(client, url, user.username, PASSWORD)
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(user.pk)


def test_token_endpoint_locks_after_the_limit_with_the_common_error_body(victim, settings):
    settings.AXES_FAILURE_LIMIT = 3
    fail(2, lambda pw: token_login("victim", pw))
    assert token_login("victim", "wrong").status_code == 429
    response = token_login("victim", PASSWORD)
    assert response.status_code == 429
    error = response.json()["error"]
    assert error["code"] == "locked_out" and error["status"] == 429 and error["retry_after"] == 15 * 60
    assert "token" not in response.json()

    cool_off_passes()
    response = token_login("victim", PASSWORD)
    assert response.status_code == 200 and response.json()["token"]


def test_the_lockout_is_per_username_and_ip(victim, settings):
    settings.AXES_FAILURE_LIMIT = 2
    fail(1, lambda pw: token_login("victim", pw, ip="10.0.0.1"))
    assert token_login("victim", "wrong", ip="10.0.0.1").status_code == 429
    assert token_login("victim", PASSWORD, ip="10.0.0.1").status_code == 429
    # The same user from another address, and another user from the same address, are not locked.
    assert token_login("victim", PASSWORD, ip="10.0.0.2").status_code == 200
    RepFactory(username="bystander")
    assert token_login("bystander", PASSWORD, ip="10.0.0.1").status_code == 200


def test_a_success_resets_the_failures(client, victim, settings):
    settings.AXES_FAILURE_LIMIT = 3
    fail(2, lambda pw: page_login(client, "/login/", "victim", pw))
    assert page_login(client, "/login/", "victim", PASSWORD).status_code == 302
    client.logout()
    fail(2, lambda pw: page_login(client, "/login/", "victim", pw))
    assert page_login(client, "/login/", "victim", PASSWORD).status_code == 302

    fail(2, lambda pw: token_login("victim", pw))
    assert token_login("victim", PASSWORD).status_code == 200
    fail(2, lambda pw: token_login("victim", pw))
    assert token_login("victim", PASSWORD).status_code == 200


def test_an_admin_unlocks_a_user_in_the_admin(client, victim, admin_user, settings):
    settings.AXES_FAILURE_LIMIT = 2
    fail(1, lambda pw: token_login("victim", pw))
    assert token_login("victim", "wrong").status_code == 429
    assert token_login("victim", PASSWORD).status_code == 429
    attempt = AccessAttempt.objects.get(username="victim")

    client.force_login(admin_user)
    page = client.get("/admin/axes/accessattempt/")
    assert page.status_code == 200 and "victim" in page.content.decode()
    response = client.post(f"/admin/axes/accessattempt/{attempt.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert token_login("victim", PASSWORD).status_code == 200


def test_lockouts_and_logins_are_audited(victim, settings):
    settings.AXES_FAILURE_LIMIT = 2
    fail(1, lambda pw: token_login("victim", pw, ip="10.9.9.9"))
    assert token_login("victim", "wrong", ip="10.9.9.9").status_code == 429
    lockout = AuditEntry.objects.get(action="login_lockout")
    assert lockout.ip_address == "10.9.9.9"
    assert lockout.details["username"] == "victim"
    assert (lockout.target_type, lockout.target_id) == ("leads.user", str(victim.pk))

    cool_off_passes()
    assert token_login("victim", PASSWORD, ip="10.9.9.9").status_code == 200
    login = AuditEntry.objects.filter(action="login").latest("id")
    assert (login.actor, login.ip_address, login.details) == (victim, "10.9.9.9", {"via": "api_token"})


def test_force_login_in_tests_never_trips_the_lockout(client, victim, settings):
    settings.AXES_FAILURE_LIMIT = 1
    for _ in range(5):
        client.force_login(victim)
        assert client.get("/").status_code == 200
    assert not AccessAttempt.objects.exists()


def test_the_token_endpoint_is_throttled_per_ip(db, monkeypatch):
    monkeypatch.setattr(LoginThrottle, "THROTTLE_RATES", {"login": "3/min"})
    for username in ("a", "b", "c"):
        assert token_login(username, "wrong", ip="10.1.1.1").status_code == 400
    response = token_login("d", "wrong", ip="10.1.1.1")
    assert response.status_code == 429
    assert response.json()["error"]["retry_after"] > 0
    assert token_login("d", "wrong", ip="10.1.1.2").status_code == 400  # another address is not throttled
