"""The panel's side of usage read-back and retention: ask the nodes, store what they report.

beat ── request_usage_reports ─> report_usage(node)      [queue node.<name>, per MailNode]
                                   reads Redis (provisioning/node/usage.py)
                                 └─> record_usage(rows)   [queue "panel"]: MailboxUsage upsert
beat ── request_trash_purge ───> purge_trash()            [queue node.<name>, per MailNode]

The same beat task copies the policy service's "sent" counters (one Redis for all nodes) into
MailboxUsage.sent_24h, which the account list sorts on (refresh_sent_counts). With its usage,
a node reports its policy service's status (record_policy_status: MailNode.policy_*), which
needs neither the counters' Redis nor the service to be reachable from the panel.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from mailboxes.models import Mailbox, MailboxUsage
from mailboxes.sending import sent_counts
from provisioning.models import MailNode
from tempusmail.enqueue import enqueue

log = logging.getLogger(__name__)

# Addresses resolved per query (SQLite allows 999 bound parameters in old builds).
RESOLVE_BATCH = 400
# Fields a node may report; a None (not known there) never erases a value the panel has.
REPORTED = ("storage_bytes", "messages", "last_login_at", "last_login_protocol")
# A request its node did not pick up in time is dropped, the next one supersedes it: a node
# back after a day away must not work through a day of reports and purges.
REQUEST_EXPIRES_SECONDS = 600


def request_usage_report(node: MailNode) -> None:
    """Ask one node for a usage report now; its rows arrive through record_usage."""
    enqueue(
        "provisioning.tasks.report_usage",
        node.name,
        queue=node.queue,
        expires=REQUEST_EXPIRES_SECONDS,
    )


def request_usage_reports() -> int:
    nodes = list(MailNode.objects.all())
    for node in nodes:
        request_usage_report(node)
    return len(nodes)


def request_trash_purge() -> int:
    """Ask every node to delete the homes of deleted accounts older than its retention."""
    nodes = list(MailNode.objects.all())
    for node in nodes:
        enqueue("provisioning.tasks.purge_trash", queue=node.queue, expires=REQUEST_EXPIRES_SECONDS)
    return len(nodes)


def _split(address: str) -> tuple[str, str] | None:
    local, at, domain = address.rpartition("@")
    return (domain, local) if at and local and domain else None


def resolve_mailboxes(addresses: Iterable[str]) -> dict[str, int]:
    """{address: mailbox id} for the addresses that are accounts; unknown ones are left out."""
    wanted = sorted({pair for a in addresses if (pair := _split(a))})
    found: dict[str, int] = {}
    for start in range(0, len(wanted), RESOLVE_BATCH):
        by_domain: dict[str, list[str]] = defaultdict(list)
        for domain, local in wanted[start : start + RESOLVE_BATCH]:
            by_domain[domain].append(local)
        match = Q()
        for domain, locals_ in by_domain.items():
            match |= Q(domain__name=domain, local_part__in=locals_)
        rows = Mailbox.objects.filter(match).values_list("id", "local_part", "domain__name")
        found.update({f"{local}@{domain}": pk for pk, local, domain in rows})
    return found


def _usage(mailbox_id: int, row: dict[str, Any], now: datetime) -> MailboxUsage:
    at = row.get("last_login_at")
    return MailboxUsage(
        mailbox_id=mailbox_id,
        storage_bytes=row.get("storage_bytes"),
        messages=row.get("messages"),
        last_login_at=datetime.fromtimestamp(at, tz=UTC) if at is not None else None,
        last_login_protocol=row.get("last_login_protocol") or "",
        updated_at=now,
    )


@transaction.atomic
def record_usage(rows: Sequence[dict[str, Any]]) -> int:
    """Store a node's report (Usage.to_json() rows) in MailboxUsage; return the rows stored.

    One upsert per combination of reported fields, so a value the node does not know (None)
    keeps what the panel had. One transaction: a report is seen whole or not at all.
    """
    ids = resolve_mailboxes(row["address"] for row in rows)
    now = timezone.now()
    groups: dict[tuple[str, ...], list[MailboxUsage]] = defaultdict(list)
    for row in rows:
        mailbox_id = ids.get(row["address"])
        if mailbox_id is None:
            continue  # deleted in the panel since, or not an account of this panel
        known = tuple(name for name in REPORTED if row.get(name) not in (None, ""))
        groups[known].append(_usage(mailbox_id, row, now))
    for known, objs in groups.items():
        MailboxUsage.objects.bulk_create(
            objs,
            update_conflicts=True,
            unique_fields=["mailbox"],
            update_fields=[*known, "updated_at"],
        )
    stored = sum(len(objs) for objs in groups.values())
    if stored < len(rows):
        log.info("usage report: %s of %s addresses are not accounts", len(rows) - stored, len(rows))
    return stored


def record_policy_status(node_name: str, status: dict[str, Any] | None) -> bool:
    """Store what a node's policy service last said (provisioning/policy/status.py JSON, None:
    no status file there); False for a node the panel does not know."""
    since = status.get("fallback_since") if status else None
    return bool(
        MailNode.objects.filter(name=node_name).update(
            policy_fallback_since=(
                datetime.fromtimestamp(since, tz=UTC) if isinstance(since, int | float) else None
            ),
            policy_reported_at=timezone.now(),
        )
    )


def record_tls_status(node_name: str, status: dict[str, Any]) -> bool:
    """Store what a node said about its TLS (provisioning/mailstack/tls.py node_status) with the
    time it arrived; False for a node the panel does not know."""
    stored = {**status, "reported_at": timezone.now().timestamp()}
    return bool(MailNode.objects.filter(name=node_name).update(tls_status=stored))


def nodes_awaiting_report(nodes: Iterable[MailNode], since: datetime) -> list[MailNode]:
    """Those of the nodes, among the ones holding accounts, with no usage stored since `since`.

    A report is stored in one transaction, so one fresh row from a node means its report (or,
    for a node of more than USAGE_ROWS_PER_MESSAGE accounts, its first part) arrived.
    """
    nodes = list(nodes)
    holding = set(
        Mailbox.objects.filter(domain__node__in=nodes).values_list("domain__node", flat=True)
    )
    reported = set(
        MailboxUsage.objects.filter(updated_at__gte=since, mailbox__domain__node__in=nodes)
        .values_list("mailbox__domain__node", flat=True)
        .distinct()
    )
    return [node for node in nodes if node.pk in holding and node.pk not in reported]


# Usage rows per read of the sent counters (one query, one pipelined round trip, few updates).
SENT_BATCH = 5000


def refresh_sent_counts() -> int | None:
    """Copy "sent in 24 h" from the counters into MailboxUsage.sent_24h; return rows changed.

    None, changing nothing, if Redis cannot be read. Only rows a node report created are
    updated, and only sent_24h: updated_at stays the time of the node's last report (what
    `provision usage --wait` watches), and a row appears with the node's first report.
    """
    changed, last = 0, 0
    while True:
        batch = list(
            MailboxUsage.objects.filter(pk__gt=last)
            .order_by("pk")
            .values_list("pk", "mailbox_id", "sent_24h")[:SENT_BATCH]
        )
        if not batch:
            return changed
        last = batch[-1][0]
        counts = sent_counts(mailbox_id for _, mailbox_id, _ in batch)
        if counts is None:
            return None
        # One UPDATE per distinct count: most accounts share a few small values (0 above all),
        # and a CASE per row (bulk_update) costs 10x more at 20k changed rows.
        stale: dict[int, list[int]] = defaultdict(list)
        for pk, mailbox_id, stored in batch:
            if (count := counts[mailbox_id]) != stored:
                stale[count].append(pk)
        for count, pks in stale.items():
            for start in range(0, len(pks), RESOLVE_BATCH):
                MailboxUsage.objects.filter(pk__in=pks[start : start + RESOLVE_BATCH]).update(
                    sent_24h=count
                )
            changed += len(pks)
