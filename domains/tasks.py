"""Domain work in Celery (beat)."""

from __future__ import annotations

from celery import shared_task

from domains.dkim_services import dkim_retire_due
from security.audit import SYSTEM


@shared_task(name="domains.tasks.retire_dkim_keys")
def retire_dkim_keys() -> int:
    # Replaced DKIM keys whose grace period is over: retired, their private keys forgotten.
    return dkim_retire_due(actor=SYSTEM)
