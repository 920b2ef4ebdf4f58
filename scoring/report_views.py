"""The model pages under /reports/ (model quality, drift) for managers. Thin: pick the version,
call one page builder (scoring/report_pages.py), render the page or one of its tables as CSV
through the reports' shared plumbing (leads/reports/views.py)."""

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from leads.reports.views import manager_required, refresh_requested, respond
from scoring import quality, report_pages, selectors
from scoring.forms import ModelVersionForm
from scoring.models import ModelVersion


def _version_from(request: HttpRequest) -> tuple[ModelVersionForm, ModelVersion | None]:
    """The version ?version= asks for, else the active one, else the newest."""
    versions = quality.picker_versions_list()
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
def model_quality(request: HttpRequest) -> HttpResponse:
    form, version = _version_from(request)
    context = report_pages.model_page(version, refresh=refresh_requested(request))
    context.update({"version_form": form, "version": version})
    return respond(request, "scoring/model_quality.html", context, report="model")


@manager_required
def drift(request: HttpRequest) -> HttpResponse:
    form, version = _version_from(request)
    context = report_pages.drift_page(version, refresh=refresh_requested(request))
    context.update({"version_form": form, "version": version, "psi_flag": settings.REPORT_PSI_FLAG})
    return respond(request, "scoring/drift.html", context, report="drift")
