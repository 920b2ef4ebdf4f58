"""HTML pages for reps and managers. Thin: validate, call one service or selector, render.

Every action works as a plain form POST (redirect back to the lead) and, when sent by HTMX,
answers with the re-rendered lead panel for an in-place swap.

The queue's filters travel to the lead page as `?queue=<the queue's query string>`, so the back
link and "Close and take next lead" keep what the rep was filtering on.
"""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect

from leadcrm.confirm import confirm_page
from leads import bulk_changes, saved_views, selectors, services
from leads.forms import (
    QUEUE_FILTER_NAMES,
    ActivityForm,
    AssignForm,
    BulkSelectionForm,
    FollowUpForm,
    QueueFilterForm,
    SavedViewForm,
    StatusForm,
)
from leads.models import Activity, FollowUp, Lead
from leads.queue_rows import queue_rows, queue_rows_html


def _queue_filter_form(request: HttpRequest, data: QueryDict | None) -> QueueFilterForm:
    reps = selectors.reps_list() if request.user.is_manager else None
    return QueueFilterForm(data, user=request.user, sources=selectors.sources_list(), reps=reps)


def _queue_query(raw: str) -> str:
    """The queue filters in a `?queue=` value, re-encoded with only the filter names (never a
    cursor or anything else), for links back to the queue."""
    params = QueryDict(raw)
    return urlencode([(name, params[name]) for name in QUEUE_FILTER_NAMES if params.get(name)])


def _lead_suffix(queue_query: str) -> str:
    """Appended to a lead link so the lead page's back link keeps the queue's filters."""
    return f"?{urlencode({'queue': queue_query})}" if queue_query else ""


def _lead_url(pk: int, queue_query: str) -> str:
    return reverse("leads:detail", args=[pk]) + _lead_suffix(queue_query)


def _queue_url(queue_query: str) -> str:
    return reverse("leads:queue") + (f"?{queue_query}" if queue_query else "")


def _queue_filters(form: QueueFilterForm) -> selectors.QueueFilters:
    """The filters of a queue filter form; not valid, the whole queue."""
    return selectors.QueueFilters(**form.cleaned_data) if form.is_valid() else selectors.QueueFilters()


def _queue_rows_context(request: HttpRequest, params: QueryDict) -> dict:
    """One page of the queue's rows for the filters (and cursor) in `params`: what the rows
    template needs, and the filter form and `queue_query` the whole page adds to."""
    form = _queue_filter_form(request, params or None)
    filters = _queue_filters(form)
    page = selectors.queue_for(request.user, filters, page_size=settings.QUEUE_PAGE_SIZE)
    params = params.copy()
    params.pop("cursor", None)
    queue_query = _queue_query(params.urlencode())
    rows = queue_rows(page, lead_suffix=_lead_suffix(queue_query))
    return {
        "form": form,
        "page": page,
        "rows": rows,
        "rows_html": queue_rows_html(rows),
        "filters": filters,
        "base_query": params.urlencode(),
        "queue_query": queue_query,
    }


def _queue_context(request: HttpRequest, params: QueryDict, **bulk_forms) -> dict:
    """The queue page for the filters in `params`: its rows, the total count, the bulk-change
    forms (`bulk_forms` carries bound ones with errors after a refused bulk change) and the
    user's saved views."""
    context = _queue_rows_context(request, params)
    page, queue_query = context["page"], context["queue_query"]
    # The whole queue on this page: counted already. Otherwise the page loads its count after it
    # (queue_count, htmx): a count may read thousands of rows where the page reads fifty.
    whole_queue = not context["filters"].cursor and page.next_cursor is None
    return {
        **context,
        "count": selectors.QueueCount(len(page.leads)) if whole_queue else None,
        "bulk_selection_form": bulk_forms.get("selection") or BulkSelectionForm(auto_id="bulk_%s"),
        "bulk_assign_form": (bulk_forms.get("assign") or AssignForm(auto_id="bulk_%s"))
        if request.user.is_manager
        else None,
        "bulk_status_form": bulk_forms.get("status") or StatusForm(auto_id="bulk_%s"),
        "bulk_follow_up_form": bulk_forms.get("follow_up") or FollowUpForm(auto_id="bulk_%s"),
        # Open after a refused change (its errors), or on ?bulk=1 (a link straight to the form).
        "bulk_open": bool(bulk_forms) or request.GET.get("bulk") == "1",
        "saved_views": saved_views.saved_views_for(request.user),
        "saved_view_form": bulk_forms.get("saved_view") or SavedViewForm(initial={"queue": queue_query}),
    }


