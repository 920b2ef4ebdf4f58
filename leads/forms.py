from django import forms
from django.utils import timezone

from leads.models import Activity, FollowUp, Lead, LostReason, Notification, User
from leads.text import clean_text, text_problem


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
        if problem := FollowUp.due_at_problem(value):
            raise forms.ValidationError(problem)
        return value


# The "Other…" entry of the lost-reason pick list: the reason is the text typed beside it.
OTHER_REASON = "__other__"


def lost_reason_choices() -> list[tuple[str, str]]:
    labels = LostReason.objects.filter(active=True).values_list("label", flat=True)
    return [("", "Reason, when lost"), *[(label, label) for label in labels], (OTHER_REASON, "Other…")]


class StatusForm(forms.Form):
    """A status change; closing as lost takes a reason from the admins' pick list, or "Other"
    with the reason in words (lost_reason). cleaned_data["lost_reason"] is the reason to store."""

    status = forms.ChoiceField(label="Status", choices=Lead.Status.choices)
    lost_reason_choice = forms.ChoiceField(required=False, label="Reason (when lost)")
    lost_reason = CleanCharField(
        required=False,
        max_length=255,
        label="Other reason",
        widget=forms.TextInput(attrs={"placeholder": "Other reason, in words"}),
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

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["lost_reason_choice"].choices = lost_reason_choices()

    def clean(self):
        data = super().clean()
        choice = data.get("lost_reason_choice") or ""
        if choice and choice != OTHER_REASON:
            data["lost_reason"] = choice
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


# --- the sales team's day -------------------------------------------------------------------


class LeadForm(forms.Form):
    """Create or edit a lead. Managers choose the owner; a rep's new lead is theirs."""

    name = forms.CharField(max_length=255, required=False)
    email = forms.EmailField(max_length=254, required=False)
    phone = forms.CharField(max_length=64, required=False)
    company = forms.CharField(max_length=255, required=False)
    source = forms.CharField(max_length=128, required=False)
    origin = forms.CharField(max_length=128, required=False)
    campaign = forms.CharField(max_length=128, required=False, help_text="e.g. the utm_campaign")
    owner = forms.ModelChoiceField(queryset=User.objects.none(), required=False, empty_label="Unassigned pool")
    # Set by the "save anyway" button once the user has seen the possible duplicates.
    confirm_duplicate = forms.BooleanField(required=False, widget=forms.HiddenInput)

    TEXT_FIELDS = ("name", "email", "phone", "company", "source", "origin", "campaign")

    def __init__(self, *args, user: User, **kwargs):
        super().__init__(*args, **kwargs)
        if user.is_manager:
            self.fields["owner"].queryset = User.objects.filter(is_active=True).order_by("username")
        else:
            del self.fields["owner"]

    def clean(self):
        data = super().clean()
        for name in self.TEXT_FIELDS:
            value = self.data.get(name, "") or ""
            if problem := text_problem(value):
                self.add_error(name, problem)
        if not any((data.get(name) or "").strip() for name in ("name", "email", "phone", "company")):
            raise forms.ValidationError("Give the lead at least a name, an email, a phone or a company.")
        return data


class NotificationPreferencesForm(forms.Form):
    """Three checkboxes per kind: in the app, by email, and (follow-ups) a daily digest."""

    def __init__(self, *args, preferences: dict, **kwargs):
        super().__init__(*args, **kwargs)
        for kind, label in Notification.Kind.choices:
            pref = preferences[kind]
            # The table's row and column headings name each box for the eye; aria-label, for a screen reader.
            self.fields[f"{kind}__in_app"] = forms.BooleanField(
                required=False, initial=pref.in_app, label=label,
                widget=forms.CheckboxInput(attrs={"aria-label": f"{label}: in the app"}),
            )  # fmt: skip
            self.fields[f"{kind}__email"] = forms.BooleanField(
                required=False, initial=pref.email, label="Email",
                widget=forms.CheckboxInput(attrs={"aria-label": f"{label}: by email"}),
            )  # fmt: skip
            if kind == Notification.Kind.FOLLOW_UP_DUE:
                self.fields[f"{kind}__digest"] = forms.BooleanField(
                    required=False, initial=pref.digest, label="One daily digest"
                )

    def rows(self):
        for kind, label in Notification.Kind.choices:
            yield (
                label,
                self[f"{kind}__in_app"],
                self[f"{kind}__email"],
                (self[f"{kind}__digest"] if f"{kind}__digest" in self.fields else None),
            )

    def choices(self) -> dict[str, dict[str, bool]]:
        data = self.cleaned_data
        return {
            kind: {
                "in_app": data[f"{kind}__in_app"],
                "email": data[f"{kind}__email"],
                "digest": data.get(f"{kind}__digest", False),
            }
            for kind in Notification.Kind.values
        }


class UserCreateForm(forms.Form):
    username = forms.CharField(max_length=150)
    email = forms.EmailField()
    first_name = forms.CharField(max_length=150, required=False)
    last_name = forms.CharField(max_length=150, required=False)
    role = forms.ChoiceField(choices=User.Role.choices, initial=User.Role.REP)
    capacity = forms.IntegerField(min_value=0, max_value=100_000, initial=50)
    invite = forms.BooleanField(required=False, initial=True, label="Email an invitation to set a password")

    def clean(self):
        data = super().clean()
        for name in ("username", "first_name", "last_name"):
            if problem := text_problem(self.data.get(name, "") or ""):
                self.add_error(name, problem)
        return data


class UserUpdateForm(forms.Form):
    email = forms.EmailField()
    first_name = forms.CharField(max_length=150, required=False)
    last_name = forms.CharField(max_length=150, required=False)
    role = forms.ChoiceField(choices=User.Role.choices)
    capacity = forms.IntegerField(min_value=0, max_value=100_000)

    def clean(self):
        data = super().clean()
        for name in ("first_name", "last_name"):
            if problem := text_problem(self.data.get(name, "") or ""):
                self.add_error(name, problem)
        return data


class UserDeactivateForm(forms.Form):
    reassign_to = forms.ModelChoiceField(
        queryset=User.objects.none(), required=False, empty_label="Return their open leads to the pool"
    )

    def __init__(self, *args, user: User, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["reassign_to"].queryset = (
            User.objects.filter(is_active=True).exclude(pk=user.pk).order_by("username")
        )


# --- the queue's bulk changes and saved views ------------------------------------------------


class BulkSelectionForm(forms.Form):
    """Which leads a bulk change acts on: the rows ticked (`lead`), or every lead matching the
    queue's filters (`queue`, the filter query string). The action's own fields are validated by
    the single-lead forms (AssignForm, StatusForm, FollowUpForm), so both doors share one rule."""

    SELECTED = "selected"
    MATCHING = "matching"

    scope = forms.ChoiceField(choices=[(SELECTED, "The leads ticked"), (MATCHING, "All leads matching this filter")])
    lead = forms.TypedMultipleChoiceField(required=False, coerce=int, choices=[])
    queue = forms.CharField(required=False, max_length=1000)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Any positive id is a valid choice here; which ones the user may change is the service's call.
        raw = self.data.getlist("lead") if hasattr(self.data, "getlist") else []
        self.fields["lead"].choices = [(v, v) for v in raw if v.isascii() and v.isdigit() and len(v) <= 18]

    def clean(self):
        data = super().clean()
        if data.get("scope") == self.SELECTED and not data.get("lead"):
            self.add_error("lead", "Tick at least one lead, or choose all leads matching this filter.")
        return data


class SavedViewForm(forms.Form):
    name = CleanCharField(max_length=80, label="Name this view")
    queue = forms.CharField(required=False, max_length=1000)
