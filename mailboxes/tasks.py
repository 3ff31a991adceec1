"""Periodic work on accounts (Celery beat)."""

from __future__ import annotations

from celery import shared_task

from mailboxes.services import mailbox_expire_passwords
from security.audit import SYSTEM


@shared_task(name="mailboxes.tasks.expire_passwords")
def expire_passwords() -> int:
    return mailbox_expire_passwords(actor=SYSTEM)
