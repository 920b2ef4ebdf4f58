from django import forms

from leads.models import User
from leads.reports.selectors import ReportFilters


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
