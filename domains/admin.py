from __future__ import annotations

from django.contrib import admin

from domains.models import Domain
from tempusmail.readonly_admin import ReadOnlyAdmin


@admin.register(Domain)
class DomainAdmin(ReadOnlyAdmin):
    list_display = (
        "name",
        "organization",
        "node",
        "desired_version",
        "applied_version",
        "apply_error",
    )
    search_fields = ("name",)
