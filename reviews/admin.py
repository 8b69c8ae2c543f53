"""Django admin for every model. Review-domain rows change only through the services (and the pages
that call them), so the admin shows them read-only; teams, memberships and the catalogue's draft
versions are edited here, and those edits are audited."""

from django.contrib import admin
from django.db import transaction

from . import audit
from .models import (
    AuditEvent,
    CatalogueVersion,
    Category,
    CategoryScore,
    ChecklistAnswer,
    ChecklistItem,
    Claim,
    Decision,
    DecisionDocument,
    Finding,
    InstallationAuditor,
    Loosening,
    Membership,
    Review,
    RiskException,
    ScoreRaise,
    System,
    Team,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Shows rows; refuses changes, which belong to the service layer."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class AuditedAdmin(admin.ModelAdmin):
    audit_fields: tuple[str, ...] = ()

    @transaction.atomic
    def save_model(self, request, obj, form, change):
        before = audit.snapshot(type(obj).objects.get(pk=obj.pk), self.audit_fields) if change else None
        super().save_model(request, obj, form, change)
        action = f"{obj._meta.model_name}.{'update' if change else 'create'}"
        audit.record(
            actor=request.user,
            action=action,
            obj=obj,
            before=before,
            after=audit.snapshot(obj, self.audit_fields),
        )

    @transaction.atomic
    def delete_model(self, request, obj):
        before = audit.snapshot(obj, self.audit_fields)
        audit.record(actor=request.user, action=f"{obj._meta.model_name}.delete", obj=obj, before=before)
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.delete_model(request, obj)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    can_delete = False
    readonly_fields = ("user", "role")

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Team)
class TeamAdmin(AuditedAdmin):
    list_display = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    search_fields = ("name",)
    audit_fields = ("name", "slug")
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(AuditedAdmin):
    list_display = ("user", "team", "role")
    list_filter = ("team", "role")
    search_fields = ("user__username", "team__name")
    audit_fields = ("user", "team", "role")


@admin.register(InstallationAuditor)
class InstallationAuditorAdmin(AuditedAdmin):
    list_display = ("user", "granted_at")
    search_fields = ("user__username",)
    audit_fields = ("user", "granted_at")


@admin.register(System)
class SystemAdmin(ReadOnlyAdmin):
    list_display = ("name", "team", "slug", "created_at")
    list_filter = ("team",)
    search_fields = ("name", "slug")


class ItemInline(admin.TabularInline):
    model = ChecklistItem
    extra = 0
    fields = ("position", "code", "section", "text")


@admin.register(CatalogueVersion)
class CatalogueVersionAdmin(AuditedAdmin):
    """Versions are best made on the Catalogue page (/catalogue/: export, edit, import, compare)."""

    list_display = ("number", "label", "published", "created_at")
    audit_fields = ("number", "label", "published")

    def has_change_permission(self, request, obj=None):
        # A version that reviews were scored against never changes; publish a new version instead.
        return super().has_change_permission(request, obj) and not (obj and obj.reviews.exists())

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and not (obj and obj.reviews.exists())


@admin.register(Category)
class CategoryAdmin(AuditedAdmin):
    list_display = ("number", "name", "code", "version")
    list_filter = ("version",)
    inlines = [ItemInline]
    audit_fields = (
        "version",
        "code",
        "number",
        "name",
        "section",
        "description",
        "minimum_score",
        "minimum_when",
    )

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and not (obj and obj.version.reviews.exists())

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and not (obj and obj.version.reviews.exists())


@admin.register(ChecklistItem)
class ChecklistItemAdmin(AuditedAdmin):
    list_display = ("code", "category", "section")
    list_filter = ("category__version", "category__number")
    search_fields = ("code", "text")
    audit_fields = ("category", "code", "section", "text", "guidance", "position", "critical_level")

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and not (
            obj and obj.category.version.reviews.exists()
        )

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and not (
            obj and obj.category.version.reviews.exists()
        )


@admin.register(Review)
class ReviewAdmin(ReadOnlyAdmin):
    list_display = ("system", "release_scope", "state", "chair", "created_at")
    list_filter = ("state", "schema_changing", "production_traffic")
    search_fields = ("release_scope", "system__name")


@admin.register(CategoryScore)
class CategoryScoreAdmin(ReadOnlyAdmin):
    list_display = ("review", "category", "score", "owner", "updated_at")


@admin.register(ChecklistAnswer)
class ChecklistAnswerAdmin(ReadOnlyAdmin):
    list_display = ("review", "item", "answer", "answered_by", "answered_at")


@admin.register(Finding)
class FindingAdmin(ReadOnlyAdmin):
    list_display = ("title", "level", "status", "review", "owner", "due_date", "source")
    list_filter = ("level", "status", "source")
    search_fields = ("title",)


@admin.register(Loosening)
class LooseningAdmin(ReadOnlyAdmin):
    list_display = ("finding", "kind", "from_level", "to_level", "state", "proposed_by", "decided_by")
    list_filter = ("kind", "state")


@admin.register(ScoreRaise)
class ScoreRaiseAdmin(ReadOnlyAdmin):
    list_display = ("category", "review", "from_score", "to_score", "state", "proposed_by", "decided_by")
    list_filter = ("state",)


@admin.register(RiskException)
class RiskExceptionAdmin(ReadOnlyAdmin):
    list_display = ("finding", "state", "expires_at", "requested_by", "signer", "signed_at")
    list_filter = ("state",)


@admin.register(Claim)
class ClaimAdmin(ReadOnlyAdmin):
    list_display = ("claim", "risk", "control", "review")


@admin.register(Decision)
class DecisionAdmin(ReadOnlyAdmin):
    list_display = ("system", "outcome", "recorded_at", "approver", "digest")
    list_filter = ("outcome",)


@admin.register(DecisionDocument)
class DecisionDocumentAdmin(ReadOnlyAdmin):
    list_display = ("decision", "pages", "size", "sha256", "renderer", "render_ms", "rendered_at")

    def get_queryset(self, request):
        return super().get_queryset(request).defer("pdf")


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("at", "actor", "action", "object_repr")
    list_filter = ("action",)
    search_fields = ("object_repr", "action")
