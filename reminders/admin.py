from django.contrib import admin

from .models import Digest, Reminder, ReminderPreference


@admin.register(Digest)
class DigestAdmin(admin.ModelAdmin):
    list_display = ["day", "recipient", "email", "subject", "sent_at"]
    list_filter = ["day"]
    search_fields = ["recipient__username", "email"]
    readonly_fields = [f.name for f in Digest._meta.fields]


@admin.register(Reminder)
class ReminderAdmin(admin.ModelAdmin):
    list_display = ["created_at", "recipient", "kind", "item", "threshold"]
    list_filter = ["kind"]
    search_fields = ["recipient__username", "item", "text"]
    readonly_fields = [f.name for f in Reminder._meta.fields]


@admin.register(ReminderPreference)
class ReminderPreferenceAdmin(admin.ModelAdmin):
    list_display = ["user", "others", "updated_at"]
