"""Manager reports. Thin: check the role, read the filters, call one page builder, render
the page or one of its tables as CSV (`?format=csv&table=<name>`).

manager_required, respond and refresh_requested are shared with the model pages that scoring
serves under /reports/ (scoring/report_views.py)."""

import tempfile
from pathlib import Path

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from leads import audit, permissions
from leads import channels as channel_services
from leads.models import ChannelValue, Spend
from leads.reports import pages, selectors
from leads.reports.forms import ChannelFilterForm, ChannelValueForm, ReportFilterForm, SpendForm, SpendUploadForm
from leads.reports.tables import csv_response
from leads.selectors import reps_list, sources_list


def manager_required(view):
    """Report pages: GET only, managers and admins (anonymous users log in, reps get 403)."""
    return require_GET(permissions.manager_required(view, message="Reports are for managers."))


def respond(request: HttpRequest, template: str, context: dict, *, report: str, status: int = 200) -> HttpResponse:
    """The page, or with ?format=csv&table=<name> that table of context["tables"] as CSV."""
    if request.GET.get("format") == "csv":
        table = context["tables"].get(request.GET.get("table", ""))
        if table is None:
            raise Http404("No such table in this report.")
        audit.audit_record(
            audit.EXPORT, details={"what": f"report {report} / {table.name}", "format": "csv", "rows": len(table.rows)}
        )
        return csv_response(table, filename_prefix=report)
    params = request.GET.copy()
    params.pop("format", None)
    params.pop("table", None)
    params.pop("refresh", None)
    context.update({"query": params.urlencode(), "report_name": report})
    return render(request, template, context, status=status)


def refresh_requested(request: HttpRequest) -> bool:
    """?refresh=1 recomputes the report instead of reading its cached summary."""
    return request.GET.get("refresh") == "1"


def _filter_form(request: HttpRequest) -> ReportFilterForm:
    return ReportFilterForm(
        request.GET or None,
        sources=sources_list(),
        origins=selectors.origins_list(),
        owners=[u for u in reps_list() if u.role == u.Role.REP],
    )


@manager_required
def dashboard(request: HttpRequest) -> HttpResponse:
    return respond(
        request, "reports/dashboard.html", pages.dashboard_page(refresh=refresh_requested(request)), report="dashboard"
    )


def _filtered_report(request: HttpRequest, page, template: str, report: str) -> HttpResponse:
    """A report page driven by the common filter form (date range, source, owner, origin).
    Invalid filters answer 400: the page unfiltered, each message beside its field."""
    form = _filter_form(request)
    context = page(form.report_filters(), refresh=refresh_requested(request))
    context["form"] = form
    status = 400 if form.is_bound and not form.is_valid() else 200
    return respond(request, template, context, report=report, status=status)


@manager_required
def conversion(request: HttpRequest) -> HttpResponse:
    return _filtered_report(request, pages.conversion_page, "reports/conversion.html", "conversion")


@manager_required
def funnel(request: HttpRequest) -> HttpResponse:
    return _filtered_report(request, pages.funnel_page, "reports/funnel.html", "funnel")


@manager_required
def reps(request: HttpRequest) -> HttpResponse:
    return _filtered_report(request, pages.reps_page, "reports/reps.html", "reps")


@manager_required
def channels(request: HttpRequest) -> HttpResponse:
    form = ChannelFilterForm(request.GET or None, sources=sources_list(), today=timezone.localdate())
    context = pages.channels_page(form.channel_filters(), refresh=refresh_requested(request))
    context["form"] = form
    context["can_record_spend"] = request.user.is_crm_admin
    return respond(request, "reports/channels.html", context, report="channels")


@permissions.admin_required(message="Only admins record spend and channel values.")
@require_http_methods(["GET", "POST"])
def spend(request: HttpRequest) -> HttpResponse:
    """Admins record a month's spend on a channel, upload a spend file, and set channels' values."""
    spend_form = SpendForm(request.POST if request.POST.get("action") == "spend" else None)
    upload_form = SpendUploadForm(
        request.POST if request.POST.get("action") == "upload" else None,
        request.FILES if request.POST.get("action") == "upload" else None,
    )
    value_form = ChannelValueForm(request.POST if request.POST.get("action") == "value" else None)
    file_errors: list[dict] = []
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action == "spend" and spend_form.is_valid():
                record = channel_services.spend_record(**spend_form.cleaned_data, by=request.user)
                messages.success(request, f"Recorded {record}.")
                return redirect("reports:spend")
            if action == "value" and value_form.is_valid():
                value = channel_services.channel_value_set(**value_form.cleaned_data)
                messages.success(request, f"Converted leads of {value} unless their close says otherwise.")
                return redirect("reports:spend")
            if action == "upload" and upload_form.is_valid():
                upload = upload_form.cleaned_data["file"]
                with tempfile.TemporaryDirectory() as folder:
                    path = Path(folder) / "spend"
                    with path.open("wb") as out:
                        for chunk in upload.chunks():
                            out.write(chunk)
                    result = channel_services.spend_file_import(path, name=upload.name, by=request.user)
                if not result.errors:
                    messages.success(request, f"Recorded spend from {result.recorded} rows of {upload.name}.")
                    return redirect("reports:spend")
                file_errors = result.errors
                upload_form.add_error(
                    "file", f"{len(result.errors)} problems; nothing was recorded. Fix them and upload again."
                )
        except ValidationError as exc:
            target = {"spend": spend_form, "value": value_form, "upload": upload_form}.get(action)
            if target is not None:
                for field_name, problems in (
                    exc.message_dict.items() if hasattr(exc, "error_dict") else [("__all__", exc.messages)]
                ):
                    target.add_error(None if field_name == "__all__" else field_name, problems)
    status = 400 if request.method == "POST" else 200
    return render(
        request,
        "reports/spend.html",
        {
            "spend_form": spend_form,
            "upload_form": upload_form,
            "value_form": value_form,
            "file_errors": file_errors[:200],
            "file_error_count": len(file_errors),
            "spends": Spend.objects.select_related("recorded_by")[:120],
            "values": ChannelValue.objects.all(),
            "report_name": "channels",
        },
        status=status,
    )
