"""The group → team role mapping, edited in the admin; every edit is audited."""

from django.contrib import admin

from reviews.admin import AuditedAdmin

from .models import GroupRoleMapping


@admin.register(GroupRoleMapping)
class GroupRoleMappingAdmin(AuditedAdmin):
    list_display = ("group", "team", "role")
    list_filter = ("team", "role")
    search_fields = ("group", "team__name")
    audit_fields = ("group", "team", "role")