@login_required
@require_GET
def queue(request: HttpRequest) -> HttpResponse:
    if request.htmx and request.GET.get("cursor"):
        context = _queue_rows_context(request, request.GET)
        response = render(request, "leads/_queue_rows.html", context)
    else:
        context = _queue_context(request, request.GET)
        response = render(request, "leads/queue.html", context)
    # The template engine's Context and its dicts refer to each other, so whatever a rendered
    # context holds is freed only by the cyclic collector: a page's fifty leads (with their ranks
    # and owners) and rows were ~3/4 of the objects it found, and with them it paused a request
    # for 30-70 ms every ~40 pages. Released here, they are freed by reference counting.
    context["page"].leads.clear()
    context["rows"].clear()
    return response


@login_required
@require_GET
def queue_count(request: HttpRequest) -> HttpResponse:
    """How many leads the queue's filters match (the queue page loads it after its rows)."""
    filters = _queue_filters(_queue_filter_form(request, request.GET))
    count = selectors.queue_count_for(request.user, filters, exact_up_to=settings.QUEUE_COUNT_EXACT_UP_TO)
    return render(request, "leads/_queue_count.html", {"count": count, "oob": True})


_BULK_FORMS = {
    bulk_changes.ASSIGN: AssignForm,
    bulk_changes.STATUS: StatusForm,
    bulk_changes.FOLLOW_UP: FollowUpForm,
}


def _bulk_refused(request: HttpRequest, queue_query: str, forms: dict) -> HttpResponse:
    """The queue again, the bulk forms bound with their errors beside the fields; nothing changed."""
    context = _queue_context(request, QueryDict(queue_query), **forms)
    return render(request, "leads/queue.html", context, status=400)


def _bulk_what_happens(action: str, data: dict, count: selectors.QueueCount) -> tuple[str, str]:
    """(the confirmation page's sentence, its button) for a bulk change of `count` leads."""
    how_many = count.label
    if action == bulk_changes.ASSIGN:
        to = data["owner"] or "the unassigned pool"
        return f"Assigns {how_many} to {to}.", f"Assign {how_many}"
    if action == bulk_changes.STATUS:
        label = Lead.Status(data["status"]).label
        reason = f" (reason: {data['lost_reason']})" if data["status"] == Lead.Status.LOST else ""
        return f"Sets {how_many} to {label}{reason}.", f"Change {how_many}"
    due = timezone.localtime(data["due_at"]).strftime("%Y-%m-%d %H:%M")
    return f"Schedules a follow-up due {due} on each of {how_many}.", f"Schedule on {how_many}"


@login_required
@require_POST
def queue_bulk(request: HttpRequest) -> HttpResponse:
    """A bulk change from the queue: the ticked rows, or all leads matching the queue's filters
    (above QUEUE_BULK_CONFIRM_OVER leads, after a confirmation page saying how many change)."""
    action = request.POST.get("action", "")
    if action not in _BULK_FORMS:
        return HttpResponse("Choose a bulk action: assign, status or follow_up.", status=400, content_type="text/plain")
    if action == bulk_changes.ASSIGN and not request.user.is_manager:
        raise PermissionDenied("Only managers assign leads.")
    selection = BulkSelectionForm(request.POST, auto_id="bulk_%s")
    action_form = _BULK_FORMS[action](request.POST, auto_id="bulk_%s")
    queue_query = _queue_query(request.POST.get("queue", ""))
    forms = {"selection": selection, action: action_form}
    if not (selection.is_valid() and action_form.is_valid()):
        return _bulk_refused(request, queue_query, forms)
    data = action_form.cleaned_data
    matching = None
    lead_ids = None
    if selection.cleaned_data["scope"] == BulkSelectionForm.MATCHING:
        filter_form = _queue_filter_form(request, QueryDict(queue_query))
        filters = selectors.QueueFilters(**filter_form.cleaned_data) if filter_form.is_valid() else None
        if filters is None:
            selection.add_error("scope", "The queue's filters are not valid; filter the queue again.")
            return _bulk_refused(request, queue_query, forms)
        matching = selectors.queue_leads_matching(request.user, filters)
        if request.POST.get("confirmed") != "1":
            count = selectors.queue_count_for(request.user, filters, exact_up_to=settings.QUEUE_COUNT_EXACT_UP_TO)
            if count.value > settings.QUEUE_BULK_MAX:
                selection.add_error(
                    "scope",
                    f"{count.label} match; change at most {settings.QUEUE_BULK_MAX:,} at once: narrow the filter.",
                )
                return _bulk_refused(request, queue_query, forms)
            if count.value > settings.QUEUE_BULK_CONFIRM_OVER:
                sentence, button = _bulk_what_happens(action, data, count)
                fields = {
                    k: v for k, v in request.POST.items() if k not in ("csrfmiddlewaretoken", "lead", "confirmed")
                }
                return confirm_page(
                    request,
                    title=f"Change {count.label}?",
                    what_happens=[
                        sentence,
                        "Each lead's timeline records the change; the audit trail records who did it.",
                    ],
                    submit_label=button,
                    cancel_url=_queue_url(queue_query),
                    fields=fields,
                    danger=action == bulk_changes.STATUS and data["status"] == Lead.Status.LOST,
                )
    else:
        lead_ids = selection.cleaned_data["lead"]
    try:
        change = bulk_changes.leads_bulk_update(
            user=request.user,
            action=action,
            max_leads=settings.QUEUE_BULK_MAX,
            lead_ids=lead_ids,
            matching=matching,
            owner=data.get("owner"),
            status=data.get("status", ""),
            reason=data.get("lost_reason", ""),
            due_at=data.get("due_at"),
            note=data.get("note", ""),
        )
    except ValidationError as exc:
        for field, errors in exc.message_dict.items():
            target = selection if field in selection.fields else action_form
            target.add_error(field if field in target.fields else None, errors)
        return _bulk_refused(request, queue_query, forms)
    noun = "lead" if change.changed == 1 else "leads"
    message = f"{change.changed:,} {noun} changed."
    if change.unchanged:
        message += f" {change.unchanged:,} already were so."
    messages.success(request, message)
    return redirect(_queue_url(queue_query))


