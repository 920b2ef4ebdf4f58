"""Manager reports. Thin: check the role, read the filters, call one page builder, render
the page or one of its tables as CSV (`?format=csv&table=<name>`).

manager_required, respond and refresh_requested are shared with the model pages that scoring
serves under /reports/ (scoring/report_views.py)."""

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from leads import permissions
from leads.reports import pages, selectors
from leads.reports.forms import ReportFilterForm
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
