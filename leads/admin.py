from pathlib import Path

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from import_export.admin import ImportExportMixin
from import_export.formats.base_formats import CSV, XLSX

from leadcrm.json_limits import LimitedJSONDecoder
from leads import audit
from leads.exports import xlsx_bytes
from leads.importing import services as import_services
from leads.importing.forms import ImportProfileForm, LeadConfirmImportForm, LeadImportForm, rows_in_upload
from leads.importing.readers import ImportFileError
from leads.importing.wizard import admin_import_preview
from leads.models import (
    Activity,
    AuditEntry,
    FollowUp,
    ImportJob,
    ImportProfile,
    Lead,
    LeadRank,
    LostReason,
    RoutingRule,
    User,
)
from leads.resources import LeadExportResource
from leads.services import leads_merge

# JSON typed into the admin (attributes, profile mappings) is parsed with the size and depth limits.
LIMITED_JSON = {models.JSONField: {"decoder": LimitedJSONDecoder}}


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ("username", "email", "first_name", "last_name", "role", "is_active", "is_staff")
    list_filter = ("role", "is_active", "is_staff")
    fieldsets = (*DjangoUserAdmin.fieldsets, ("LeadCRM", {"fields": ("role", "capacity")}))
    add_fieldsets = (*DjangoUserAdmin.add_fieldsets, ("LeadCRM", {"fields": ("role", "capacity")}))


class ActivityInline(admin.TabularInline):
    model = Activity
    extra = 0
    fields = ("kind", "outcome", "occurred_at", "user", "notes")
    raw_id_fields = ("user",)
    show_change_link = True


class LeadRankInline(admin.StackedInline):
    """What the model says of the lead, read-only: scores come from the model, overrides from the
    override form (scoring.overrides), each of which keeps the queue's priority and the history."""

    model = LeadRank
    can_delete = False
    fields = readonly_fields = (
        *("score", "probability", "tier", "score_reasons", "scored_at", "model_version"),
        *("score_override", "score_override_reason", "score_override_by", "priority"),
    )

    def has_add_permission(self, request, obj=None):
        return False


class FollowUpInline(admin.TabularInline):
    model = FollowUp
    extra = 0
    fields = ("due_at", "done_at", "assigned_to", "note")
    raw_id_fields = ("assigned_to",)


