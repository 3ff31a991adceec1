"""The import job's entry point: takes the job's id, the service does the rest."""

from __future__ import annotations

from celery import shared_task

from imports.services import forget_stale_uploads, import_run


@shared_task(name="imports.tasks.import_accounts")
def import_accounts(job_id: str) -> None:
    import_run(job_id)


@shared_task(name="imports.tasks.forget_stale_uploads")
def forget_stale_uploads_task() -> int:
    return forget_stale_uploads()
