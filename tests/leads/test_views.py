import gc

import pytest
from django.urls import reverse
from django.utils import timezone

from leads.models import Activity, FollowUp, Lead, LeadRank
from tests.factories import ActivityFactory, LeadFactory

pytestmark = pytest.mark.django_db


def test_anonymous_user_is_sent_to_login(client):
    response = client.get(reverse("leads:queue"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_login_page_renders_and_logs_in(client, rep):
    assert client.get(reverse("login")).status_code == 200
    response = client.post(reverse("login"), {"username": rep.username, "password": "pw"})
    assert response.status_code == 302
    assert response.url == reverse("leads:queue")


def test_queue_shows_score_tier_reasons_and_overdue(rep_client, rep):
    LeadFactory(
        owner=rep,
        name="Dana Scully",
        company="FBI",
        score=87,
        priority=87,
        tier="hot",
        score_reasons=[{"feature": "Lead Source", "text": "Lead Source = Referral (+18)", "impact": 18.0}],
        next_follow_up_at=timezone.now() - timezone.timedelta(hours=3),
    )
    response = rep_client.get(reverse("leads:queue"))
    html = response.content.decode()
    assert response.status_code == 200
    assert "Dana Scully" in html and "FBI" in html
    assert ">87<" in html
    assert "tier-hot" in html
    assert "Lead Source = Referral (+18)" in html
    assert "overdue" in html


@pytest.mark.parametrize("page_size", [5, 50])
def test_queue_page_query_count_does_not_grow_with_page_size(client, settings, page_size, manager, rep, other_rep,
                                                              django_assert_max_num_queries):  # fmt: skip
    settings.QUEUE_PAGE_SIZE = page_size
    now = timezone.now()
    for i in range(60):
        LeadFactory(
            owner=[rep, other_rep, None][i % 3], priority=i, next_follow_up_at=now - timezone.timedelta(hours=i % 2)
        )
    for user in (rep, manager):
        client.force_login(user)
        with django_assert_max_num_queries(10):
            response = client.get(reverse("leads:queue"), {"tier": "", "q": ""})
        assert response.status_code == 200


def test_more_leads_link_loads_the_next_page_as_rows(rep_client, rep, settings):
    settings.QUEUE_PAGE_SIZE = 2
    for i in range(5):
        LeadFactory(owner=rep, name=f"L{i}", priority=i)
    first = rep_client.get(reverse("leads:queue"))
    assert "More leads" in first.content.decode()
    cursor = first.context["page"].next_cursor
    rows = rep_client.get(reverse("leads:queue"), {"cursor": cursor}, HTTP_HX_REQUEST="true")
    html = rows.content.decode()
    assert "<table" not in html
    assert "L2" in html and "L1" in html and "L4" not in html


def _leads_left_for_the_cyclic_collector(get) -> list:
    """The leads and rank rows that `get()`'s response leaves in reference cycles (found by a collection)."""
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        response = get()
        assert response.status_code == 200 and "lead-row" in response.content.decode()
        del response
        gc.collect()
        return [o for o in gc.garbage if isinstance(o, Lead | LeadRank)]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()


@pytest.mark.parametrize("q", ["", "L"])
def test_a_queue_page_leaves_its_leads_to_reference_counting(rep_client, rep, settings, q):
    """The page's leads and rank rows are freed when the request ends: neither the template
    context's cycle nor a lead <-> rank cycle (select_related) holds them for the cyclic collector,
    whose collections of ~40 pages' garbage paused a request for 30-70 ms."""
    settings.QUEUE_PAGE_SIZE = 2
    now = timezone.now()
    for i in range(5):
        LeadFactory(owner=rep, name=f"L{i}", priority=i, score_reasons=[{"text": "r", "impact": 1.0}],
                    next_follow_up_at=now - timezone.timedelta(hours=1) if i == 3 else None)  # fmt: skip
    url = reverse("leads:queue")
    cursor = rep_client.get(url, {"q": q}).context["page"].next_cursor

    assert _leads_left_for_the_cyclic_collector(lambda: rep_client.get(url, {"q": q})) == []
    more = {"q": q, "cursor": cursor}
    assert _leads_left_for_the_cyclic_collector(lambda: rep_client.get(url, more, HTTP_HX_REQUEST="true")) == []


def test_invalid_filter_values_fall_back_to_the_default_queue(rep_client, rep):
    LeadFactory(owner=rep, name="Visible")
    response = rep_client.get(reverse("leads:queue"), {"tier": "<script>", "status": "bogus", "owner": "999"})
    assert response.status_code == 200
    assert "Visible" in response.content.decode()


def test_lead_name_html_is_escaped_in_queue_and_detail(rep_client, rep):
    lead = LeadFactory(
        owner=rep, name="<script>alert(1)</script>", company="<b>x</b>", attributes={"note": "<img src=x>"}
    )
    for url in (reverse("leads:queue"), reverse("leads:detail", args=[lead.pk])):
        html = rep_client.get(url).content.decode()
        assert "<script>alert(1)</script>" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert "<b>x</b>" not in html
    assert "<img src=x>" not in rep_client.get(reverse("leads:detail", args=[lead.pk])).content.decode()


def test_rep_opening_another_reps_lead_gets_404(rep_client, other_rep):
    lead = LeadFactory(owner=other_rep)
    assert rep_client.get(reverse("leads:detail", args=[lead.pk])).status_code == 404


@pytest.mark.parametrize(
    ("route", "data"),
    [
        ("leads:activity_create", {"kind": "call", "outcome": "hacked"}),
        ("leads:follow_up_create", {"due_at": "2030-01-01T10:00"}),
        ("leads:status_change", {"status": "lost", "lost_reason": "sabotage"}),
        ("leads:assign", {"owner": ""}),
        ("leads:claim", {}),
    ],
)
def test_rep_posting_to_another_reps_lead_changes_nothing(rep_client, other_rep, route, data):
    lead = LeadFactory(owner=other_rep)
    before = Lead.objects.filter(pk=lead.pk).values().get()
    response = rep_client.post(reverse(route, args=[lead.pk]), data)
    assert response.status_code in (403, 404)
    assert Lead.objects.filter(pk=lead.pk).values().get() == before
    assert not Activity.objects.exists()
    assert not FollowUp.objects.exists()


def test_rep_cannot_complete_another_reps_follow_up(rep_client, other_rep):
    lead = LeadFactory(owner=other_rep)
    follow_up = FollowUp.objects.create(lead=lead, due_at=timezone.now())
    response = rep_client.post(reverse("leads:follow_up_done", args=[lead.pk, follow_up.pk]))
    assert response.status_code == 404
    follow_up.refresh_from_db()
    assert follow_up.done_at is None


def test_rep_can_view_but_not_work_a_pool_lead_until_claiming_it(rep_client, rep):
    lead = LeadFactory(owner=None)
    html = rep_client.get(reverse("leads:detail", args=[lead.pk])).content.decode()
    assert "Claim this lead" in html
    assert 'id="activity-form"' not in html
    assert rep_client.post(reverse("leads:activity_create", args=[lead.pk]), {"kind": "call"}).status_code == 404
    response = rep_client.post(reverse("leads:claim", args=[lead.pk]))
    assert response.status_code == 302
    lead.refresh_from_db()
    assert lead.owner == rep


def test_log_a_call_without_javascript_redirects_back_to_the_lead(rep_client, rep):
    lead = LeadFactory(owner=rep)
    response = rep_client.post(
        reverse("leads:activity_create", args=[lead.pk]), {"kind": "call", "outcome": "connected"}
    )
    assert response.status_code == 302
    assert response.url == reverse("leads:detail", args=[lead.pk])
    assert lead.activities.filter(kind="call", outcome="connected", user=rep).exists()


def test_log_a_call_with_htmx_returns_the_updated_panel(rep_client, rep):
    lead = LeadFactory(owner=rep)
    response = rep_client.post(
        reverse("leads:activity_create", args=[lead.pk]), {"kind": "meeting", "notes": "demo"}, HTTP_HX_REQUEST="true"
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    assert "Meeting" in html and "demo" in html


def test_activity_form_errors_are_shown_and_nothing_is_saved(rep_client, rep):
    lead = LeadFactory(owner=rep)
    response = rep_client.post(reverse("leads:activity_create", args=[lead.pk]), {"kind": "telepathy"})
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()
    assert not lead.activities.exists()


def test_follow_up_with_bad_date_shows_an_error(rep_client, rep):
    lead = LeadFactory(owner=rep)
    response = rep_client.post(reverse("leads:follow_up_create", args=[lead.pk]), {"due_at": "next tuesday-ish"})
    assert response.status_code == 400
    assert "Enter a valid date/time" in response.content.decode()
    assert not FollowUp.objects.exists()


def test_schedule_and_complete_follow_up_through_the_page(rep_client, rep):
    lead = LeadFactory(owner=rep)
    rep_client.post(reverse("leads:follow_up_create", args=[lead.pk]), {"due_at": "2031-05-01T09:30", "note": "ring"})
    follow_up = FollowUp.objects.get(lead=lead)
    lead.refresh_from_db()
    assert lead.next_follow_up_at == follow_up.due_at
    rep_client.post(reverse("leads:follow_up_done", args=[lead.pk, follow_up.pk]))
    follow_up.refresh_from_db()
    lead.refresh_from_db()
    assert follow_up.done_at is not None and lead.next_follow_up_at is None


def test_closing_as_lost_without_reason_shows_an_error(rep_client, rep):
    lead = LeadFactory(owner=rep)
    response = rep_client.post(reverse("leads:status_change", args=[lead.pk]), {"status": "lost"})
    assert response.status_code == 400
    assert "Say why the lead was lost." in response.content.decode()
    lead.refresh_from_db()
    assert lead.status == "new"


def test_close_as_converted(rep_client, rep):
    lead = LeadFactory(owner=rep)
    rep_client.post(reverse("leads:status_change", args=[lead.pk]), {"status": "converted"})
    lead.refresh_from_db()
    assert lead.status == "converted" and lead.converted_at is not None


def test_rep_cannot_assign_but_manager_can(rep_client, rep, other_rep, manager, client):
    lead = LeadFactory(owner=rep)
    assert rep_client.post(reverse("leads:assign", args=[lead.pk]), {"owner": other_rep.pk}).status_code == 403
    lead.refresh_from_db()
    assert lead.owner == rep
    client.force_login(manager)
    assert 'id="assign-form"' in client.get(reverse("leads:detail", args=[lead.pk])).content.decode()
    client.post(reverse("leads:assign", args=[lead.pk]), {"owner": other_rep.pk})
    lead.refresh_from_db()
    assert lead.owner == other_rep


def test_claim_next_button_moves_the_best_pool_lead_to_the_rep(rep_client, rep):
    LeadFactory(owner=None, priority=10)
    best = LeadFactory(owner=None, priority=90)
    response = rep_client.post(reverse("leads:claim_next"))
    assert response.status_code == 302
    assert response.url == reverse("leads:detail", args=[best.pk])
    best.refresh_from_db()
    assert best.owner == rep


def test_claim_next_with_empty_pool_says_so(rep_client):
    response = rep_client.post(reverse("leads:claim_next"), follow=True)
    assert "The unassigned pool is empty." in response.content.decode()


def test_get_on_action_urls_is_not_allowed(rep_client, rep):
    lead = LeadFactory(owner=rep)
    assert rep_client.get(reverse("leads:activity_create", args=[lead.pk])).status_code == 405


def test_csrf_is_enforced_on_actions(rep):
    from django.test import Client

    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(rep)
    lead = LeadFactory(owner=rep)
    response = csrf_client.post(reverse("leads:activity_create", args=[lead.pk]), {"kind": "call"})
    assert response.status_code == 403
    assert not lead.activities.exists()


def test_lead_detail_query_count_is_bounded(rep_client, rep, django_assert_max_num_queries):
    lead = LeadFactory(owner=rep)
    for _ in range(30):
        ActivityFactory(lead=lead, user=rep)
    with django_assert_max_num_queries(12):
        assert rep_client.get(reverse("leads:detail", args=[lead.pk])).status_code == 200


# --- issue 17: dates, back links, close and take next, names -------------------------------------


def test_a_follow_up_in_the_past_is_refused_with_a_clear_error(rep_client, rep):
    lead = LeadFactory(owner=rep)
    response = rep_client.post(
        reverse("leads:follow_up_create", args=[lead.pk]), {"due_at": "2020-01-01T10:00", "note": "too late"}
    )
    page = response.content.decode()
    assert response.status_code == 400
    assert "A follow-up must be due in the future; 2020-01-01 10:00 has passed." in page
    assert not FollowUp.objects.filter(lead=lead).exists()


def test_lead_links_carry_the_queue_filters_and_the_back_link_keeps_them(rep_client, rep):
    lead = LeadFactory(owner=rep, tier="hot", name="Hot One")
    queue = rep_client.get(reverse("leads:queue"), {"tier": "hot", "q": "Hot", "cursor": ""}).content.decode()
    assert f'href="/leads/{lead.pk}/?queue=q%3DHot%26tier%3Dhot"' in queue

    detail = rep_client.get(reverse("leads:detail", args=[lead.pk]), {"queue": "q=Hot&tier=hot&evil=1&cursor=x"})
    assert 'href="/?q=Hot&amp;tier=hot" id="back-to-queue"' in detail.content.decode()


def test_close_and_take_next_opens_the_next_lead_of_the_same_queue(rep_client, rep):
    closing = LeadFactory(owner=rep, tier="hot", priority=90, score=90)
    following = LeadFactory(owner=rep, tier="hot", priority=80, score=80)
    LeadFactory(owner=rep, tier="cold", priority=85, score=85)  # outside the filter

    response = rep_client.post(
        reverse("leads:status_change", args=[closing.pk]),
        {"status": "lost", "lost_reason": "budget", "then": "next", "queue": "tier=hot"},
    )
    assert response.status_code == 302
    assert response.url == f"/leads/{following.pk}/?queue=tier%3Dhot"
    closing.refresh_from_db()
    assert closing.status == Lead.Status.LOST


def test_close_and_take_next_on_htmx_redirects_the_browser(rep_client, rep):
    closing = LeadFactory(owner=rep, priority=90)
    following = LeadFactory(owner=rep, priority=10)
    response = rep_client.post(
        reverse("leads:status_change", args=[closing.pk]),
        {"status": "converted", "then": "next"},
        HTTP_HX_REQUEST="true",
    )
    assert response["HX-Redirect"] == f"/leads/{following.pk}/"


def test_close_and_take_next_takes_from_the_pool_when_the_queue_is_done(rep_client, rep):
    closing = LeadFactory(owner=rep)
    pooled = LeadFactory(owner=None, priority=50)
    response = rep_client.post(
        reverse("leads:status_change", args=[closing.pk]), {"status": "converted", "then": "next"}
    )
    assert response.url == f"/leads/{pooled.pk}/"
    pooled.refresh_from_db()
    assert pooled.owner == rep


def test_close_and_take_next_needs_a_closing_status(rep_client, rep):
    lead = LeadFactory(owner=rep)
    response = rep_client.post(reverse("leads:status_change", args=[lead.pk]), {"status": "contacted", "then": "next"})
    assert response.status_code == 400
    assert "To close a lead, choose Converted or Lost." in response.content.decode()
    lead.refresh_from_db()
    assert lead.status == Lead.Status.NEW


def test_assign_lists_active_reps_by_full_name_only(manager_client, rep, manager, admin_user):
    from tests.factories import RepFactory

    RepFactory(username="jdoe", first_name="Jane", last_name="Doe")
    RepFactory(username="gone", first_name="Gone", last_name="Away", is_active=False)
    lead = LeadFactory(owner=rep)
    page = manager_client.get(reverse("leads:detail", args=[lead.pk])).content.decode()
    options = page[page.index('id="assign-form"') :]
    options = options[: options.index("</select>")]
    assert "Jane Doe" in options and ">jdoe<" not in options
    assert "Gone Away" not in options
    assert f">{manager}<" not in options and f">{admin_user}<" not in options
    response = manager_client.post(reverse("leads:assign", args=[lead.pk]), {"owner": manager.pk})
    assert response.status_code == 400 and Lead.objects.get(pk=lead.pk).owner == rep


def test_every_lead_page_input_has_a_label(manager_client, rep):
    import re

    lead = LeadFactory(owner=rep)
    page = manager_client.get(reverse("leads:detail", args=[lead.pk])).content.decode()
    for field_id in re.findall(r'<(?:input|select|textarea)[^>]*\bid="([^"]+)"', page):
        assert f'for="{field_id}"' in page, field_id
    assert page.count("<h1") == 1


# --- issue 16: bulk changes, the count, saved views, contact links ------------------------------


def _bulk(client, action, **data):
    return client.post(reverse("leads:bulk"), {"action": action, **data})


def test_manager_bulk_assigns_ticked_rows_from_the_queue(manager_client, manager, rep):
    leads = [LeadFactory(owner=None) for _ in range(3)]
    response = _bulk(
        manager_client, "assign", scope="selected", lead=[lead.pk for lead in leads], owner=rep.pk, queue="tier=hot"
    )
    assert response.status_code == 302 and response.url == "/?tier=hot"
    assert Lead.objects.filter(owner=rep).count() == 3


def test_a_rep_cannot_bulk_assign_and_nothing_changes(rep_client, rep, other_rep):
    lead = LeadFactory(owner=rep)
    response = _bulk(rep_client, "assign", scope="selected", lead=[lead.pk], owner=other_rep.pk)
    assert response.status_code == 403
    lead.refresh_from_db()
    assert lead.owner == rep and not lead.activities.exists()


def test_a_rep_bulk_changing_another_reps_lead_gets_404_and_nothing_changes(rep_client, rep, other_rep):
    mine, theirs = LeadFactory(owner=rep), LeadFactory(owner=other_rep)
    response = _bulk(rep_client, "status", scope="selected", lead=[mine.pk, theirs.pk], status="qualified")
    assert response.status_code == 404
    assert set(Lead.objects.values_list("status", flat=True)) == {"new"}


def test_a_rep_bulk_changes_the_status_of_their_own_leads(rep_client, rep):
    leads = [LeadFactory(owner=rep) for _ in range(2)]
    response = _bulk(rep_client, "status", scope="selected", lead=[lead.pk for lead in leads], status="qualified")
    assert response.status_code == 302
    assert set(Lead.objects.values_list("status", flat=True)) == {"qualified"}


def test_bulk_lost_without_a_reason_shows_the_error_beside_the_field(rep_client, rep):
    lead = LeadFactory(owner=rep)
    response = _bulk(rep_client, "status", scope="selected", lead=[lead.pk], status="lost")
    html = response.content.decode()
    assert response.status_code == 400
    assert 'id="bulk_lost_reason_error"' in html and "Say why the lead was lost." in html
    lead.refresh_from_db()
    assert lead.status == "new"


def test_bulk_follow_up_in_the_past_is_refused_beside_the_field(rep_client, rep):
    lead = LeadFactory(owner=rep)
    response = _bulk(rep_client, "follow_up", scope="selected", lead=[lead.pk], due_at="2020-01-01T10:00")
    assert response.status_code == 400
    assert 'id="bulk_due_at_error"' in response.content.decode()
    assert not FollowUp.objects.exists()


def test_bulk_with_nothing_ticked_or_an_unknown_action_is_a_readable_400(rep_client, rep):
    response = _bulk(rep_client, "status", scope="selected", status="qualified")
    assert response.status_code == 400 and "Tick at least one lead" in response.content.decode()
    response = _bulk(rep_client, "explode", scope="selected")
    assert response.status_code == 400 and b"Choose a bulk action" in response.content


def test_bulk_needs_csrf(rep):
    from django.test import Client

    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(rep)
    lead = LeadFactory(owner=rep)
    response = _bulk(csrf_client, "status", scope="selected", lead=[lead.pk], status="qualified")
    assert response.status_code == 403
    lead.refresh_from_db()
    assert lead.status == "new"


def test_all_matching_over_the_threshold_asks_for_confirmation_saying_how_many(manager_client, rep, settings):
    settings.QUEUE_BULK_CONFIRM_OVER = 2
    for _ in range(3):
        LeadFactory(owner=rep, tier="hot")
    LeadFactory(owner=rep, tier="cold")
    data = {"scope": "matching", "queue": "tier=hot", "status": "qualified"}
    response = _bulk(manager_client, "status", **data)
    html = response.content.decode()
    assert response.status_code == 200
    assert "Sets 3 leads to Qualified." in html and 'name="confirmed"' in html
    assert Lead.objects.filter(status="qualified").count() == 0

    response = _bulk(manager_client, "status", **data, confirmed="1")
    assert response.status_code == 302
    assert Lead.objects.filter(status="qualified").count() == 3
    assert Lead.objects.get(rank__tier="cold").status == "new"


def test_all_matching_under_the_threshold_acts_at_once(rep_client, rep, other_rep):
    mine = [LeadFactory(owner=rep) for _ in range(2)]
    theirs = LeadFactory(owner=other_rep)
    response = _bulk(rep_client, "status", scope="matching", queue="", status="contacted")
    assert response.status_code == 302
    assert {lead.status for lead in Lead.objects.filter(pk__in=[m.pk for m in mine])} == {"contacted"}
    theirs.refresh_from_db()
    assert theirs.status == "new"


def test_queue_shows_the_total_count_of_matching_leads(rep_client, rep, settings):
    settings.QUEUE_PAGE_SIZE = 2
    for _ in range(5):
        LeadFactory(owner=rep, tier="hot")
    LeadFactory(owner=rep, tier="cold")
    page = rep_client.get(reverse("leads:queue"), {"tier": "hot"}).content.decode()
    # More than one page: the page loads its count after its rows, for the same filters.
    assert f'hx-get="{reverse("leads:queue_count")}?tier=hot"' in page and "<strong>5 leads</strong>" not in page
    html = rep_client.get(reverse("leads:queue_count"), {"tier": "hot"}).content.decode()
    assert "<strong>5 leads</strong>" in html and "All 5 leads matching this filter" in html


def test_a_queue_that_fits_on_its_page_is_counted_without_a_second_request(rep_client, rep):
    for _ in range(3):
        LeadFactory(owner=rep)
    html = rep_client.get(reverse("leads:queue")).content.decode()
    assert "<strong>3 leads</strong>" in html and "All 3 leads matching this filter" in html
    assert reverse("leads:queue_count") not in html


def test_the_queue_count_is_of_the_users_own_queue(rep_client, rep, other_rep):
    LeadFactory(owner=rep, tier="hot")
    for _ in range(4):
        LeadFactory(owner=other_rep, tier="hot")
    html = rep_client.get(reverse("leads:queue_count"), {"tier": "hot", "owner": str(other_rep.pk)}).content.decode()
    assert "<strong>1 lead</strong>" in html


def test_queue_count_above_the_exact_limit_is_labelled_about(manager_client, rep, settings):
    settings.QUEUE_PAGE_SIZE = 1
    settings.QUEUE_COUNT_EXACT_UP_TO = 2
    for _ in range(4):
        LeadFactory(owner=rep)
    html = manager_client.get(reverse("leads:queue_count")).content.decode()
    from django.db import connection

    if connection.vendor == "postgresql":
        assert "<strong>about " in html and "(an estimate)" in html
    else:
        assert "<strong>4 leads</strong>" in html


def test_queue_rows_have_a_checkbox_and_contact_links_to_the_log_form(rep_client, rep):
    lead = LeadFactory(owner=rep, email="dana@example.com", phone="+1 555 0100")
    html = rep_client.get(reverse("leads:queue")).content.decode()
    assert f'name="lead" value="{lead.pk}" form="bulk-form"' in html
    assert 'href="mailto:dana@example.com"' in html and 'href="tel:+1 555 0100"' in html
    assert f'data-log-url="/leads/{lead.pk}/?log=call#log"' in html
    assert f'data-log-url="/leads/{lead.pk}/?log=email#log"' in html


def test_lead_page_contact_links_and_the_log_form_prefilled_with_that_kind(rep_client, rep):
    lead = LeadFactory(owner=rep, email="dana@example.com", phone="555 0100")
    html = rep_client.get(reverse("leads:detail", args=[lead.pk])).content.decode()
    assert 'href="mailto:dana@example.com"' in html and 'href="tel:555 0100"' in html
    assert 'href="?log=call#log"' in html and 'id="log"' in html
    html = rep_client.get(reverse("leads:detail", args=[lead.pk]), {"log": "call"}).content.decode()
    assert '<option value="call" selected>' in html
    html = rep_client.get(reverse("leads:detail", args=[lead.pk]), {"log": "email"}).content.decode()
    assert '<option value="email" selected>' in html
    html = rep_client.get(reverse("leads:detail", args=[lead.pk]), {"log": "<script>"}).content.decode()
    assert "selected>" not in html.split('id="activity-form"')[1].split("</form>")[0]


def test_saved_views_are_listed_opened_and_deleted_by_their_owner_only(client, rep, other_rep):
    client.force_login(rep)
    response = client.post(reverse("leads:saved_view_create"), {"name": "Hot ones", "queue": "tier=hot&cursor=s.1.2"})
    assert response.status_code == 302 and response.url == "/?tier=hot"
    html = client.get(reverse("leads:queue")).content.decode()
    assert 'href="/?tier=hot">Hot ones</a>' in html
    duplicate = client.post(reverse("leads:saved_view_create"), {"name": "Hot ones", "queue": ""})
    assert duplicate.status_code == 400 and "already have a view named" in duplicate.content.decode()

    from leads.models import SavedView

    view = SavedView.objects.get(user=rep)
    client.force_login(other_rep)
    assert "Hot ones" not in client.get(reverse("leads:queue")).content.decode()
    assert client.post(reverse("leads:saved_view_delete", args=[view.pk])).status_code == 404
    assert SavedView.objects.filter(pk=view.pk).exists()

    client.force_login(rep)
    assert client.post(reverse("leads:saved_view_delete", args=[view.pk])).status_code == 302
    assert not SavedView.objects.exists()
