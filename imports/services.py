"""Importing accounts from a CSV file: upload (parse and check), start (a job), run (the job).

The accounts are made by mailboxes.services.mailbox_create, one call per line, so each is
validated, audited and provisioned as if created by hand. "All or nothing" runs every call in
one transaction: a failing line rolls back the accounts, their audit rows and the domain's
version bumps, so nothing reaches the node. "The valid lines" commits in chunks, each line in
its own savepoint, so one failure costs only its line.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from domains.models import Domain
from imports.checks import Row, check_lines
from imports.models import ImportMode, ImportUpload
from imports.parsing import FileRejected, Problem, read_lines
from jobs.models import Job
from jobs.services import job_advance, job_create, job_finish, job_start
from mailboxes.passwords import check_new_password, generate_password
from mailboxes.services import mailbox_create
from security.audit import Actor
from tempusmail.csv_safety import FORMULA_STARTS, neutralise

log = logging.getLogger(__name__)

JOB_KIND = "csv_import"
# An upload not imported within this long is deleted (forget_stale_uploads).
UPLOAD_KEEP = timedelta(hours=24)
CHUNK = 50  # lines per transaction in "valid lines" mode: progress shows at each commit
MAX_REPORTED_ERRORS = 200


@transaction.atomic
def import_upload_create(
    *, actor: Actor, domain: Domain, filename: str, data: bytes
) -> ImportUpload:
    """Parse and check a file; nothing is created. The uploader's earlier uploads to the domain
    that were never imported go (they may hold passwords typed in the file)."""
    uploader = actor.saved_user
    if uploader is None:
        raise ValueError("an upload belongs to a panel user")
    rows: list[Row]
    problems: list[Problem]
    try:
        lines = read_lines(data)
    except FileRejected as exc:
        rows, problems = [], [exc.problem]
    else:
        rows, problems = check_lines(actor=actor, domain=domain, lines=lines)
    ImportUpload.objects.filter(domain=domain, uploaded_by=uploader, job=None).delete()
    return ImportUpload.objects.create(
        domain=domain,
        uploaded_by=uploader,
        filename=filename[:200],
        lines=len(lines) if not problems or problems[0].line else 0,
        rows=rows,
        errors=[p.as_json() for p in problems],
    )


@transaction.atomic
def import_start(*, actor: Actor, upload: ImportUpload, mode: str) -> Job:
    """The import job of an upload; its task runs import_run once this commits."""
    upload = ImportUpload.objects.select_for_update().get(pk=upload.pk)
    if mode not in ImportMode.values:
        raise ValidationError({"mode": "Choose how to import."})
    if upload.job_id is not None:
        raise ValidationError("This file was already imported.")
    if not upload.rows:
        raise ValidationError("No line of this file can be imported.")
    if mode == ImportMode.ALL_OR_NOTHING and upload.errors:
        raise ValidationError(
            {
                "mode": "Some lines are rejected, so “all or nothing” would create nothing: fix "
                "them, or choose to create the valid lines."
            }
        )
    count = len(upload.rows)
    job = job_create(
        actor=actor,
        kind=JOB_KIND,
        title=f"Importing {count} account{'s' if count != 1 else ''} into {upload.domain.name}",
        organization=upload.domain.organization,
        domain=upload.domain,
        total=count,
        params={"upload": str(upload.pk), "mode": mode},
        task="imports.tasks.import_accounts",
    )
    upload.job = job
    upload.save(update_fields=["job"])
    return job


def import_run(job_id: str) -> None:
    """The job's work (its Celery task calls this). Claims the upload first, so a redelivered
    task does nothing; the rows (and any passwords in them) are emptied when it ends."""
    job = Job.objects.select_related("created_by", "domain__organization__plan").get(pk=job_id)
    upload = ImportUpload.objects.get(job=job)
    domain = job.domain
    if domain is None:  # import_start always gives the job its upload's domain
        raise ValueError(f"import job {job_id} names no domain")
    claimed = ImportUpload.objects.filter(pk=upload.pk, started_at=None).update(
        started_at=timezone.now(), rows=[]
    )
    if not claimed:
        return
    rows: list[Row] = upload.rows
    actor = Actor.for_user(job.created_by) if job.created_by else Actor(label="import")
    mode = job.params.get("mode")
    job_start(job_id, total=len(rows))
    try:
        outcome = import_rows(
            actor=actor,
            domain=domain,
            rows=rows,
            mode=mode,
            progress=lambda done, failed: job_advance(job_id, done=done, failed=failed),
        )
    except Exception:
        log.exception("import job %s stopped", job_id)
        job_finish(job_id, failed=True,
                   result={"summary": "The import stopped on an internal error; see the log.",
                           "errors": []})  # fmt: skip
        raise
    created, errors, generated = outcome
    summary = _summary(mode, created, errors, len(rows))
    job_finish(
        job_id,
        failed=not created,
        result={"summary": summary, "errors": errors[:MAX_REPORTED_ERRORS]},
        download=passwords_csv(generated) if generated else "",
        download_name=f"passwords-{domain.name}.csv" if generated else "",
    )


Outcome = tuple[int, list[dict[str, str]], list[tuple[str, str]]]
Progress = Callable[[int, int], None]  # (lines done, of which failed) since the last call


def import_rows(
    *, actor: Actor, domain: Domain, rows: list[Row], mode: str, progress: Progress
) -> Outcome:
    """Create the checked rows' accounts (the job's task, and `manage.py mailbox import`):
    (accounts created, errors, generated (address, password) pairs)."""
    if mode == ImportMode.ALL_OR_NOTHING:
        return _all_or_nothing(progress, actor, domain, rows)
    return _valid_lines(progress, actor, domain, rows)


def _create(actor: Actor, domain: Domain, row: Row) -> tuple[str, str]:
    """Create one line's account; (address, generated password or "")."""
    password, generated = row["password"], ""
    if not password:
        password = generated = _new_password(domain, row)
    mailbox = mailbox_create(
        actor=actor, domain=domain, local_part=row["local_part"], password=password,
        quota_bytes=row["quota_bytes"], first_name=row["first_name"],
        last_name=row["last_name"], settings=row["settings"],
    )  # fmt: skip
    return mailbox.address, generated


