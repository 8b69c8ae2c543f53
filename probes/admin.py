"""Django admin for the probe models: read-only, since the pages and services own every change (and a
target's password is never shown)."""

from django.contrib import admin

from reviews.admin import ReadOnlyAdmin

from .models import InvariantCheck, ProbeFinding, ProbeResult, ProbeRun, ProbeTarget


@admin.register(ProbeTarget)
class ProbeTargetAdmin(ReadOnlyAdmin):
    list_display = ("name", "system", "environment", "connection", "last_test_ok", "created_at")
    list_filter = ("environment",)
    search_fields = ("name", "system__name")
    # Never the encrypted password: user@host:port/dbname is all anybody sees again.
    fields = (
        "system", "name", "environment", "host", "port", "dbname", "db_user", "sslmode", "ssl_files",
        "params", "created_by", "created_at", "updated_at", "last_test_at", "last_test_ok",
        "last_test_result",
    )  # fmt: skip


@admin.register(InvariantCheck)
class InvariantCheckAdmin(ReadOnlyAdmin):
    list_display = ("name", "target", "category", "severity", "row_cap")


@admin.register(ProbeRun)
class ProbeRunAdmin(ReadOnlyAdmin):
    list_display = (
        "pk",
        "target",
        "review",
        "state",
        "progress_done",
        "progress_total",
        "attempts",
        "created_at",
    )
    list_filter = ("state",)
    exclude = ("claim_token",)


@admin.register(ProbeResult)
class ProbeResultAdmin(ReadOnlyAdmin):
    list_display = ("probe_id", "run", "category", "severity", "status", "duration_ms")
    list_filter = ("status", "category")
    search_fields = ("probe_id",)


@admin.register(ProbeFinding)
class ProbeFindingAdmin(ReadOnlyAdmin):
    list_display = (
        "finding",
        "probe_id",
        "object",
        "probe_level",
        "target",
        "last_seen_run",
        "resolved_by_run",
    )