@login_required
@require_POST
def saved_view_create(request: HttpRequest) -> HttpResponse:
    form = SavedViewForm(request.POST)
    queue_query = _queue_query(request.POST.get("queue", ""))
    if form.is_valid():
        try:
            view = saved_views.saved_view_create(user=request.user, name=form.cleaned_data["name"], query=queue_query)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"Saved the view “{view.name}”.")
            return redirect(_queue_url(queue_query))
    return render(
        request, "leads/queue.html", _queue_context(request, QueryDict(queue_query), saved_view=form), status=400
    )


@login_required
@require_POST
def saved_view_delete(request: HttpRequest, pk: int) -> HttpResponse:
    if not saved_views.saved_view_delete(user=request.user, view_id=pk):
        raise Http404("No such saved view.")
    messages.success(request, "Saved view deleted.")
    return redirect("leads:queue")


@login_required
@require_POST
def claim_next(request: HttpRequest) -> HttpResponse:
    lead = services.lead_claim_next(rep=request.user)
    if lead is None:
        messages.info(request, "The unassigned pool is empty.")
        return redirect("leads:queue")
    messages.success(request, f"{lead} is now in your queue.")
    return redirect("leads:detail", pk=lead.pk)


def _timeline_for_display(lead: Lead) -> list[Activity]:
    """The timeline with its labels formatted once in Python: the template's |date filter and
    get_kind_display cost ~60 µs a row, which made 200 rows a third of the lead page."""
    activities = selectors.lead_timeline(lead)
    tz = timezone.get_current_timezone()
    kinds = dict(Activity.Kind.choices)
    for activity in activities:
        activity.kind_label = kinds.get(activity.kind, activity.kind)
        activity.occurred_label = timezone.localtime(activity.occurred_at, tz).strftime("%Y-%m-%d %H:%M")
    return activities


def _log_initial(request: HttpRequest) -> dict:
    kind = request.GET.get("log", "")
    return {"kind": kind} if kind in Activity.LOGGABLE_KINDS else {}


def _detail_context(request: HttpRequest, lead: Lead, **forms) -> dict:
    can_work = request.user.is_manager or lead.owner_id == request.user.pk
    queue_query = _queue_query(request.GET.get("queue") or request.POST.get("queue") or "")
    context = {
        "lead": lead,
        "queue_query": queue_query,
        "queue_url": _queue_url(queue_query),
        "can_work": can_work,
        "activities": _timeline_for_display(lead),
        "follow_ups": selectors.lead_follow_ups(lead),
        # ?log=call (the lead's tel: / mailto: links): the log form opens with that kind chosen.
        "activity_form": forms.get("activity_form") or ActivityForm(initial=_log_initial(request)),
        "follow_up_form": forms.get("follow_up_form") or FollowUpForm(),
        "status_form": forms.get("status_form") or StatusForm(initial={"status": lead.status}),
        "assign_form": (forms.get("assign_form") or AssignForm(initial={"owner": lead.owner_id}))
        if request.user.is_manager
        else None,
    }
    return context


def _render_detail(request: HttpRequest, lead: Lead, *, status: int = 200, **forms) -> HttpResponse:
    context = _detail_context(request, lead, **forms)
    if request.htmx:
        # HTMX swaps only 2xx answers, so a form with errors is sent back as 200.
        return render(request, "leads/_detail_body.html", context)
    return render(request, "leads/detail.html", context, status=status)


def _after_action(request: HttpRequest, lead_pk: int, message: str) -> HttpResponse:
    messages.success(request, message)
    if request.htmx:
        lead = selectors.lead_get_for(request.user, lead_pk)
        return _render_detail(request, lead)
    return redirect(_lead_url(lead_pk, _queue_query(request.POST.get("queue", ""))))


