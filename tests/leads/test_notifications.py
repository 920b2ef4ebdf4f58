"""Notifications: who is told what, per-user switches, email through the backend (after commit,
with retries), the header badge's one query, the list page, and follow-up reminders."""

from datetime import timedelta
from unittest import mock

import pytest
from django.core import mail
from django.utils import timezone

from leads import notifications, reminders, services
from leads.models import ImportJob, Notification, NotificationPreference
from leads.notifications import Kind, notify
from leads.receivers import on_import_finished
from leads.tasks import notification_email_send
from tests.factories import AdminFactory, FollowUpFactory, LeadFactory, ManagerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _locmem_email(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


def test_manager_assigning_a_lead_tells_the_rep_in_app_and_by_email(django_capture_on_commit_callbacks, rep, manager):
    lead = LeadFactory(name="Ada")
    with django_capture_on_commit_callbacks(execute=True):
        services.lead_assign(lead=lead, rep=rep, by=manager)
    note = Notification.objects.get(user=rep)
    assert note.kind == Kind.LEAD_ASSIGNED and note.lead_id == lead.pk and "Ada" in note.title
    assert note.url == f"/leads/{lead.pk}/"
    assert [m.to for m in mail.outbox] == [[rep.email]]
    assert f"/leads/{lead.pk}/" in mail.outbox[0].body
    assert Notification.objects.get(pk=note.pk).emailed_at is not None


def test_claiming_or_assigning_to_yourself_tells_nobody(rep, manager):
    services.lead_claim(lead=LeadFactory(), rep=rep)
    services.lead_assign(lead=LeadFactory(), rep=manager, by=manager)
    assert not Notification.objects.exists()


def test_a_kind_switched_off_is_neither_shown_nor_emailed(django_capture_on_commit_callbacks, rep):
    notifications.preferences_set(user=rep, choices={Kind.LEAD_ASSIGNED: {"in_app": False, "email": False}})
    with django_capture_on_commit_callbacks(execute=True):
        assert notify(users=[rep], kind=Kind.LEAD_ASSIGNED, title="x") == []
    assert mail.outbox == []


def test_email_only_is_sent_but_left_out_of_the_badge(django_capture_on_commit_callbacks, rep):
    notifications.preferences_set(user=rep, choices={Kind.LEAD_ASSIGNED: {"in_app": False, "email": True}})
    with django_capture_on_commit_callbacks(execute=True):
        notify(users=[rep], kind=Kind.LEAD_ASSIGNED, title="x")
    assert len(mail.outbox) == 1
    assert notifications.unread_count_for(rep) == 0


def test_in_app_only_sends_no_email(django_capture_on_commit_callbacks, rep):
    notifications.preferences_set(user=rep, choices={Kind.SLA_WARNING: {"in_app": True, "email": False}})
    with django_capture_on_commit_callbacks(execute=True):
        notify(users=[rep], kind=Kind.SLA_WARNING, title="x")
    assert mail.outbox == [] and notifications.unread_count_for(rep) == 1


def test_inactive_users_are_not_told(rep):
    rep.is_active = False
    rep.save()
    assert notify(users=[rep], kind=Kind.LEAD_ASSIGNED, title="x") == []


def test_a_dedupe_key_tells_each_user_once(rep, other_rep):
    assert len(notify(users=[rep], kind=Kind.SLA_BREACH, title="x", dedupe_key="k")) == 1
    assert len(notify(users=[rep, other_rep], kind=Kind.SLA_BREACH, title="x", dedupe_key="k")) == 1
    assert Notification.objects.count() == 2


def test_unknown_kind_is_refused(rep):
    with pytest.raises(ValueError):
        notify(users=[rep], kind="gossip", title="x")


def test_email_send_is_claimed_once(rep):
    [note] = notify(users=[rep], kind=Kind.LEAD_ASSIGNED, title="x")
    assert notifications.notification_email_send(notification_id=note.pk) is True
    assert notifications.notification_email_send(notification_id=note.pk) is False
    assert len(mail.outbox) == 1


def test_a_failed_email_is_released_for_the_retry(rep):
    [note] = notify(users=[rep], kind=Kind.LEAD_ASSIGNED, title="x")
    with mock.patch("leads.notifications.send_mail", side_effect=OSError("smtp down")), pytest.raises(OSError):
        notifications.notification_email_send(notification_id=note.pk)
    assert Notification.objects.get(pk=note.pk).emailed_at is None
    assert notification_email_send.max_retries >= 1 and Exception in notification_email_send.autoretry_for
    assert notifications.notification_email_send(notification_id=note.pk) is True


def test_badge_is_one_query(rep_client, rep, django_assert_num_queries):
    notify(users=[rep], kind=Kind.LEAD_ASSIGNED, title="x")
    notify(users=[rep], kind=Kind.LEAD_ASSIGNED, title="y")
    rep_client.get("/notifications/badge/")  # session and user loaded once, as on any page
    with django_assert_num_queries(3):  # session, user, and the one COUNT
        response = rep_client.get("/notifications/badge/")
    assert 'data-unread="2"' in response.content.decode()


def test_every_page_carries_the_badge_that_polls(rep_client):
    body = rep_client.get("/").content.decode()
    assert 'id="notifications-badge"' in body and 'hx-get="/notifications/badge/"' in body


def test_list_shows_only_my_notifications(rep_client, rep, other_rep):
    notify(users=[rep], kind=Kind.LEAD_ASSIGNED, title="mine-1")
    notify(users=[other_rep], kind=Kind.LEAD_ASSIGNED, title="bobs-secret")
    body = rep_client.get("/notifications/").content.decode()
    assert "mine-1" in body and "bobs-secret" not in body


def test_opening_a_notification_marks_it_read_and_follows_it(rep_client, rep):
    lead = LeadFactory(owner=rep)
    [note] = notify(users=[rep], kind=Kind.LEAD_ASSIGNED, title="x", url=f"/leads/{lead.pk}/", lead=lead)
    response = rep_client.post(f"/notifications/{note.pk}/open/")
    assert response.status_code == 302 and response["Location"] == f"/leads/{lead.pk}/"
    assert Notification.objects.get(pk=note.pk).read_at is not None


def test_rep_cannot_open_or_read_another_reps_notification(rep_client, other_rep):
    [note] = notify(users=[other_rep], kind=Kind.LEAD_ASSIGNED, title="x")
    assert rep_client.post(f"/notifications/{note.pk}/open/").status_code == 404
    rep_client.post("/notifications/read-all/")
    assert Notification.objects.get(pk=note.pk).read_at is None


def test_external_urls_are_not_followed(rep_client, rep):
    [note] = notify(users=[rep], kind=Kind.LEAD_ASSIGNED, title="x", url="https://evil.example/")
    assert rep_client.post(f"/notifications/{note.pk}/open/")["Location"] == "/notifications/"


def test_preferences_page_saves_each_kind(rep_client, rep):
    assert rep_client.get("/notifications/settings/").status_code == 200
    data = {f"{kind}__in_app": "on" for kind in Kind.values} | {f"{kind}__email": "on" for kind in Kind.values}
    data.pop(f"{Kind.LEAD_ASSIGNED}__email")
    data[f"{Kind.FOLLOW_UP_DUE}__digest"] = "on"
    assert rep_client.post("/notifications/settings/", data).status_code == 302
    prefs = notifications.preferences_for(rep)
    assert prefs[Kind.LEAD_ASSIGNED].email is False and prefs[Kind.LEAD_ASSIGNED].in_app is True
    assert prefs[Kind.FOLLOW_UP_DUE].digest is True


def test_import_finished_and_failed_tell_the_admins(manager):
    admin = AdminFactory()
    job = ImportJob.objects.create(file="imports/x.csv", original_name="x.csv", status="succeeded", created_count=3)
    on_import_finished(None, job=job)
    failed = ImportJob.objects.create(file="imports/y.csv", original_name="y.csv", status="failed", error="bad file")
    on_import_finished(None, job=failed)
    kinds = set(Notification.objects.filter(user=admin).values_list("kind", flat=True))
    assert kinds == {Kind.IMPORT_FINISHED, Kind.IMPORT_FAILED}
    assert not Notification.objects.filter(user=manager).exists()


NOON = timezone.make_aware(timezone.datetime(2026, 3, 10, 12, 0))


def test_follow_ups_due_today_are_told_one_by_one_or_as_a_digest(settings, rep, other_rep):
    settings.FOLLOW_UP_DIGEST_HOUR = 7
    for user in (rep, other_rep):
        lead = LeadFactory(owner=user)
        FollowUpFactory(lead=lead, assigned_to=user, due_at=NOON + timedelta(hours=2))
        FollowUpFactory(lead=lead, assigned_to=user, due_at=NOON + timedelta(hours=3))
        FollowUpFactory(lead=lead, assigned_to=user, due_at=NOON + timedelta(days=1))  # tomorrow
    NotificationPreference.objects.create(user=other_rep, kind=Kind.FOLLOW_UP_DUE, digest=True)
    assert reminders.follow_ups_due_notify(now=NOON) == 3
    assert Notification.objects.filter(user=rep, kind=Kind.FOLLOW_UP_DUE).count() == 2
    digest = Notification.objects.get(user=other_rep)
    assert digest.title.startswith("2 follow-up(s)")
    assert reminders.follow_ups_due_notify(now=NOON + timedelta(hours=1)) == 0  # once a day


def test_no_follow_up_reminders_before_the_digest_hour(settings, rep):
    settings.FOLLOW_UP_DIGEST_HOUR = 13
    FollowUpFactory(lead=LeadFactory(owner=rep), assigned_to=rep, due_at=NOON + timedelta(hours=2))
    assert reminders.follow_ups_due_notify(now=NOON) == 0


def test_managers_see_the_same_list_page(manager_client, manager):
    ManagerFactory()
    notify(users=[manager], kind=Kind.MODEL_ACTIVATED, title="Model v3 is now active")
    assert "Model v3" in manager_client.get("/notifications/").content.decode()
