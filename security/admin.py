from __future__ import annotations

from django.contrib import admin

from security.models import AuditEvent
from tempusmail.readonly_admin import ReadOnlyAdmin


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "actor_label", "action", "object_repr", "ip_address")
    list_filter = ("action",)
    search_fields = ("object_repr", "actor_label")
