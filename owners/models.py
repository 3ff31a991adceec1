from __future__ import annotations

from django.conf import settings
from django.db import models


class Owner(models.Model):
    """Links a mailbox to the panel user its owner logs in as.

    The mailbox's own password (its SHA512-CRYPT hash) is the credential; the Django user exists
    so sessions, permissions checks and two-factor devices work for owners as for admins. It is
    made on the owner's first login and has no usable password of its own.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="owner"
    )
    # Kept (empty) when the mailbox is deleted, so the owner's open sessions can be ended.
    mailbox = models.OneToOneField(
        "mailboxes.Mailbox", null=True, on_delete=models.SET_NULL, related_name="owner"
    )

    def __str__(self) -> str:
        return str(self.mailbox)
