"""The notification pages: the list (/notifications/), the header badge htmx polls, marking
read (opening one marks it read and follows its link), and each user's preferences."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from leads import notifications
from leads.forms import NotificationPreferencesForm


@login_required
@require_GET
def notification_list(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "leads/notifications.html",
        {"notifications": notifications.notifications_for(request.user)},
    )


@login_required
@require_GET
def notification_badge(request: HttpRequest) -> HttpResponse:
    """The header's unread count, polled by htmx: one indexed COUNT."""
    return render(request, "_notifications_badge.html", {"unread_count": notifications.unread_count_for(request.user)})


@login_required
@require_POST
def notification_open(request: HttpRequest, pk: int) -> HttpResponse:
    """Mark one of the user's notifications read and go to what it is about."""
    notification = notifications.notification_read(user=request.user, notification_id=pk)
    if notification is None:
        raise Http404("No such notification.")
    url = notification.url
    if url and url_has_allowed_host_and_scheme(url, allowed_hosts={request.get_host()}):
        return redirect(url)
    return redirect("leads:notifications")


@login_required
@require_POST
def notification_read_all(request: HttpRequest) -> HttpResponse:
    count = notifications.notifications_read_all(user=request.user)
    messages.success(request, f"{count} notification(s) marked read.")
    return redirect("leads:notifications")


@login_required
@require_http_methods(["GET", "POST"])
def notification_preferences(request: HttpRequest) -> HttpResponse:
    preferences = notifications.preferences_for(request.user)
    form = NotificationPreferencesForm(request.POST or None, preferences=preferences)
    if request.method == "POST" and form.is_valid():
        notifications.preferences_set(user=request.user, choices=form.choices())
        messages.success(request, "Notification settings saved.")
        return redirect("leads:notification_preferences")
    return render(request, "leads/notification_preferences.html", {"form": form})
