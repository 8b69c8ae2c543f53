"""API tokens and idempotency records in the admin: read-only (tokens are managed on /api-tokens/,
through the services that audit them); the token hash and stored responses are never listed."""

from django.contrib import admin

from reviews.admin import ReadOnlyAdmin

from .models import ApiToken, IdempotencyRecord


@admin.register(ApiToken)
class ApiTokenAdmin(ReadOnlyAdmin):
    list_display = ("name", "prefix", "team", "system", "scopes", "created_by", "last_used_at", "status")
    list_filter = ("team",)
    search_fields = ("name", "prefix")
    exclude = ("token_hash",)

    @admin.display(description="Scopes")
    def scopes(self, obj: ApiToken) -> str:
        return ", ".join(obj.scopes)


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(ReadOnlyAdmin):
    list_display = ("key", "token", "method", "path", "response_status", "created_at")
    search_fields = ("key",)
    exclude = ("response_body",)