@admin.register(Lead)
class LeadAdmin(ImportExportMixin, admin.ModelAdmin):
    formfield_overrides = LIMITED_JSON
    list_display = (
        *("__str__", "company", "email", "source", "origin", "status"),
        *("rank__score", "rank__tier", "owner", "created_at"),
    )
    list_filter = ("status", "rank__tier", "origin", "owner")
    search_fields = ("name", "email", "company", "external_id", "phone")
    raw_id_fields = ("owner",)
    readonly_fields = ("created_at", "updated_at", "import_job")
    list_select_related = ("owner", "rank")
    show_full_result_count = False
    date_hierarchy = "created_at"
    inlines = [LeadRankInline, FollowUpInline]
    actions = ["merge_leads"]
    # Import: the import pipeline (import_action below). Export: django-import-export with score,
    # tier, owner and status; CSV neutralised by leads.exports.csv_safe, XLSX typed as text.
    formats = [CSV, XLSX]

    def get_export_resource_classes(self, request):
        return [LeadExportResource]

    def get_export_resource_kwargs(self, request, **kwargs):
        # Binary formats (XLSX) get native values and type text cells as text: no apostrophe.
        return {"neutralise": not kwargs.get("force_native_type")}

    def get_export_data(self, file_format, request, queryset, **kwargs):
        if not isinstance(file_format, XLSX):
            data = super().get_export_data(file_format, request, queryset, **kwargs)
        else:
            if not self.has_export_permission(request):
                raise PermissionDenied
            dataset = self.get_data_for_export(request, queryset, force_native_type=True, **kwargs)
            data = xlsx_bytes(list(dataset.headers or []), dataset)
        rows = queryset.count() if hasattr(queryset, "count") and not isinstance(queryset, list) else len(queryset)
        audit.audit_record(
            audit.EXPORT,
            request=request,
            target_type="leads.lead",
            details={"what": "admin lead export", "format": file_format.get_title(), "rows": rows},
        )
        return data

    def has_import_permission(self, request):
        return request.user.is_active and request.user.is_crm_admin

    def has_export_permission(self, request):
        return request.user.is_active and request.user.is_manager

    def import_action(self, request, **kwargs):
        """The import pipeline's door in the admin: the file goes through the same readers and
        validator as every import, as a dry-run ImportJob (listed on /imports/) whose counts and
        errors are the preview; confirming runs a real job on the same stored file. Files above
        IMPORT_ADMIN_SYNC_MAX_ROWS go straight to a background job."""
        if not self.has_import_permission(request):
            raise PermissionDenied
        form = LeadImportForm(request.POST or None, request.FILES or None)
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "title": "Import leads",
                   "form": form, "lead_fields": ImportProfile.LEAD_FIELDS}  # fmt: skip
        if request.method == "POST" and form.is_valid():
            upload, data = form.cleaned_data["import_file"], form.cleaned_data
            large = rows_in_upload(upload) > settings.IMPORT_ADMIN_SYNC_MAX_ROWS
            try:
                job = import_services.import_job_create(
                    file=upload, name=upload.name, user=request.user, profile=data["profile"], mode=data["mode"],
                    dry_run=not large,
                )  # fmt: skip
            except (ImportFileError, ValidationError) as exc:
                form.add_error("import_file", " ".join(getattr(exc, "messages", [str(exc)])))
            else:
                if large:
                    import_services.import_job_dispatch(job)
                    limit = settings.IMPORT_ADMIN_SYNC_MAX_ROWS
                    messages.success(request, f"The file has more than {limit:,} rows: it imports as job #{job.pk}.")
                    return redirect("imports:detail", pk=job.pk)
                job = import_services.import_job_run(job_id=job.pk)
                context.update(admin_import_preview(job))
                context["confirm_form"] = LeadConfirmImportForm(initial={"job": job.pk})
        return TemplateResponse(request, "admin/leads/lead/import.html", context)

    def process_import(self, request, **kwargs):
        """Confirm a previewed (dry-run) import: a real job on the same file, run in the request."""
        if not self.has_import_permission(request):
            raise PermissionDenied
        if request.method != "POST":
            return redirect("admin:leads_lead_import")
        form = LeadConfirmImportForm(request.POST)
        if not form.is_valid():
            messages.error(request, "That preview is gone or failed; upload the file again.")
            return redirect("admin:leads_lead_import")
        preview = form.cleaned_data["job"]
        if not preview.file or preview.created_count + preview.updated_count == 0:
            messages.error(request, "Nothing would be written: every row is unchanged or bad.")
            return redirect("admin:leads_lead_import")
        try:
            job = import_services.import_job_create(
                file=Path(preview.file.path), name=preview.original_name, user=request.user,
                profile=preview.profile, mode=preview.mode,
            )  # fmt: skip
        except (ImportFileError, ValidationError) as exc:
            messages.error(request, " ".join(getattr(exc, "messages", [str(exc)])))
            return redirect("admin:leads_lead_import")
        job = import_services.import_job_run(job_id=job.pk)
        url = reverse("imports:detail", args=[job.pk])
        if job.status == ImportJob.Status.SUCCEEDED:
            messages.success(
                request,
                format_html(
                    'Import <a href="{}">#{}</a>: {} created, {} updated, {} unchanged, {} failed.',
                    url, job.pk, job.created_count, job.updated_count, job.unchanged_count, job.failed_count,
                ),
            )  # fmt: skip
        else:
            messages.error(request, format_html('Import <a href="{}">#{}</a> failed: {}', url, job.pk, job.error))
        return redirect("admin:leads_lead_changelist")

    @admin.action(description="Merge two selected leads (the older survives)")
    def merge_leads(self, request, queryset):
        leads = list(queryset.order_by("created_at", "id")[:3])
        if len(leads) != 2:
            self.message_user(request, "Select exactly two leads to merge.", messages.ERROR)
            return
        survivor, duplicate = leads
        merged = leads_merge(survivor=survivor, duplicate=duplicate)
        self.message_user(request, f"Merged into {merged} (#{merged.pk}).", messages.SUCCESS)


