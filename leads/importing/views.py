"""Import pages for CRM admins: every job with a live progress bar, one job's outcome and errors,
and an upload form. Thin: validate, call the service, render."""

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from leads import permissions
from leads.importing import retention, selectors, services
from leads.importing.downloads import ERRORS_CSV_GONE, errors_csv_response
from leads.importing.readers import ImportFileError
from leads.models import ImportJob, ImportProfile

ERRORS_SHOWN = 200


class ImportUploadForm(forms.Form):
    file = forms.FileField(help_text="CSV (comma, semicolon or tab; UTF-8 or cp1252) or XLSX")
    profile = forms.ModelChoiceField(queryset=ImportProfile.objects.all(), empty_label=None)
    mode = forms.ChoiceField(choices=ImportJob.Mode.choices, initial=ImportJob.Mode.ATOMIC)
    dry_run = forms.BooleanField(required=False, label="Dry run (validate and count, write nothing)")


admin_required = permissions.admin_required(message="Only CRM admins can import leads.")


@admin_required
@require_http_methods(["GET", "POST"])
def job_list(request: HttpRequest) -> HttpResponse:
    form = ImportUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            job = services.import_job_create(
                file=form.cleaned_data["file"],
                name=form.cleaned_data["file"].name,
                user=request.user,
                profile=form.cleaned_data["profile"],
                mode=form.cleaned_data["mode"],
                dry_run=form.cleaned_data["dry_run"],
            )
        except (ImportFileError, ValidationError) as exc:
            form.add_error("file", " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc))
        else:
            services.import_job_dispatch(job)
            if job.broker_pending:  # the broker is down: queued, will retry
                messages.warning(request, f"Import #{job.pk} is queued: {job.error}")
            else:
                messages.success(request, f"Import #{job.pk} started.")
            return redirect("imports:detail", pk=job.pk)
    jobs = selectors.import_jobs_visible_to(request.user)[:100]
    return render(request, "imports/list.html", {"jobs": jobs, "form": form})


@admin_required
@require_GET
def job_detail(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_object_or_404(selectors.import_jobs_visible_to(request.user), pk=pk)
    context = {
        "job": job,
        "errors": selectors.import_errors_for(job)[:ERRORS_SHOWN],
        "errors_shown": ERRORS_SHOWN,
        "file_removed": retention.import_file_removed_message(job) if retention.import_file_removed(job) else "",
    }
    if request.htmx:
        return render(request, "imports/_job_status.html", context)
    return render(request, "imports/detail.html", context)


@admin_required
@require_http_methods(["POST"])
def job_resume(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_object_or_404(selectors.import_jobs_visible_to(request.user), pk=pk)
    try:
        retention.import_job_resume_if_file_kept(job=job)
        messages.success(request, f"Import #{job.pk} resumes after row {job.rows_done:,}.")
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect("imports:detail", pk=job.pk)


@admin_required
@require_GET
def job_errors_csv(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_object_or_404(selectors.import_jobs_visible_to(request.user), pk=pk)
    if retention.import_file_removed(job):
        messages.error(request, retention.import_file_removed_message(job, consequence=ERRORS_CSV_GONE))
        return redirect("imports:detail", pk=job.pk)
    return errors_csv_response(job)
