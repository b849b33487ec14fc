from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from .models import AuditEvent, Membership, Organisation, PcnMembership, User


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows changed only through actions (and so audited) are shown, never edited, in the admin."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Organisation)
class OrganisationAdmin(ReadOnlyAdmin):
    list_display = ["code", "name", "type", "parent", "opened_on", "closed_on"]
    list_filter = ["type"]
    search_fields = ["code", "name"]
    list_select_related = ["parent"]


@admin.register(PcnMembership)
class PcnMembershipAdmin(ReadOnlyAdmin):
    list_display = ["practice", "pcn", "start_date", "end_date"]
    search_fields = ["practice__code", "pcn__code"]
    list_select_related = ["practice", "pcn"]


@admin.register(Membership)
class MembershipAdmin(ReadOnlyAdmin):
    list_display = ["user", "organisation", "role", "started_at", "ended_at"]
    list_filter = ["role"]
    search_fields = ["user__email", "organisation__code"]
    list_select_related = ["user", "organisation"]


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["occurred_at", "actor", "action", "object_type", "object_repr"]
    list_filter = ["action", "object_type"]
    search_fields = ["object_repr", "object_id", "actor__email"]
    date_hierarchy = "occurred_at"
    list_select_related = ["actor"]


@admin.register(User)
class UserAdmin(DjangoUserAdmin, ReadOnlyAdmin):
    ordering = ["email"]
    list_display = ["email", "full_name", "is_active", "retired_at", "last_login"]
    list_filter = ["is_active", "is_staff"]
    search_fields = ["email", "full_name"]
    fieldsets = [
        (None, {"fields": ["email", "full_name", "is_active", "is_staff", "retired_at", "last_login"]})
    ]
