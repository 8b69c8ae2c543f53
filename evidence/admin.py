"""Evidence in the admin: read-only; evidence is attached through the review pages and the services."""

from django.contrib import admin

from reviews.admin import ReadOnlyAdmin

from .models import Evidence, RestoreDrill, Runbook


@admin.register(Evidence)
class EvidenceAdmin(ReadOnlyAdmin):
    list_display = ("title", "kind", "category", "review", "observed_at", "added_by")
    list_filter = ("kind",)
    search_fields = ("title",)


@admin.register(RestoreDrill)
class RestoreDrillAdmin(ReadOnlyAdmin):
    list_display = ("evidence", "database", "started_at", "ended_at", "validation_passed")


@admin.register(Runbook)
class RunbookAdmin(ReadOnlyAdmin):
    list_display = ("name", "owner", "last_tested")
