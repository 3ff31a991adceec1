"""The panel's side of the mail queue: ask the nodes, keep what they report, retry and delete.

request_queue_report(node) ─> report_queue(node)        [queue node.<name>] postqueue -j
                                └─> record_queue(rows)   [queue "panel"]: replaces the node's
                                                          QueuedMessage rows, QueueReport time
queue_retry / queue_delete ─> queue_action(ids)          [queue node.<name>] postqueue -i /
                                                          postsuper -d, then reports again
beat ── request_queue_reports ─> report_queue on every node

The panel keeps a snapshot (refreshed on request, by beat, and after every action) rather than
asking synchronously: a page never waits for a node, and a node that is down shows its last
report with its time. Which domain a message belongs to: see QueuedMessage.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from domains.models import Domain
from provisioning.models import MailNode, QueuedMessage, QueueReport
from provisioning.node.queue import ACTIONS, QUEUE_ID
from security.audit import Actor, audit_record
from tempusmail.enqueue import enqueue, enqueue_on_commit

# A request its node did not pick up in time is dropped; the next one supersedes it.
REQUEST_EXPIRES_SECONDS = 600


def request_queue_report(node: MailNode) -> None:
    enqueue(
        "provisioning.tasks.report_queue",
        node.name,
        queue=node.queue,
        expires=REQUEST_EXPIRES_SECONDS,
    )


def request_queue_reports(nodes: Iterable[MailNode] | None = None) -> int:
    nodes = list(MailNode.objects.all() if nodes is None else nodes)
    for node in nodes:
        request_queue_report(node)
    return len(nodes)


def reported_at(node: MailNode) -> datetime | None:
    report = QueueReport.objects.filter(node=node).first()
    return report.reported_at if report else None


def wait_for_reports(
    nodes: Sequence[MailNode], since: datetime | None, timeout: float
) -> list[MailNode]:
    """Wait until every node reported after `since`; return those that did not in time."""
    deadline = time.monotonic() + timeout
    while True:
        done = set(
            QueueReport.objects.filter(
                node__in=nodes, reported_at__gt=since or datetime.min.replace(tzinfo=UTC)
            ).values_list("node_id", flat=True)
        )
        waiting = [node for node in nodes if node.pk not in done]
        if not waiting or time.monotonic() >= deadline:
            return waiting
        time.sleep(0.2)


def _domain_of(sender: str, recipients: Sequence[str], hosted: dict[str, int]) -> int | None:
    for address in (sender, *recipients):
        domain = address.rpartition("@")[2].lower()
        if domain in hosted:
            return hosted[domain]
    return None


@transaction.atomic
def record_queue(
    node_name: str, rows: Sequence[dict[str, Any]], error: str = "", listed_at: float | None = None
) -> int:
    """Replace the node's snapshot with its report (provisioning/node/queue.py QueuedMail
    JSON rows, read at listed_at on the node's clock); return the rows stored, -1 for a node
    the panel does not know or a report older than the stored one. A report that failed on
    the node (error) keeps the previous rows and says why."""
    node = MailNode.objects.select_for_update().filter(name=node_name).first()
    if node is None:
        return -1
    listed = datetime.fromtimestamp(listed_at, tz=UTC) if listed_at is not None else None
    stored = QueueReport.objects.filter(node=node).first()
    if stored and stored.listed_at and listed and listed < stored.listed_at:
        return -1
    now = timezone.now()
    QueueReport.objects.update_or_create(
        node=node, defaults={"reported_at": now, "listed_at": listed, "error": error[:500]}
    )
    if error:
        return 0
    names = {
        address.rpartition("@")[2].lower()
        for row in rows
        for address in (row["sender"], *row["recipients"])
    }
    hosted = dict(Domain.objects.filter(name__in=names).values_list("name", "id"))
    QueuedMessage.objects.filter(node=node).delete()
    QueuedMessage.objects.bulk_create(
        QueuedMessage(
            node=node,
            queue_id=row["id"],
            domain_id=_domain_of(row["sender"], row["recipients"], hosted),
            state=row["state"],
            sender=row["sender"],
            recipients=list(row["recipients"]),
            reason=row["reason"],
            arrival=datetime.fromtimestamp(row["arrival"], tz=UTC),
            size=row["size"],
            reported_at=now,
        )
        for row in rows
    )
    return len(rows)


# --- reads -------------------------------------------------------------------------------------


def queued_for_domains(domains: QuerySet[Domain]) -> QuerySet[QueuedMessage]:
    return QueuedMessage.objects.filter(domain__in=domains.values("id")).select_related(
        "node", "domain"
    )


def queued_on_node(node: MailNode) -> QuerySet[QueuedMessage]:
    return QueuedMessage.objects.filter(node=node).select_related("node", "domain")


# --- actions -----------------------------------------------------------------------------------


def _check_ids(ids: Sequence[str]) -> None:
    bad = [i for i in ids if not QUEUE_ID.fullmatch(i)]
    if bad:
        raise ValidationError({"id": f"{bad[0]!r} is not a Postfix queue id."})


@transaction.atomic
def queue_act(*, actor: Actor, action: str, messages: Sequence[QueuedMessage]) -> int:
    """Retry or delete the messages on their nodes: one audit row each, the node tasks sent
    on commit (the nodes report their queues again afterwards). Returns the messages asked."""
    if action not in ACTIONS:
        raise ValidationError({"action": f"Unknown queue action {action!r}."})
    if not messages:
        raise ValidationError({"id": "No queued message to act on."})
    _check_ids([m.queue_id for m in messages])
    by_node: dict[MailNode, list[str]] = {}
    for message in messages:
        by_node.setdefault(message.node, []).append(message.queue_id)
        domain = message.domain if message.domain_id else None  # no query for no domain
        audit_record(
            actor=actor,
            action=f"queue.{action}",
            obj=domain if domain is not None else message.node,
            organization=domain.organization if domain is not None else None,
            before={
                "queue_id": message.queue_id,
                "node": message.node.name,
                "sender": message.sender,
                "recipients": message.recipients,
                "reason": message.reason,
            },
        )
    for node, ids in by_node.items():
        enqueue_on_commit(
            "provisioning.tasks.queue_action", node.name, action, ids, queue=node.queue
        )
    return len(messages)


def queue_retry(*, actor: Actor, messages: Sequence[QueuedMessage]) -> int:
    return queue_act(actor=actor, action="retry", messages=messages)


def queue_delete(*, actor: Actor, messages: Sequence[QueuedMessage]) -> int:
    return queue_act(actor=actor, action="delete", messages=messages)


def messages_matching(queue_id: str) -> list[QueuedMessage]:
    """Every snapshot row with this id (one, but ids are only unique per node)."""
    _check_ids([queue_id])
    return list(
        QueuedMessage.objects.filter(queue_id=queue_id).select_related(
            "node", "domain__organization"
        )
    )


def domain_filter(name: str) -> Q:
    return Q(domain__name=name.strip().lower().rstrip("."))
