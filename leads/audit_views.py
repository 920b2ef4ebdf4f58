"""The audit trail page (/audit/), for admins: newest first, filtered, paginated. Read-only."""

from datetime import datetime, time

from django import forms
from django.conf import settings
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from leads import audit
from leads.permissions import admin_required


class AuditFilterForm(forms.Form):
    action = forms.ChoiceField(required=False)
    actor = forms.CharField(required=False, max_length=150, label="User")
    target_type = forms.CharField(required=False, max_length=64, label="Target type")
    target_id = forms.CharField(required=False, max_length=64, label="Target id")
    since = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args, actions: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["action"].choices = [("", "any"), *[(a, a) for a in actions]]

    def filters(self) -> audit.AuditFilters:
        data = self.cleaned_data
        tz = timezone.get_current_timezone()
        since = datetime.combine(data["since"], time.min, tz) if data.get("since") else None
        until = datetime.combine(data["until"], time.max, tz) if data.get("until") else None
        return audit.AuditFilters(
            action=data.get("action") or "",
            actor=(data.get("actor") or "").strip(),
            target_type=(data.get("target_type") or "").strip(),
            target_id=(data.get("target_id") or "").strip(),
            since=since,
            until=until,
        )


@admin_required(message="The audit trail is for admins.")
@require_GET
def audit_list(request: HttpRequest) -> HttpResponse:
    form = AuditFilterForm(request.GET or None, actions=audit.audit_actions_list())
    filters = form.filters() if form.is_valid() else audit.AuditFilters()
    paginator = Paginator(audit.audit_entries_for(filters), settings.AUDIT_PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    params = request.GET.copy()
    params.pop("page", None)
    return render(request, "leads/audit.html", {"form": form, "page": page, "query": params.urlencode()})
