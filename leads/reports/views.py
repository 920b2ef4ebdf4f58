"""Manager reports. Thin: check the role, read the filters, call one page builder, render
the page or one of its tables as CSV (`?format=csv&table=<name>`)."""

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from leads.reports import pages, selectors
from leads.reports.forms import ModelVersionForm, ReportFilterForm
from leads.reports.tables import csv_response
from leads.selectors import reps_list, sources_list
from scoring.models import ModelVersion


def manager_required(view):
    """Managers and admins only: anonymous users go to the login page, reps get 403."""

    @login_required
    @require_GET
    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs):
        if not request.user.is_manager:
            raise PermissionDenied("Reports are for managers.")
        return view(request, *args, **kwargs)

    return wrapped


def _respond(request: HttpRequest, template: str, context: dict, *, report: str) -> HttpResponse:
    if request.GET.get("format") == "csv":
        table = context["tables"].get(request.GET.get("table", ""))
        if table is None:
            raise Http404("No such table in this report.")
        return csv_response(table, filename_prefix=report)
    params = request.GET.copy()
    params.pop("format", None)
    params.pop("table", None)
    params.pop("refresh", None)
    context.update({"query": params.urlencode(), "report_name": report})
    return render(request, template, context)


def _refresh(request: HttpRequest) -> bool:
    """?refresh=1 recomputes the report instead of reading its cached summary."""
    return request.GET.get("refresh") == "1"


def _filter_form(request: HttpRequest) -> ReportFilterForm:
    return ReportFilterForm(
        request.GET or None,
        sources=sources_list(),
        origins=selectors.origins_list(),
        owners=[u for u in reps_list() if u.role == u.Role.REP],
    )


def _version_from(request: HttpRequest) -> tuple[ModelVersionForm, ModelVersion | None]:
    versions = selectors.model_versions_list()
    form = ModelVersionForm(request.GET or None, versions=versions)
    chosen = form.cleaned_data.get("version") if form.is_valid() else None
    if chosen is not None:
        version = ModelVersion.objects.filter(pk=chosen).first()
    else:
        version = selectors.active_model_version() or (versions[0] if versions else None)
    if version is not None and not form.is_bound:
        form = ModelVersionForm(initial={"version": version.pk}, versions=versions)
    return form, version


@manager_required
def dashboard(request: HttpRequest) -> HttpResponse:
    return _respond(
        request, "reports/dashboard.html", pages.dashboard_page(refresh=_refresh(request)), report="dashboard"
    )


def _filtered_report(request: HttpRequest, page, template: str, report: str) -> HttpResponse:
    """A report page driven by the common filter form (date range, source, owner, origin)."""
    form = _filter_form(request)
    context = page(form.report_filters(), refresh=_refresh(request))
    context["form"] = form
    return _respond(request, template, context, report=report)


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
def model_quality(request: HttpRequest) -> HttpResponse:
    form, version = _version_from(request)
    context = pages.model_page(version, refresh=_refresh(request))
    context.update({"version_form": form, "version": version})
    return _respond(request, "reports/model.html", context, report="model")


@manager_required
def drift(request: HttpRequest) -> HttpResponse:
    form, version = _version_from(request)
    context = pages.drift_page(version, refresh=_refresh(request))
    context.update({"version_form": form, "version": version, "psi_flag": selectors.PSI_FLAG})
    return _respond(request, "reports/drift.html", context, report="drift")
