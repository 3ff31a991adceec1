"""The import job's entry point: takes the job's id, the service does the rest."""

from __future__ import annotations

from celery import shared_task

from imports.services import import_run


@shared_task(name="imports.tasks.import_accounts")
def import_accounts(job_id: str) -> None:
    import_run(job_id)
