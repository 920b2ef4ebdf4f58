"""Pages of the sales team's day: a rep's own page (/me/), the users page for admins
(/users/), and the routing rules overview with "route the pool now" (/routing/)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from leads import accounts, rep_day, routing, selectors
from leads.forms import UserCreateForm, UserDeactivateForm, UserUpdateForm
from leads.models import RoutingRule, User
from leads.permissions import admin_required


@login_required
@require_GET
def me(request: HttpRequest) -> HttpResponse:
    """The signed-in user's own day and month; nobody can open another user's."""
    return render(request, "leads/me.html", {"day": rep_day.rep_day_for(request.user)})


@admin_required(message="Only admins manage users.")
@require_GET
def user_list(request: HttpRequest) -> HttpResponse:
    users = list(User.objects.order_by("-is_active", "username"))
    loads = selectors.open_leads_by_owner()
    for user in users:
        user.open_leads = loads.get(user.pk, 0)
    return render(request, "leads/users.html", {"users": users, "create_form": UserCreateForm()})


@admin_required(message="Only admins manage users.")
@require_POST
def user_create(request: HttpRequest) -> HttpResponse:
    form = UserCreateForm(request.POST)
    if form.is_valid():
        data = dict(form.cleaned_data)
        invite = data.pop("invite")
        try:
            user = accounts.user_create(by=request.user, **data)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            if invite:
                accounts.user_invite(user=user, request=request)
            messages.success(request, f"{user} created" + (" and invited by email." if invite else "."))
            return redirect("leads:user_edit", pk=user.pk)
    users = list(User.objects.order_by("-is_active", "username"))
    return render(request, "leads/users.html", {"users": users, "create_form": form}, status=400)


@admin_required(message="Only admins manage users.")
@require_http_methods(["GET", "POST"])
def user_edit(request: HttpRequest, pk: int) -> HttpResponse:
    user = get_object_or_404(User, pk=pk)
    initial = {name: getattr(user, name) for name in ("email", "first_name", "last_name", "role", "capacity")}
    form = UserUpdateForm(request.POST or None, initial=initial)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                accounts.user_update(by=request.user, user=user, **form.cleaned_data)
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                messages.success(request, f"{user} saved.")
                return redirect("leads:user_edit", pk=user.pk)
        status = 400
    context = {
        "subject": user,
        "form": form,
        "deactivate_form": UserDeactivateForm(user=user),
        "open_leads": selectors.open_leads_by_owner([user.pk]).get(user.pk, 0),
    }
    return render(request, "leads/user_edit.html", context, status=status)


@admin_required(message="Only admins manage users.")
@require_POST
def user_deactivate(request: HttpRequest, pk: int) -> HttpResponse:
    user = get_object_or_404(User, pk=pk)
    form = UserDeactivateForm(request.POST, user=user)
    if form.is_valid():
        try:
            moved = accounts.user_deactivate(by=request.user, user=user, reassign_to=form.cleaned_data["reassign_to"])
        except ValidationError as exc:
            messages.error(request, "; ".join(exc.messages))
        else:
            target = form.cleaned_data["reassign_to"] or "the pool"
            messages.success(request, f"{user} deactivated; {moved} open lead(s) moved to {target}.")
    else:
        messages.error(request, "Choose an active user to take the leads, or the pool.")
    return redirect("leads:user_edit", pk=pk)


@admin_required(message="Only admins manage users.")
@require_POST
def user_reactivate(request: HttpRequest, pk: int) -> HttpResponse:
    user = accounts.user_reactivate(by=request.user, user=get_object_or_404(User, pk=pk))
    messages.success(request, f"{user} is active again.")
    return redirect("leads:user_edit", pk=pk)


@admin_required(message="Only admins route leads.")
@require_http_methods(["GET", "POST"])
def routing_rules(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        routed = routing.leads_route()
        messages.success(request, f"{routed} lead(s) routed.")
        return redirect("leads:routing")
    rules = RoutingRule.objects.prefetch_related("reps")
    return render(request, "leads/routing.html", {"rules": rules})
