"""Who may do what through the API.

Visibility is decided by the queryset (leads.selectors.leads_visible_to): a lead a user may
not see is a 404, never a 403, so ids of other reps' leads leak nothing. The classes here
decide what a user may do with a lead they can see.
"""

import logging

from rest_framework import permissions, throttling

logger = logging.getLogger(__name__)


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


class _FailOpenMixin:
    """Throttling keeps its counters in the cache (Redis in production). When the cache is
    down the API keeps serving instead of answering 500: a missed throttle beats an outage."""

    def allow_request(self, request, view):
        try:
            return super().allow_request(request, view)
        except Exception:  # the cache backend's connection errors vary by client library
            logger.warning("API throttle skipped: cache unavailable", exc_info=True)
            return True


class UserThrottle(_FailOpenMixin, throttling.UserRateThrottle):
    pass


class AnonThrottle(_FailOpenMixin, throttling.AnonRateThrottle):
    pass


class BulkThrottle(_FailOpenMixin, throttling.UserRateThrottle):
    """A stricter per-user rate for bulk writes (up to 1,000 leads a call)."""

    scope = "bulk"
