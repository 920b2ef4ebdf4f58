from datetime import date

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from leads.channels import parse_month
from leads.models import User
from leads.money import parse_amount
from leads.reports.channels import ChannelFilters, default_filters
from leads.reports.selectors import ReportFilters

# Report dates must fall in a range any CRM's data can have: far-off dates are a typo, and the
# selectors' date arithmetic (date_to + 1 day) overflows at 9999-12-31.
EARLIEST_REPORT_DATE = date(1990, 1, 1)


def latest_report_date() -> date:
    """The end of next year."""
    return date(timezone.localdate().year + 1, 12, 31)


class ReportFilterForm(forms.Form):
    date_from = forms.DateField(required=False, label="Created from", widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, label="to", widget=forms.DateInput(attrs={"type": "date"}))
    source = forms.ChoiceField(required=False, choices=[("", "Any source")])
    origin = forms.ChoiceField(required=False, choices=[("", "Any origin")])
    owner = forms.ChoiceField(required=False, choices=[("", "Any owner")])

    def __init__(self, *args, sources: list[str], origins: list[str], owners: list[User], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["source"].choices = [("", "Any source"), *[(s, s) for s in sources]]
        self.fields["origin"].choices = [("", "Any origin"), *[(o, o) for o in origins]]
        self.fields["owner"].choices = [
            ("", "Any owner"),
            ("pool", "Unassigned"),
            *[(str(u.pk), u.get_full_name() or u.username) for u in owners],
        ]

    def _clean_report_date(self, name: str) -> date | None:
        value = self.cleaned_data.get(name)
        latest = latest_report_date()
        if value is not None and not EARLIEST_REPORT_DATE <= value <= latest:
            raise forms.ValidationError(f"Choose a date between {EARLIEST_REPORT_DATE:%Y-%m-%d} and {latest:%Y-%m-%d}.")
        return value

    def clean_date_from(self) -> date | None:
        return self._clean_report_date("date_from")

    def clean_date_to(self) -> date | None:
        return self._clean_report_date("date_to")

    def clean(self):
        data = super().clean()
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", "The end date is before the start date.")
        return data

    def report_filters(self) -> ReportFilters:
        """The filters a valid form asks for; an invalid form filters nothing."""
        if not self.is_valid():
            return ReportFilters()
        data = self.cleaned_data
        return ReportFilters(
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
            source=data.get("source") or "",
            origin=data.get("origin") or "",
            owner=data.get("owner") or "",
        )


class ChannelFilterForm(forms.Form):
    """The channels report's range (whole months), source and grouping."""

    # Months further apart than this are a typo, not a report (and would be a slow one).
    MAX_MONTHS = 120

    month_from = forms.CharField(required=False, label="From month", widget=forms.TextInput(attrs={"type": "month"}))
    month_to = forms.CharField(required=False, label="to month", widget=forms.TextInput(attrs={"type": "month"}))
    source = forms.ChoiceField(required=False, choices=[("", "Any source")])
    by = forms.ChoiceField(
        required=False, label="Channel", choices=[("source", "Per source"), ("campaign", "Per campaign")]
    )

    def __init__(self, *args, sources: list[str], today: date, **kwargs):
        super().__init__(*args, **kwargs)
        self.today = today
        self.fields["source"].choices = [("", "Any source"), *[(s, s) for s in sources]]

    def _month(self, name: str) -> date | None:
        text = self.cleaned_data.get(name) or ""
        if not text:
            return None
        try:
            month = parse_month(text)
        except ValidationError as exc:
            raise ValidationError(exc.messages[0]) from None
        if not 2000 <= month.year <= self.today.year + 5:
            raise ValidationError(f"Choose a month between 2000 and {self.today.year + 5}.")
        return month

    def clean_month_from(self):
        return self._month("month_from")

    def clean_month_to(self):
        return self._month("month_to")

    def clean(self):
        data = super().clean()
        start, end = data.get("month_from"), data.get("month_to")
        if start and end:
            if start > end:
                self.add_error("month_to", "The last month is before the first month.")
            elif (end.year - start.year) * 12 + end.month - start.month >= self.MAX_MONTHS:
                self.add_error("month_to", f"Choose at most {self.MAX_MONTHS} months.")
        return data

    def channel_filters(self) -> ChannelFilters:
        """The filters a valid form asks for; by default (or when invalid) the last six months."""
        default = default_filters(self.today)
        this_month, default_from = default.month_to, default.month_from
        if not self.is_valid():
            return default
        data = self.cleaned_data
        end = data.get("month_to") or this_month
        start = data.get("month_from") or min(default_from, end)
        return ChannelFilters(
            month_from=start, month_to=end, source=data.get("source") or "", by=data.get("by") or "source"
        )


class SpendForm(forms.Form):
    month = forms.CharField(label="Month", widget=forms.TextInput(attrs={"type": "month"}))
    source = forms.CharField(max_length=128)
    campaign = forms.CharField(max_length=128, required=False, help_text="Empty: the source as a whole")
    amount = forms.CharField(label="Amount", help_text='e.g. 1200 or "$1,200.00"')

    def clean_month(self):
        return parse_month(self.cleaned_data["month"])

    def clean_amount(self):
        return parse_amount(self.cleaned_data["amount"])


class SpendUploadForm(forms.Form):
    file = forms.FileField(help_text="CSV or XLSX with the columns month, source, campaign (optional) and amount")


class ChannelValueForm(forms.Form):
    source = forms.CharField(max_length=128)
    campaign = forms.CharField(max_length=128, required=False, help_text="Empty: every campaign of the source")
    value = forms.CharField(label="Value of a conversion", help_text='e.g. 450 or "$1,200.00"')

    def clean_value(self):
        return parse_amount(self.cleaned_data["value"])
