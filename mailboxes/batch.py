"""Batch actions on the account list: which accounts a selection means, the job that
deactivates, reactivates or deletes them a chunk at a time through mailboxes.services, and
the rows of the CSV export.

A selection is either the ticked rows or "all matching": the list's search, status filter and
sort, resolved when the batch starts (what the admin saw counted is what is acted on). Each
chunk of accounts is one transaction of the batch services (mailbox_set_state_many,
mailbox_delete_many): one audit row per account, one bump of the domain into the provisioning
loop per chunk; one account failing never stops the others.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet

from domains.models import Domain
from jobs.models import Job
from jobs.services import job_advance, job_create, job_finish, job_start
from mailboxes.models import Mailbox, MailboxState
from mailboxes.rules import SERVICE_OFFERS
from mailboxes.selectors import mailbox_list
from mailboxes.services import mailbox_delete_many, mailbox_set_state_many
from security.audit import Actor, audit_record

log = logging.getLogger(__name__)

# action -> (the state in which there is nothing to do, what the summary says of the accounts
# done and of those skipped)
ACTIONS: dict[str, tuple[str | None, str, str]] = {
    "deactivate": (MailboxState.DEACTIVATED, "deactivated", "deactivated"),
    "reactivate": (MailboxState.ACTIVE, "reactivated", "active"),
    "delete": (None, "deleted", "deleted"),  # gone: already deleted
}
MAX_PICKED = 10_000  # ticked rows come from one page; more is not a person's selection
MAX_ERRORS_KEPT = 200  # per-account problems shown on the job page
CHUNK = 250  # accounts per transaction: progress shows at each commit


@dataclass(frozen=True)
class Selection:
    """What the admin picked on the list: ticked ids, or everything the filter matches."""

    all_matching: bool = False
    ids: tuple[int, ...] = ()
    query: str = ""
    status: str = ""
    sort: str = ""


def selection_queryset(domain: Domain, selection: Selection) -> QuerySet[Mailbox]:
    """The selected accounts of this domain, in the list's order. Ids of other domains (or
    tenants) simply match nothing."""
    rows = mailbox_list(domain, query=selection.query, status=selection.status, sort=selection.sort)
    if selection.all_matching:
        return rows
    return rows.filter(pk__in=selection.ids[:MAX_PICKED])


def selection_ids(domain: Domain, selection: Selection) -> list[int]:
    return list(selection_queryset(domain, selection).values_list("id", flat=True))


# --- the job ------------------------------------------------------------------------------


def batch_start(*, actor: Actor, domain: Domain, action: str, ids: list[int]) -> Job:
    """A job that applies the action to these accounts (after the commit, in Celery)."""
    if action not in ACTIONS:
        raise ValidationError(f"Unknown batch action {action!r}.")
    count = len(ids)
    noun = "account" if count == 1 else "accounts"
    return job_create(
        actor=actor,
        kind=f"mailbox_{action}",
        title=f"{action.capitalize()} {count} {noun} of {domain.display_name}",
        organization=domain.organization,
        domain=domain,
        total=count,
        params={
            "action": action,
            "ids": ids,
            "actor_user_id": actor.user.pk if actor.user is not None else None,
            "actor_label": actor.label,
            "actor_ip": actor.ip_address,
        },
        task="mailboxes.tasks.run_batch",
    )


def _actor(params: dict[str, Any]) -> Actor:
    user_id = params.get("actor_user_id")
    user = get_user_model().objects.filter(pk=user_id).first() if user_id is not None else None
    if user is not None:
        return Actor.for_user(user, params.get("actor_ip"))
    return Actor(label=params.get("actor_label") or "system", ip_address=params.get("actor_ip"))


@dataclass
class Tally:
    done: int = 0
    already: int = 0
    failed: int = 0
    errors: list[dict[str, str]] = field(default_factory=list)

    def fail(self, item: str, message: str) -> None:
        self.failed += 1
        if len(self.errors) < MAX_ERRORS_KEPT:
            self.errors.append({"item": item, "message": message})

    def summary(self, action: str) -> str:
        _, past, skipped = ACTIONS[action]
        parts = [f"{self.done} {past}"]
        if self.already:
            were = "was" if self.already == 1 else "were"
            parts.append(f"{self.already} {were} already {skipped}")
        if self.failed:
            shown = "; ".join(f"{e['item']}: {e['message']}" for e in self.errors[:3])
            more = f" (and {self.failed - 3} more below)" if self.failed > 3 else ""
            parts.append(f"{self.failed} failed: {shown}{more}")
        return ", ".join(parts) + "."


def _apply_chunk(action: str, actor: Actor, domain: Domain, chunk: list[int], tally: Tally) -> int:
    """One chunk in one transaction; returns how many of its accounts failed."""
    if action == "delete":
        outcome = mailbox_delete_many(actor=actor, domain=domain, ids=chunk)
        outcome.unchanged += outcome.missing  # gone: already deleted
        outcome.missing = []
    else:
        target = ACTIONS[action][0]
        assert target is not None  # only "delete" has no state, and it went the other way
        state = MailboxState(target)
        outcome = mailbox_set_state_many(actor=actor, domain=domain, ids=chunk, state=state)
    tally.done += len(outcome.done)
    tally.already += len(outcome.unchanged)
    failed = 0
    for pk in chunk:  # in the order the admin saw them
        if pk in outcome.refused:
            tally.fail(*outcome.refused[pk])
            failed += 1
    for pk in outcome.missing:
        tally.fail(f"account #{pk}", "It no longer exists.")
        failed += 1
    return failed


def _chunks(ids: list[int]) -> Iterator[list[int]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]


def batch_run(job_id: str) -> None:
    """Apply the job's action to its accounts, a chunk per transaction (one audit row per
    account, one version bump per chunk), reporting progress after each chunk. Run again
    after a lost worker, it skips what is already done (already in the state)."""
    job = Job.objects.select_related("domain", "domain__organization").filter(pk=job_id).first()
    if job is None or job.finished or job.domain is None:
        return
    params = job.params
    action, ids = params["action"], [int(i) for i in params["ids"]]
    actor = _actor(params)
    job_start(job_id, total=len(ids))
    tally = Tally()
    try:
        for chunk in _chunks(ids):
            failed = _apply_chunk(action, actor, job.domain, chunk, tally)
            job_advance(job_id, done=len(chunk), failed=failed)
    except Exception:  # the job page must not stay "Running" forever
        log.exception("batch job %s stopped", job_id)
        summary = tally.summary(action) + " The batch stopped on an internal error."
        job_finish(job_id, result={"summary": summary, "errors": tally.errors}, failed=True)
        return
    job_finish(job_id, result={"summary": tally.summary(action), "errors": tally.errors})


# --- the export ---------------------------------------------------------------------------

EXPORT_HEADER = [
    "address", "first_name", "last_name", "state", "quota_bytes", "storage_used_bytes",
    "last_login", "services", "forwards",
]  # fmt: skip
SERVICE_NAMES = [name.removesuffix("_enabled") for name in SERVICE_OFFERS]


def export_rows(domain: Domain, selection: Selection) -> Iterator[list[str]]:
    """The export's rows (header first), read in chunks so 100k accounts stream."""
    yield EXPORT_HEADER
    rows = selection_queryset(domain, selection)
    for mailbox in rows.iterator(chunk_size=2000):
        usage = mailbox.usage_or_none
        storage = usage.storage_bytes if usage is not None else None
        last_login = usage.last_login_at if usage is not None else None
        yield [
            f"{mailbox.local_part}@{domain.name}",
            mailbox.first_name,
            mailbox.last_name,
            mailbox.state,
            str(mailbox.quota_bytes),
            "" if storage is None else str(storage),
            last_login.isoformat() if last_login else "",
            " ".join(n for n in SERVICE_NAMES if getattr(mailbox, f"{n}_enabled")),
            " ".join(mailbox.forward_to or []),
        ]


@transaction.atomic
def batch_export_record(*, actor: Actor, domain: Domain, selection: Selection) -> None:
    """An export hands out personal data: the trail says who took which accounts."""
    audit_record(
        actor=actor,
        action="mailbox.export",
        obj=domain,
        organization=domain.organization,
        after={
            "all_matching": selection.all_matching,
            "query": selection.query,
            "status": selection.status,
            "accounts": len(selection.ids) if not selection.all_matching else "all matching",
        },
    )


def parse_ids(values: Iterable[str]) -> tuple[int, ...]:
    return tuple(int(v) for v in values if v.isdigit())[:MAX_PICKED]
