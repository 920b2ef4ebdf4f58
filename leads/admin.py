from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from leads.models import Activity, FollowUp, Lead, User


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ("username", "email", "first_name", "last_name", "role", "is_active", "is_staff")
    list_filter = ("role", "is_active", "is_staff")
    fieldsets = (*DjangoUserAdmin.fieldsets, ("LeadCRM", {"fields": ("role",)}))
    add_fieldsets = (*DjangoUserAdmin.add_fieldsets, ("LeadCRM", {"fields": ("role",)}))


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
class LeadAdmin(admin.ModelAdmin):
    list_display = ("__str__", "company", "email", "source", "origin", "status", "score", "tier", "owner", "created_at")
    list_filter = ("status", "tier", "origin", "owner")
    search_fields = ("name", "email", "company", "external_id", "phone")
    raw_id_fields = ("owner", "model_version", "score_override_by")
    readonly_fields = ("created_at", "updated_at", "scored_at", "priority")
    list_select_related = ("owner",)
    show_full_result_count = False
    date_hierarchy = "created_at"
    inlines = [FollowUpInline]


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
