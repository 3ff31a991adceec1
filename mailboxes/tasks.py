"""Account work in Celery: periodic (beat) and the list's batch actions."""

from __future__ import annotations

from celery import shared_task

from mailboxes.batch import batch_run
from mailboxes.services import mailbox_expire_passwords
from security.audit import SYSTEM


@shared_task(name="mailboxes.tasks.expire_passwords")
def expire_passwords() -> int:
    return mailbox_expire_passwords(actor=SYSTEM)


@shared_task(name="mailboxes.tasks.run_batch")
def run_batch(job_id: str) -> None:
    # A batch action of the account list (mailboxes/batch.py): the job says what and on which.
    batch_run(job_id)