@admin.register(Activity)
class ActivityAdmin(admin.ModelAdmin):
    formfield_overrides = LIMITED_JSON
    list_display = ("lead", "kind", "outcome", "user", "occurred_at")
    list_filter = ("kind",)
    search_fields = ("lead__name", "lead__email", "notes", "outcome")
    raw_id_fields = ("lead", "user")
    list_select_related = ("lead", "user")
    show_full_result_count = False


@admin.register(FollowUp)
class FollowUpAdmin(admin.ModelAdmin):
    list_display = ("lead", "assigned_to", "due_at", "done_at", "note")
    list_filter = (("done_at", admin.EmptyFieldListFilter),)
    search_fields = ("lead__name", "lead__email", "note")
    raw_id_fields = ("lead", "assigned_to")
    list_select_related = ("lead", "assigned_to")


@admin.register(ImportProfile)
class ImportProfileAdmin(admin.ModelAdmin):
    """Plain fields, no JSON: the form (ImportProfileForm) checks what it saves with the rule every
    import runs (spec_from_dict). A profile for a new kind of file is easiest made in the wizard."""

    form = ImportProfileForm
    list_display = ("name", "description", "outcome_column", "updated_at")
    search_fields = ("name", "description")

    def get_fieldsets(self, request, obj=None):
        from leads.importing.profiles import MAPPING_FIELDS

        return [
            (None, {"fields": ("name", "description")}),
            ("Columns -> lead fields (leave blank for none)", {"fields": [f"map_{n}" for n in MAPPING_FIELDS]}),
            ("Outcome", {"fields": ("outcome_column", "converted_values", "lost_values", "open_values", "lost_reason",
                                    "extra_outcomes")}),
            ("Values and columns", {"fields": ("placeholder_values", "column_types", "column_limits", "date_orders",
                                               "excluded_columns")}),
            ("File", {"fields": ("delimiter", "encoding")}),
        ]  # fmt: skip


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    list_display = ("id", "original_name", "profile", "mode", "status", "rows_done", "rows_total", "created_count",
                    "updated_count", "failed_count", "created_by", "created_at", "page")  # fmt: skip
    list_filter = ("status", "mode", "dry_run")
    search_fields = ("original_name", "file_sha256")
    readonly_fields = [f.name for f in ImportJob._meta.fields]
    list_select_related = ("profile", "created_by")

    def has_add_permission(self, request):
        return False

    @admin.display(description="Progress page")
    def page(self, job):
        return format_html('<a href="{}">open</a>', reverse("imports:detail", args=[job.pk]))


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """Read-only: entries are written by leads.audit.audit_record and never changed or deleted."""

    list_display = ("at", "actor_name", "action", "target_type", "target_id", "ip_address")
    list_filter = ("action", "target_type")
    search_fields = ("actor_name", "target_id")
    date_hierarchy = "at"
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# --- the sales team's day: the lost-reason pick list and routing rules, edited by admins ---------


@admin.register(LostReason)
class LostReasonAdmin(admin.ModelAdmin):
    list_display = ("label", "position", "active")
    list_editable = ("position", "active")


@admin.register(RoutingRule)
class RoutingRuleAdmin(admin.ModelAdmin):
    list_display = ("name", "position", "active", "source", "origin", "tier", "min_score", "on_sla_breach")
    list_editable = ("position", "active")
    filter_horizontal = ("reps",)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "reps":
            kwargs["queryset"] = User.objects.filter(is_active=True).order_by("username")
        return super().formfield_for_manytomany(db_field, request, **kwargs)
