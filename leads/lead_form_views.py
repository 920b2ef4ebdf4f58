"""Create and edit a lead (/leads/new/, /leads/<id>/edit/), with possible duplicates shown
before saving and, for managers, a merge into the existing lead (services.leads_merge)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from leads import selectors, services
from leads.forms import LeadForm
from leads.matching import leads_possible_duplicates
from leads.models import Lead
from leads.permissions import can_see_lead

_FIELDS = LeadForm.TEXT_FIELDS


def _duplicates_for(request: HttpRequest, data: dict, exclude_pk: int | None) -> list[dict]:
    """Possible duplicates as the user may see them: a link to those they can open, and for
    the others only that one exists (owned by another rep)."""
    found = leads_possible_duplicates(email=data.get("email", ""), phone=data.get("phone", ""), exclude_pk=exclude_pk)
    return [{"lead": lead, "visible": can_see_lead(request.user, lead)} for lead in found]


def _render(request: HttpRequest, form: LeadForm, lead: Lead | None, duplicates=(), status: int = 200):
    return render(
        request,
        "leads/lead_form.html",
        {"form": form, "lead": lead, "duplicates": duplicates},
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
def lead_new(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        initial = {"owner": request.user.pk} if request.user.is_manager else {}
        return _render(request, LeadForm(user=request.user, initial=initial), None)
    form = LeadForm(request.POST, user=request.user)
    if not form.is_valid():
        return _render(request, form, None, status=400)
    data = form.cleaned_data
    duplicates = _duplicates_for(request, data, None)
    merge_into = request.POST.get("merge_into")
    if merge_into:
        return _create_and_merge(request, form, merge_into)
    if duplicates and not data["confirm_duplicate"]:
        form.data = form.data.copy()
        form.data["confirm_duplicate"] = "on"
        return _render(request, form, None, duplicates)
    owner = data["owner"] if request.user.is_manager else request.user
    try:
        lead = services.lead_create(owner=owner, **{name: data[name] for name in _FIELDS})
    except ValidationError as exc:
        form.add_error(None, exc)
        return _render(request, form, None, status=400)
    messages.success(request, f"{lead} created.")
    return redirect("leads:detail", pk=lead.pk)


def _create_and_merge(request: HttpRequest, form: LeadForm, merge_into: str) -> HttpResponse:
    """A manager chose to merge what they typed into an existing lead: blank fields of the
    existing lead are filled from it (leads_merge with the existing lead surviving)."""
    if not request.user.is_manager:
        raise PermissionDenied("Only managers merge leads.")
    survivor = selectors.lead_get_for(request.user, int(merge_into) if merge_into.isdigit() else 0)
    data = form.cleaned_data
    with transaction.atomic():
        new = services.lead_create(owner=None, rescore=False, **{name: data[name] for name in _FIELDS})
        survivor = services.leads_merge(survivor=survivor, duplicate=new)
    messages.success(request, f"Merged into {survivor}.")
    return redirect("leads:detail", pk=survivor.pk)


@login_required
@require_http_methods(["GET", "POST"])
def lead_edit(request: HttpRequest, pk: int) -> HttpResponse:
    lead = selectors.lead_get_for(request.user, pk, for_update=True)
    if request.method == "GET":
        initial = {name: getattr(lead, name) for name in _FIELDS} | {"owner": lead.owner_id}
        return _render(request, LeadForm(user=request.user, initial=initial), lead)
    form = LeadForm(request.POST, user=request.user)
    if not form.is_valid():
        return _render(request, form, lead, status=400)
    data = form.cleaned_data
    changed_contact = data["email"] != lead.email or data["phone"] != lead.phone
    duplicates = _duplicates_for(request, data, lead.pk) if changed_contact else []
    if duplicates and not data["confirm_duplicate"]:
        form.data = form.data.copy()
        form.data["confirm_duplicate"] = "on"
        return _render(request, form, lead, duplicates)
    try:
        services.lead_update(lead=lead, **{name: data[name] for name in _FIELDS})
    except ValidationError as exc:
        form.add_error(None, exc)
        return _render(request, form, lead, status=400)
    if request.user.is_manager and data.get("owner") != lead.owner:
        services.lead_assign(lead=lead, rep=data.get("owner"), by=request.user)
    messages.success(request, "Lead saved.")
    return redirect("leads:detail", pk=lead.pk)


@login_required
@require_POST
def lead_merge(request: HttpRequest, pk: int) -> HttpResponse:
    """Managers: fold the duplicate `duplicate` (POST) into lead `pk`."""
    if not request.user.is_manager:
        raise PermissionDenied("Only managers merge leads.")
    survivor = selectors.lead_get_for(request.user, pk, for_update=True)
    raw = request.POST.get("duplicate", "")
    duplicate = selectors.leads_workable_by(request.user).filter(pk=int(raw) if raw.isdigit() else 0).first()
    if duplicate is None:
        messages.error(request, "Choose a lead to merge into this one.")
        return redirect("leads:edit", pk=pk)
    try:
        services.leads_merge(survivor=survivor, duplicate=duplicate)
    except ValidationError as exc:
        messages.error(request, "; ".join(exc.messages))
        return redirect("leads:edit", pk=pk)
    messages.success(request, f"Merged lead #{raw} into this one.")
    return redirect("leads:detail", pk=pk)