def _next_lead_after(request: HttpRequest, closed: Lead, queue_query: str) -> HttpResponse:
    """After closing `closed`: open the top lead of the queue the rep came from (same filters),
    else take the next lead from the pool, else go back to the queue."""
    filters = _queue_filters(_queue_filter_form(request, QueryDict(queue_query)))
    page = selectors.queue_for(request.user, filters, page_size=2)
    lead = next((candidate for candidate in page.leads if candidate.pk != closed.pk), None)
    if lead is None:
        lead = services.lead_claim_next(rep=request.user)
        if lead is not None:
            messages.info(request, f"Your queue is done; {lead} came from the pool.")
    if lead is None:
        messages.info(request, "Your queue and the unassigned pool are empty.")
        url = _queue_url(queue_query)
    else:
        url = _lead_url(lead.pk, queue_query)
    if request.htmx:
        return HttpResponseClientRedirect(url)
    return redirect(url)


@login_required
@require_GET
def lead_detail(request: HttpRequest, pk: int) -> HttpResponse:
    lead = selectors.lead_get_for(request.user, pk)
    return _render_detail(request, lead)


@login_required
@require_POST
def lead_claim(request: HttpRequest, pk: int) -> HttpResponse:
    lead = selectors.lead_get_for(request.user, pk)
    if services.lead_claim(lead=lead, rep=request.user):
        return _after_action(request, pk, "The lead is now yours.")
    messages.error(request, "Someone else claimed this lead first.")
    return redirect("leads:queue")


def _form_action(request: HttpRequest, pk: int, form_class, form_name: str, perform, *, then=None) -> HttpResponse:
    """Validate `form_class` from the POST for a lead the user may change, then run
    `perform(lead, cleaned_data)`, which returns the success message. Invalid input, or a
    service's ValidationError, re-renders the lead with the form's errors and changes nothing.
    `then(lead)`, when given, answers after a success instead of the re-rendered lead."""
    lead = selectors.lead_get_for(request.user, pk, for_update=True)
    form = form_class(request.POST)
    if form.is_valid():
        try:
            message = perform(lead, form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            if then is not None:
                messages.success(request, message)
                return then(lead)
            return _after_action(request, pk, message)
    return _render_detail(request, lead, status=400, **{form_name: form})


@login_required
@require_POST
def activity_create(request: HttpRequest, pk: int) -> HttpResponse:
    def perform(lead: Lead, data: dict) -> str:
        activity = services.activity_log(lead=lead, user=request.user, **data)
        return f"{activity.get_kind_display()} logged."

    return _form_action(request, pk, ActivityForm, "activity_form", perform)


@login_required
@require_POST
def follow_up_create(request: HttpRequest, pk: int) -> HttpResponse:
    def perform(lead: Lead, data: dict) -> str:
        services.follow_up_schedule(lead=lead, by=request.user, **data)
        return "Follow-up scheduled."

    return _form_action(request, pk, FollowUpForm, "follow_up_form", perform)


@login_required
@require_POST
def follow_up_done(request: HttpRequest, pk: int, follow_up_pk: int) -> HttpResponse:
    lead = selectors.lead_get_for(request.user, pk, for_update=True)
    follow_up = get_object_or_404(FollowUp, pk=follow_up_pk, lead=lead)
    services.follow_up_complete(follow_up=follow_up, by=request.user)
    return _after_action(request, pk, "Follow-up done.")


@login_required
@require_POST
def status_change(request: HttpRequest, pk: int) -> HttpResponse:
    """Change the status; with `then=next` (the "Close and take next lead" button) the status
    must close the lead, and the next lead opens."""
    take_next = request.POST.get("then") == "next"

    def perform(lead: Lead, data: dict) -> str:
        if take_next and data["status"] not in Lead.CLOSED_STATUSES:
            raise ValidationError({"status": "To close a lead, choose Converted or Lost."})
        services.lead_status_change(
            lead=lead, status=data["status"], user=request.user, reason=data["lost_reason"], value=data["value"]
        )
        return f"{lead} is now {Lead.Status(data['status']).label}."

    def take_next_lead(lead: Lead) -> HttpResponse:
        return _next_lead_after(request, lead, _queue_query(request.POST.get("queue", "")))

    return _form_action(request, pk, StatusForm, "status_form", perform, then=take_next_lead if take_next else None)


@login_required
@require_POST
def assign(request: HttpRequest, pk: int) -> HttpResponse:
    if not request.user.is_manager:
        raise PermissionDenied("Only managers assign leads.")

    def perform(lead: Lead, data: dict) -> str:
        services.lead_assign(lead=lead, rep=data["owner"], by=request.user)
        return "Lead assigned."

    return _form_action(request, pk, AssignForm, "assign_form", perform)
