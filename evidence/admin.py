"""Evidence in the admin: read-only; evidence is attached through the review pages and the services."""

from django.contrib import admin

from reviews.admin import ReadOnlyAdmin

from .models import (
    AccessPattern,
    CapacityEnvelope,
    DerivedStore,
    Evidence,
    LoadTest,
    MigrationRehearsal,
    Record,
    RestoreDrill,
    Runbook,
    RunbookTest,
)


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
    list_display = ("name", "covers", "owner", "last_tested")


@admin.register(RunbookTest)
class RunbookTestAdmin(ReadOnlyAdmin):
    list_display = ("runbook_name", "environment", "started_at", "ended_at", "passed")


@admin.register(MigrationRehearsal)
class MigrationRehearsalAdmin(ReadOnlyAdmin):
    list_display = ("migration", "phase", "environment", "started_at", "ended_at", "validation_passed")


@admin.register(LoadTest)
class LoadTestAdmin(ReadOnlyAdmin):
    list_display = ("scenario", "environment", "p50_ms", "p95_ms", "p99_ms", "saturation_point")


@admin.register(AccessPattern)
class AccessPatternAdmin(ReadOnlyAdmin):
    list_display = ("query_name", "actor", "frequency", "pagination", "expected_p95_ms")


@admin.register(DerivedStore)
class DerivedStoreAdmin(ReadOnlyAdmin):
    list_display = ("store", "source", "freshness", "owner")


@admin.register(CapacityEnvelope)
class CapacityEnvelopeAdmin(ReadOnlyAdmin):
    list_display = (
        "evidence",
        "current_peak_tps",
        "projected_peak_tps",
        "current_p95_ms",
        "target_p95_ms",
        "review_date",
    )


@admin.register(Record)
class RecordAdmin(ReadOnlyAdmin):
    """The kinds declared in evidence.kinds (invariants, write paths …): their values as JSON."""

    list_display = ("evidence", "kind")
    list_select_related = ("evidence",)

    @admin.display(description="kind")
    def kind(self, record: Record) -> str:
        return record.evidence.get_kind_display()
