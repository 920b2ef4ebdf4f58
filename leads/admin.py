from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.core.exceptions import ValidationError
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.html import format_html
from import_export.admin import ImportExportMixin
from import_export.formats.base_formats import CSV, XLSX

from leads.importing import services as import_services
from leads.importing.forms import LeadConfirmImportForm, LeadImportForm, rows_in_upload
from leads.importing.readers import ImportFileError
from leads.models import Activity, FollowUp, ImportJob, ImportProfile, Lead, LostReason, RoutingRule, User
from leads.resources import LeadExportResource, LeadImportResource, default_profile
from leads.services import leads_merge


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


class FollowUpInline(admin.TabularInline):
    model = FollowUp
    extra = 0
    fields = ("due_at", "done_at", "assigned_to", "note")
    raw_id_fields = ("assigned_to",)


@admin.register(Lead)
class LeadAdmin(ImportExportMixin, admin.ModelAdmin):
    list_display = ("__str__", "company", "email", "source", "origin", "status", "score", "tier", "owner", "created_at")
    list_filter = ("status", "tier", "origin", "owner")
    search_fields = ("name", "email", "company", "external_id", "phone")
    raw_id_fields = ("owner", "model_version", "score_override_by")
    readonly_fields = ("created_at", "updated_at", "scored_at", "priority")
    list_select_related = ("owner",)
    show_full_result_count = False
    date_hierarchy = "created_at"
    inlines = [FollowUpInline]
    actions = ["merge_leads"]
    # Import: the profile's mapping with django-import-export's preview and confirm step.
    # Export: score, tier, owner and status, formula injection neutralised (leads.exports.csv_safe).
    formats = [CSV, XLSX]
    import_form_class = LeadImportForm
    confirm_form_class = LeadConfirmImportForm
    from_encoding = "utf-8-sig"

    def get_import_resource_classes(self, request):
        return [LeadImportResource]

    def get_export_resource_classes(self, request):
        return [LeadExportResource]

    def has_import_permission(self, request):
        return request.user.is_active and request.user.is_crm_admin

    def has_export_permission(self, request):
        return request.user.is_active and request.user.is_manager

    def get_import_resource_kwargs(self, request, **kwargs):
        form = kwargs.get("form")
        profile = None
        if form is not None and form.is_bound and form.is_valid():
            profile = form.cleaned_data.get("profile")
        return {"profile": profile or default_profile()}

    def get_confirm_form_initial(self, request, import_form):
        initial = super().get_confirm_form_initial(request, import_form)
        if import_form is not None:
            initial["profile"] = import_form.cleaned_data["profile"].pk
        return initial

    def import_action(self, request, **kwargs):
        """Files above IMPORT_ADMIN_SYNC_MAX_ROWS go to the async ImportJob instead of this request."""
        if request.method == "POST" and self.has_import_permission(request):
            form = self.create_import_form(request)
            limit = settings.IMPORT_ADMIN_SYNC_MAX_ROWS
            if form.is_valid() and rows_in_upload(form.cleaned_data["import_file"]) > limit:
                upload = form.cleaned_data["import_file"]
                upload.seek(0)
                try:
                    job = import_services.import_job_create(
                        file=upload, name=upload.name, user=request.user, profile=form.cleaned_data["profile"],
                        mode=form.cleaned_data["mode"],
                    )  # fmt: skip
                except (ImportFileError, ValidationError) as exc:
                    messages.error(request, " ".join(getattr(exc, "messages", [str(exc)])))
                    return redirect("admin:leads_lead_import")
                import_services.import_job_dispatch(job)
                messages.success(request, f"The file has more than {limit:,} rows: it imports as job #{job.pk}.")
                return redirect("imports:detail", pk=job.pk)
        return super().import_action(request, **kwargs)

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
    list_display = ("name", "description", "outcome_column", "updated_at")
    search_fields = ("name", "description")


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
