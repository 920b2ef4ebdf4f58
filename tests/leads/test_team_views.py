"""A rep's own page (/me/), the admins' users page (create/invite, role, capacity, deactivate
with the open leads moved in one transaction) and password reset by email."""

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from leads import accounts, rep_day, services
from leads.models import Activity, Lead, User
from tests.factories import FollowUpFactory, LeadFactory, RepFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _locmem_email(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


NOW = timezone.make_aware(timezone.datetime(2026, 3, 10, 12, 0))


def _close(lead, outcome, when, user):
    services.lead_close(lead=lead, outcome=outcome, user=user, reason="Price", when=when)


def test_my_day_lists_my_due_overdue_and_hot_untouched_leads_only(rep, other_rep):
    mine = LeadFactory(owner=rep, name="Mine")
    FollowUpFactory(lead=mine, assigned_to=rep, due_at=NOW + timedelta(hours=2), note="today")
    FollowUpFactory(lead=mine, assigned_to=rep, due_at=NOW - timedelta(days=1), note="late")
    FollowUpFactory(lead=mine, assigned_to=rep, due_at=NOW + timedelta(days=2), note="later")
    hot = LeadFactory(owner=rep, tier="hot", priority=90)
    LeadFactory(owner=rep, tier="hot", priority=95, last_activity_at=NOW)  # touched
    bobs = LeadFactory(owner=other_rep, tier="hot", priority=99)
    FollowUpFactory(lead=bobs, assigned_to=other_rep, due_at=NOW + timedelta(hours=1))
    day = rep_day.rep_day_for(rep, now=NOW)
    assert [f.note for f in day.due_today] == ["today"]
    assert [f.note for f in day.overdue] == ["late"]
    assert [lead.pk for lead in day.hot_untouched] == [hot.pk]


def test_my_month_beside_the_team_median(rep, other_rep):
    third = RepFactory()
    month = NOW - timedelta(days=5)
    for user, converted, lost in ((rep, 3, 1), (other_rep, 1, 1), (third, 0, 2)):
        for _ in range(converted):
            _close(LeadFactory(owner=user), "converted", month, user)
        for _ in range(lost):
            _close(LeadFactory(owner=user), "lost", month, user)
    _close(LeadFactory(owner=rep), "lost", NOW - timedelta(days=40), rep)  # last month: not counted
    LeadFactory(owner=rep, created_at=month, first_contacted_at=month + timedelta(hours=2))
    LeadFactory(owner=rep, created_at=month, first_contacted_at=month + timedelta(hours=4))
    LeadFactory(owner=other_rep, created_at=month, first_contacted_at=month + timedelta(hours=10))
    day = rep_day.rep_day_for(rep, now=NOW)
    assert (day.mine.closed, day.mine.converted) == (4, 3)
    assert day.mine.conversion_rate == 0.75
    assert day.team_median_conversion_rate == 0.5  # median of 0.75, 0.5, 0.0
    assert day.mine.median_first_contact_hours == 3.0
    assert day.team_median_first_contact_hours == 4.0  # median of 2, 4, 10


def test_me_page_shows_only_my_leads(rep_client, rep, other_rep):
    LeadFactory(owner=rep, tier="hot", priority=90, name="My hot one")
    LeadFactory(owner=other_rep, tier="hot", priority=99, name="Bobs hot one")
    body = rep_client.get("/me/", {"owner": other_rep.pk}).content.decode()
    assert "My hot one" in body and "Bobs hot one" not in body


def test_users_page_is_for_admins_only(rep_client, client, manager):
    assert rep_client.get("/users/").status_code == 403
    client.force_login(manager)
    assert client.get("/users/").status_code == 403


def test_admin_creates_and_invites_a_rep(admin_client_crm):
    response = admin_client_crm.post(
        "/users/new/",
        {"username": "dora", "email": "dora@example.com", "role": "rep", "capacity": 30, "invite": "on"},
    )
    dora = User.objects.get(username="dora")
    assert response.status_code == 302
    assert dora.capacity == 30 and dora.role == "rep" and not dora.has_usable_password()
    assert [m.to for m in mail.outbox] == [["dora@example.com"]]
    link = re.search(r"http://testserver(/password-reset/\S+/)", mail.outbox[0].body).group(1)
    page = admin_client_crm.get(link, follow=True)
    assert "Choose a password" in page.content.decode()


def test_duplicate_username_is_a_field_error(admin_client_crm, rep):
    response = admin_client_crm.post(
        "/users/new/", {"username": rep.username.upper(), "email": "x@example.com", "role": "rep", "capacity": 5}
    )
    assert response.status_code == 400 and "taken" in response.content.decode()


def test_admin_changes_role_and_capacity(admin_client_crm, rep):
    response = admin_client_crm.post(
        f"/users/{rep.pk}/", {"email": rep.email, "role": "manager", "capacity": 7, "first_name": "Al"}
    )
    assert response.status_code == 302
    rep.refresh_from_db()
    assert (rep.role, rep.capacity, rep.first_name) == ("manager", 7, "Al")


def test_deactivating_a_rep_returns_their_open_leads_to_the_pool(admin_client_crm, rep):
    open_leads = LeadFactory.create_batch(3, owner=rep)
    closed = LeadFactory(owner=rep, status=Lead.Status.CONVERTED)
    admin_client_crm.post(f"/users/{rep.pk}/deactivate/", {"reassign_to": ""})
    rep.refresh_from_db()
    assert not rep.is_active
    assert not Lead.objects.filter(pk__in=[lead.pk for lead in open_leads], owner__isnull=False).exists()
    assert Lead.objects.get(pk=closed.pk).owner == rep  # history keeps its owner
    assert Activity.objects.filter(notes__contains="deactivated").count() == 3


def test_deactivating_a_rep_can_hand_their_leads_to_a_chosen_rep(admin_client_crm, rep, other_rep):
    LeadFactory.create_batch(2, owner=rep)
    admin_client_crm.post(f"/users/{rep.pk}/deactivate/", {"reassign_to": other_rep.pk})
    assert Lead.objects.filter(owner=other_rep).count() == 2


def test_deactivation_is_one_transaction(admin_user, rep, monkeypatch):
    LeadFactory.create_batch(2, owner=rep)

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(Activity.objects, "bulk_create", boom)
    with pytest.raises(RuntimeError):
        accounts.user_deactivate(by=admin_user, user=rep)
    rep.refresh_from_db()
    assert rep.is_active and Lead.objects.filter(owner=rep).count() == 2


def test_leads_cannot_go_to_an_inactive_user(admin_user, rep, other_rep):
    other_rep.is_active = False
    other_rep.save()
    with pytest.raises(Exception, match="another active user"):
        accounts.user_deactivate(by=admin_user, user=rep, reassign_to=other_rep)


def test_an_admin_cannot_deactivate_themselves(admin_client_crm, admin_user):
    admin_client_crm.post(f"/users/{admin_user.pk}/deactivate/", {"reassign_to": ""})
    admin_user.refresh_from_db()
    assert admin_user.is_active


def test_password_reset_by_email(client, rep):
    page = client.get("/login/").content.decode()
    assert "/password-reset/" in page
    response = client.post("/password-reset/", {"email": rep.email})
    assert response.status_code == 302 and response["Location"] == "/password-reset/sent/"
    [message] = mail.outbox
    link = re.search(r"http://testserver(/password-reset/\S+/)", message.body).group(1)
    form = client.get(link, follow=True)
    assert "Choose a password" in form.content.decode()
    done = client.post(
        form.redirect_chain[-1][0], {"new_password1": "a-long-new-pass-42", "new_password2": "a-long-new-pass-42"}
    )
    assert done["Location"] == "/password-reset/done/"
    rep.refresh_from_db()
    assert rep.check_password("a-long-new-pass-42")


def test_password_reset_for_an_unknown_address_says_the_same(client):
    response = client.post("/password-reset/", {"email": "nobody@example.com"})
    assert response.status_code == 302 and mail.outbox == []
