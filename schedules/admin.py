"""Schedule runs in the admin: what each beat task did, read-only."""

from django.contrib import admin

from reviews.admin import ReadOnlyAdmin

from .models import ScheduleRun


@admin.register(ScheduleRun)
class ScheduleRunAdmin(ReadOnlyAdmin):
    list_display = ("task", "state", "started_at", "duration_ms", "summary")
    list_filter = ("task", "state")
    date_hierarchy = "started_at"
    readonly_fields = (
        "task",
        "state",
        "started_at",
        "finished_at",
        "window_start",
        "window_end",
        "counts",
        "details",
        "error",
    )

    @admin.display(description="Duration (ms)")
    def duration_ms(self, obj: ScheduleRun) -> int | None:
        return obj.duration_ms

    @admin.display(description="What it did")
    def summary(self, obj: ScheduleRun) -> str:
        return obj.summary
