"""Starting, advancing and ending jobs. Progress writes are single UPDATEs, so a worker
reporting every item costs one small query and never overwrites the result of another."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from domains.models import Domain
from jobs.models import Job, JobState
from organizations.models import Organization
from security.audit import Actor, audit_record
from tempusmail.enqueue import enqueue_on_commit


@transaction.atomic
def job_create(
    *,
    actor: Actor,
    kind: str,
    title: str,
    organization: Organization,
    domain: Domain | None = None,
    total: int = 0,
    params: dict[str, Any] | None = None,
    task: str | None = None,
) -> Job:
    """A job, and (after the commit) the Celery task named `task` called with the job's id."""
    job = Job.objects.create(
        kind=kind,
        title=title,
        organization=organization,
        domain=domain,
        created_by=actor.saved_user,
        total=total,
        params=params or {},
    )
    audit_record(
        actor=actor, action=f"job.{kind}", obj=job, organization=organization,
        after={"title": title, "total": total},
    )  # fmt: skip
    if task is not None:
        enqueue_on_commit(task, str(job.pk))
    return job


def job_start(job_id: str, total: int | None = None) -> None:
    fields: dict[str, Any] = {"state": JobState.RUNNING}
    if total is not None:
        fields["total"] = total
    Job.objects.filter(pk=job_id).update(**fields)


def job_advance(job_id: str, *, done: int = 1, failed: int = 0) -> None:
    Job.objects.filter(pk=job_id).update(done=F("done") + done, failed=F("failed") + failed)


def job_finish(
    job_id: str,
    *,
    result: dict[str, Any],
    failed: bool = False,
    download: str = "",
    download_name: str = "",
) -> None:
    Job.objects.filter(pk=job_id).update(
        state=JobState.FAILED if failed else JobState.DONE,
        done=F("total"),
        result=result,
        download=download,
        download_name=download_name,
        finished_at=timezone.now(),
    )


@transaction.atomic
def job_take_download(*, actor: Actor, job: Job) -> tuple[str, str] | None:
    """The job's download (name, text), emptied in the same transaction: a second fetch gets
    None. Locked, so two simultaneous fetches cannot both get it."""
    locked = Job.objects.select_for_update().get(pk=job.pk)
    if not locked.download:
        return None
    taken = (locked.download_name or "download.csv", locked.download)
    locked.download = ""
    locked.save(update_fields=["download"])
    audit_record(
        actor=actor, action="job.download", obj=locked, organization=locked.organization,
        after={"file": taken[0]},
    )  # fmt: skip
    return taken