def _new_password(domain: Domain, row: Row) -> str:
    names = (row["first_name"], row["last_name"])
    while True:  # a random 16 characters almost never trips the policy; check anyway
        candidate = generate_password()
        if candidate.startswith(FORMULA_STARTS):
            continue  # neutralise() would prefix a quote the admin might copy with it
        try:
            check_new_password(candidate, domain=domain, local_part=row["local_part"], names=names)
        except ValidationError:
            continue
        return candidate


def _error(row: Row, exc: ValidationError) -> dict[str, str]:
    return {"item": f"line {row['line']} ({row['local_part']})", "message": " ".join(exc.messages)}


def _all_or_nothing(progress: Progress, actor: Actor, domain: Domain, rows: list[Row]) -> Outcome:
    # Progress written inside the transaction shows only when it commits: the bar jumps at
    # the end, but a failed run leaves no trace but its report.
    generated: list[tuple[str, str]] = []
    try:
        with transaction.atomic():
            for row in rows:
                try:
                    address, password = _create(actor, domain, row)
                except ValidationError as exc:
                    failure = _error(row, exc)
                    raise _Abort(failure) from exc
                if password:
                    generated.append((address, password))
    except _Abort as abort:
        note = {"item": "all or nothing", "message": "Nothing was created."}
        progress(0, 1)
        return 0, [abort.failure, note], []
    progress(len(rows), 0)
    return len(rows), [], generated


class _Abort(Exception):
    def __init__(self, failure: dict[str, str]) -> None:
        super().__init__(failure["message"])
        self.failure = failure


def _valid_lines(progress: Progress, actor: Actor, domain: Domain, rows: list[Row]) -> Outcome:
    created, errors, generated = 0, [], []
    for start in range(0, len(rows), CHUNK):
        chunk, failed = rows[start : start + CHUNK], 0
        with transaction.atomic():
            for row in chunk:
                try:
                    address, password = _create(actor, domain, row)  # its own savepoint
                except ValidationError as exc:
                    errors.append(_error(row, exc))
                    failed += 1
                    continue
                created += 1
                if password:
                    generated.append((address, password))
        progress(len(chunk), failed)
    return created, errors, generated


def _summary(mode: Any, created: int, errors: list[dict[str, str]], total: int) -> str:
    if mode == ImportMode.ALL_OR_NOTHING and not created:
        return f"Nothing was created: a line failed, so none of the {total} accounts was made."
    failed = len(errors)
    return f"{created} account{'s' if created != 1 else ''} created" + (
        f", {failed} line{'s' if failed != 1 else ''} failed." if failed else "."
    )


def passwords_csv(generated: list[tuple[str, str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["address", "password"])
    writer.writerows([neutralise(address), neutralise(password)] for address, password in generated)
    return out.getvalue()


def template_csv() -> str:
    from imports.parsing import TEMPLATE_HEADER

    return ",".join(TEMPLATE_HEADER) + "\r\n"


def forget_stale_uploads(now: datetime | None = None) -> int:
    """Delete checked uploads nobody imported within UPLOAD_KEEP (they may hold passwords typed
    in the file); beat runs this every hour. Returns how many went."""
    cutoff = (now or timezone.now()) - UPLOAD_KEEP
    deleted, _ = ImportUpload.objects.filter(job=None, created_at__lt=cutoff).delete()
    return deleted
