"""django-filter FilterSets for the API.

They run on a queryset already cut to what the user may see, so a filter can narrow but never
widen access: a rep asking for ?owner=<another rep> gets an empty list.
"""

from datetime import UTC

import django_filters
from django.core.validators import RegexValidator
from rest_framework.exceptions import ValidationError

from leads.models import Activity, FollowUp, Lead
from leads.selectors import lead_search_q


class UtcDateTimeFromToRangeFilter(django_filters.IsoDateTimeFromToRangeFilter):
    """ISO 8601 range (`<name>_after` / `<name>_before`), moved to UTC before it reaches SQL:
    PostgreSQL refuses offsets beyond +-15:59 that Python accepts (-18:05 would be a 500)."""

    def filter(self, qs, value):
        if value:
            value = slice(self._utc(value.start), self._utc(value.stop))
        return super().filter(qs, value)

    def _utc(self, moment):
        if moment is None:
            return None
        try:
            return moment.astimezone(UTC)
        except OverflowError:
            name = next((n for n, f in self.parent.filters.items() if f is self), self.field_name)
            raise ValidationError({name: ["Date out of range."]}) from None


OWNER_PATTERN = r"^(me|pool|[0-9]{1,18})$"

# Strict: a NullBooleanField would read "maybe" as "no filter" instead of rejecting it.
BOOLEAN_CHOICES = [("true", "true"), ("false", "false")]


class LeadFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(
        choices=Lead.Status.choices, help_text="One or more statuses (repeat the parameter)."
    )
    open = django_filters.ChoiceFilter(
        choices=BOOLEAN_CHOICES, method="filter_open", help_text="true: open statuses only; false: closed."
    )
    tier = django_filters.MultipleChoiceFilter(
        field_name="rank__tier", choices=Lead.Tier.choices, help_text="One or more tiers."
    )
    source = django_filters.CharFilter(max_length=128, help_text="Exact source.")
    origin = django_filters.CharFilter(max_length=128, help_text="Exact origin.")
    owner = django_filters.CharFilter(
        method="filter_owner",
        max_length=20,
        validators=[RegexValidator(OWNER_PATTERN, 'Use a user id, "me" or "pool".')],
        help_text='A user id, "me" or "pool" (unassigned).',
    )
    created = UtcDateTimeFromToRangeFilter(
        field_name="created_at", help_text="created_after / created_before, ISO 8601."
    )
    min_score = django_filters.NumberFilter(
        field_name="rank__priority",
        lookup_expr="gte",
        min_value=-1,
        max_value=100,
        help_text="Effective score at least.",
    )
    external_id = django_filters.CharFilter(max_length=255)
    search = django_filters.CharFilter(
        method="filter_search", max_length=100, help_text="Case-insensitive match on name, email or company."
    )

    class Meta:
        model = Lead
        fields = ["status", "source", "origin", "owner", "external_id"]

    def filter_open(self, queryset, name, value):
        statuses = Lead.OPEN_STATUSES if value == "true" else Lead.CLOSED_STATUSES
        return queryset.filter(status__in=statuses)

    def filter_owner(self, queryset, name, value):
        if value == "pool":
            return queryset.filter(owner__isnull=True)
        if value == "me":
            return queryset.filter(owner=self.request.user)
        return queryset.filter(owner_id=int(value))

    def filter_search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(lead_search_q(value))


class ActivityFilter(django_filters.FilterSet):
    kind = django_filters.MultipleChoiceFilter(choices=Activity.Kind.choices)
    occurred = UtcDateTimeFromToRangeFilter(field_name="occurred_at")

    class Meta:
        model = Activity
        fields = ["kind"]


class FollowUpFilter(django_filters.FilterSet):
    open = django_filters.ChoiceFilter(choices=BOOLEAN_CHOICES, method="filter_open", help_text="true: not done yet.")

    class Meta:
        model = FollowUp
        fields = ["open"]

    def filter_open(self, queryset, name, value):
        return queryset.filter(done_at__isnull=value == "true")


class FollowUpListFilter(FollowUpFilter):
    due = UtcDateTimeFromToRangeFilter(field_name="due_at", help_text="due_after / due_before, ISO 8601.")
    mine = django_filters.ChoiceFilter(
        choices=BOOLEAN_CHOICES, method="filter_mine", help_text="true: only follow-ups assigned to me."
    )

    class Meta:
        model = FollowUp
        fields = ["open"]

    def filter_mine(self, queryset, name, value):
        if value == "true":
            return queryset.filter(assigned_to=self.request.user)
        return queryset.exclude(assigned_to=self.request.user)
