from __future__ import annotations

from django.contrib import admin

from mailboxes.models import Mailbox
from tempusmail.readonly_admin import ReadOnlyAdmin


@admin.register(Mailbox)
class MailboxAdmin(ReadOnlyAdmin):
    list_display = ("__str__", "state", "quota_bytes", "changed_version")
    list_select_related = ("domain",)
    search_fields = ("local_part", "domain__name")
    exclude = ("password_hash",)
