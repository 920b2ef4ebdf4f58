from django import forms
from django.utils import timezone

from leads.models import Activity, Lead, User
from leads.text import clean_text


class CleanCharField(forms.CharField):
    """Text with control characters and bidi overrides removed (leads.text.clean_text)."""

    def clean(self, value):
        value = super().clean(value)  # the validators first: a NUL byte is still refused
        return clean_text(value) if isinstance(value, str) else value


# The queue's filters, in the order a link back to the queue lists them.
QUEUE_FILTER_NAMES = ("q", "tier", "status", "source", "due", "owner")


class QueueFilterForm(forms.Form):
    q = forms.CharField(
        required=False,
        max_length=100,
        label="Search",
        widget=forms.TextInput(attrs={"placeholder": "Search name, email, company", "type": "search"}),
    )
    tier = forms.ChoiceField(required=False, label="Tier", choices=[("", "Any tier"), *Lead.Tier.choices])
    status = forms.ChoiceField(required=False, label="Status", choices=[("", "Open"), *Lead.Status.choices])
    source = forms.ChoiceField(required=False, label="Source", choices=[("", "Any source")])
    due = forms.ChoiceField(
        required=False,
        label="Follow-up",
        choices=[("", "Any follow-up"), ("today", "Due today"), ("overdue", "Overdue")],
    )
    owner = forms.ChoiceField(required=False, label="Owner", choices=[("", "My leads"), ("pool", "Unassigned pool")])
    cursor = forms.CharField(required=False, max_length=64, widget=forms.HiddenInput)

    def __init__(self, *args, user: User, sources: list[str], reps: list[User] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["source"].choices = [("", "Any source"), *[(s, s) for s in sources]]
        if user.is_manager:
            self.fields["owner"].choices = [
                ("", "Everyone"),
                ("pool", "Unassigned pool"),
                *[(str(r.pk), str(r)) for r in reps or []],
            ]


class ActivityForm(forms.Form):
    kind = forms.ChoiceField(label="Kind", choices=[(k, Activity.Kind(k).label) for k in Activity.LOGGABLE_KINDS])
    outcome = CleanCharField(
        required=False,
        max_length=128,
        label="Outcome",
        widget=forms.TextInput(attrs={"placeholder": "e.g. connected"}),
    )
    notes = CleanCharField(required=False, widget=forms.Textarea(attrs={"rows": 2}), max_length=5000)
    occurred_at = forms.DateTimeField(
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text="Leave empty for now.",
    )

    def clean_occurred_at(self):
        value = self.cleaned_data.get("occurred_at")
        if value and value > timezone.now() + timezone.timedelta(minutes=5):
            raise forms.ValidationError("An activity cannot happen in the future.")
        return value


class FollowUpForm(forms.Form):
    due_at = forms.DateTimeField(
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"), label="Due"
    )
    note = CleanCharField(
        required=False, max_length=500, label="Note", widget=forms.TextInput(attrs={"placeholder": "What to do"})
    )

    def clean_due_at(self):
        value = self.cleaned_data["due_at"]
        if value <= timezone.now():
            local = timezone.localtime(value).strftime("%Y-%m-%d %H:%M")
            raise forms.ValidationError(f"A follow-up must be due in the future; {local} has passed.")
        return value


class StatusForm(forms.Form):
    status = forms.ChoiceField(label="Status", choices=Lead.Status.choices)
    lost_reason = CleanCharField(
        required=False,
        max_length=255,
        label="Reason (when lost)",
        widget=forms.TextInput(attrs={"placeholder": "e.g. chose a competitor"}),
    )
    value = forms.DecimalField(
        required=False,
        min_value=0,
        max_digits=14,
        decimal_places=2,
        label="Value (when converted)",
        help_text="Empty: the channel's default value",
        widget=forms.NumberInput(attrs={"placeholder": "Value, when converted", "step": "0.01"}),
    )

    def clean(self):
        data = super().clean()
        if problem := Lead.lost_reason_problem(data.get("status", ""), data.get("lost_reason")):
            self.add_error("lost_reason", problem)
        return data


class AssignForm(forms.Form):
    """Leads go to active sales reps (or back to the pool), listed by full name."""

    owner = forms.ModelChoiceField(
        queryset=User.objects.none(), required=False, empty_label="Unassigned pool", label="Assign to"
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = User.objects.filter(is_active=True, role=User.Role.REP).order_by(
            "first_name", "last_name", "username"
        )
