"""Pages for the data-protection duties on one lead (admins): download the person's data, erase it.

Thin: each calls one service in leads.privacy, which checks the role again and writes the audit entry.
"""

import json

from django.contrib import messages
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_GET, require_POST

from leads import privacy
from leads.models import Lead
from leads.permissions import admin_required

_ADMINS_ONLY = "Only admins can export or erase a person's data."


@admin_required(message=_ADMINS_ONLY)
@require_GET
def person_data_download(request: HttpRequest, pk: int) -> HttpResponse:
    lead = get_object_or_404(Lead, pk=pk)
    data = privacy.person_data_export(lead=lead, by=request.user)
    response = HttpResponse(json.dumps(data, cls=DjangoJSONEncoder, indent=2), content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="lead-{lead.pk}-personal-data.json"'
    return response


@admin_required(message=_ADMINS_ONLY)
@require_POST
def person_erase(request: HttpRequest, pk: int) -> HttpResponse:
    lead = get_object_or_404(Lead, pk=pk)
    if request.POST.get("confirm") != "erase":
        messages.error(request, 'Type "erase" to confirm: erasing a person cannot be undone.')
        return redirect("leads:detail", pk=pk)
    privacy.person_erase(lead=lead, by=request.user)
    messages.success(request, f"Lead #{pk}: the person's data is erased; the outcome and activity history stay.")
    return redirect("leads:detail", pk=pk)
