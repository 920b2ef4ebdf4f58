from datetime import date

from django import forms
from django.utils import timezone

from leads.models import User
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
