"""Who may do what: the role checks of the pages (decorators) and of the API (DRF permissions).

Visibility is decided by the queryset (leads.selectors.leads_visible_to): a lead a user may
not see is a 404, never a 403, so ids of other reps' leads leak nothing. The classes here
decide what a user may do with a lead they can see.
"""

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from rest_framework import permissions, throttling

from leadcrm.throttling import FailOpenMixin


def _role_required(view, has_role: Callable, message: str):
    """Anonymous users go to the login page; a signed-in user without the role gets 403 `message`."""
    if view is None:
        return lambda view: _role_required(view, has_role, message)

    @wraps(view)
    @login_required
    def wrapped(request, *args, **kwargs):
        if not has_role(request.user):
            raise PermissionDenied(message)
        return view(request, *args, **kwargs)

    return wrapped


def manager_required(view=None, *, message: str = "Only managers can do this."):
    """Pages for managers and admins: `@manager_required` or `@manager_required(message=...)`."""
    return _role_required(view, lambda user: user.is_manager, message)


def admin_required(view=None, *, message: str = "Only admins can do this."):
    """Pages for CRM admins: `@admin_required` or `@admin_required(message=...)`."""
    return _role_required(view, lambda user: user.is_crm_admin, message)


def can_see_lead(user, lead) -> bool:
    """Managers see every lead; a rep their own and the pool (mirrors selectors.leads_visible_to)."""
    return bool(user.is_authenticated and (user.is_manager or lead.owner_id in (None, user.pk)))


def can_work_lead(user, lead) -> bool:
    """Managers work every lead; a rep only their own (mirrors selectors.leads_workable_by)."""
    return bool(user.is_authenticated and (user.is_manager or lead.owner_id == user.pk))


class CanWorkLead(permissions.BasePermission):
    """Reads for anyone who sees the lead; writes for its owner or a manager."""

    message = "Only the lead's owner or a manager can change it; claim it from the pool first."

    def has_object_permission(self, request, view, obj):
        if request.method in permissions.SAFE_METHODS:
            return True
        return can_work_lead(request.user, obj)


class IsManager(permissions.BasePermission):
    message = "Only managers can do this."

    def has_permission(self, request, view):
        return bool(request.user and request.user.is_authenticated and request.user.is_manager)


class IsCrmAdmin(permissions.BasePermission):
    message = "Only admins can do this."

    def has_permission(self, request, view):
        return bool(request.user and request.user.is_authenticated and request.user.is_crm_admin)


class UserThrottle(FailOpenMixin, throttling.UserRateThrottle):
    pass


class AnonThrottle(FailOpenMixin, throttling.AnonRateThrottle):
    pass


class BulkThrottle(FailOpenMixin, throttling.UserRateThrottle):
    """A stricter per-user rate for bulk writes (up to 1,000 leads a call)."""

    scope = "bulk"
