"""Celery entry points of the provisioning loop. Thin: ids or JSON in, services do the work.

panel queue:   provision_domain -> (build state) -> apply_domain on queue node.<name>
node queue:    apply_domain -> (write files) -> record_applied on the panel queue
beat:          reconcile -> provision_domain for whatever lags behind

Usage and retention (provisioning/usage.py, provisioning/node/usage.py):
beat / `provision usage`: request_usage_reports -> report_usage on every node queue
node queue:    report_usage -> (read Redis) -> record_usage on the panel queue
                            -> (read policy/state/status.json) -> record_policy_status
beat:          request_trash_purge -> purge_trash on every node queue

The mail queue (provisioning/queue.py, provisioning/node/queue.py):
beat / page / `queue list`: request_queue_reports -> report_queue on every node queue
node queue:    report_queue -> (postqueue -j) -> record_queue on the panel queue
               queue_action -> (postqueue -i / postsuper -d) -> report_queue's report
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict
from typing import Any

from celery import shared_task

from provisioning import queue as mail_queue
from provisioning import services, usage
from provisioning.desired import domain_state

log = logging.getLogger(__name__)

PANEL_QUEUE = "panel"


@shared_task(name="provisioning.tasks.provision_domain")
def provision_domain(domain_id: int, force: bool = False) -> None:
    domain = services.claim_for_sending(domain_id, force=force)
    if domain is None:
        return
    state = domain_state(domain, domain.sent_version)
    apply_domain.apply_async(
        args=({"domain_id": domain.pk, "state": state.to_json()},),
        queue=domain.node.queue,
        compression="zlib",  # a 100k-account domain is megabytes of JSON
    )


@shared_task(name="provisioning.tasks.apply_domain")
def apply_domain(payload: dict[str, Any]) -> None:
    # Runs on the mail node: no database here, only the payload and the node's own files.
    from provisioning.agent_runtime import local_agent
    from provisioning.node.state import DomainState

    state = DomainState.from_json(payload["state"])
    error = ""
    try:
        result = local_agent().apply_domain(state)
        log.info("applied %s v%s in %.3fs: %s", state.name, state.version, result.seconds, result)
    except Exception as exc:  # any failure is reported to the panel, shown, and retried
        log.exception("apply of %s v%s failed", state.name, state.version)
        error = f"{type(exc).__name__}: {exc}"
    record_applied.apply_async(args=(payload["domain_id"], state.version, error), queue=PANEL_QUEUE)


@shared_task(name="provisioning.tasks.record_applied")
def record_applied(domain_id: int, version: int, error: str = "") -> None:
    services.record_applied(domain_id, version, error)


@shared_task(name="provisioning.tasks.reconcile")
def reconcile() -> int:
    pending = services.domains_to_resend()
    for domain_id, force in pending:
        services.dispatch(domain_id, force=force)
    return len(pending)


# --- usage read-back and retention -----------------------------------------------------------

# Rows per record_usage message: a 100k-account node sends a few messages, not one of 10 MB.
USAGE_ROWS_PER_MESSAGE = 5000


@shared_task(name="provisioning.tasks.request_usage_reports")
def request_usage_reports() -> int:
    asked = usage.request_usage_reports()
    # The sent counters live in one Redis for all nodes: the panel reads them itself.
    if usage.refresh_sent_counts() is None:
        log.warning("sent counters unavailable: the stored sent-in-24 h values are kept")
    return asked


@shared_task(name="provisioning.tasks.report_usage")
def report_usage(node_name: str) -> int:
    # Runs on the mail node: reads what its Dovecot wrote into Redis for the accounts it serves.
    from django.conf import settings

    from provisioning.node.paths import NodePaths
    from provisioning.node.usage import UsageStore, node_usage
    from provisioning.policy.status import read_status

    paths = NodePaths(settings.MAILNODE_DIR)
    # The Redis `mailstack start` configured Dovecot with; the settings when it never ran here.
    store = UsageStore.load(paths) or UsageStore(
        url=settings.MAILNODE_REDIS_URL, prefix=settings.MAILNODE_REDIS_PREFIX
    )
    rows = [row.to_json() for row in node_usage(paths, store)]
    # The policy service's status file: is this node counting sent mail on its own?
    status = read_status(paths.policy_state_dir)
    record_policy_status.apply_async(
        args=(node_name, asdict(status) if status else None), queue=PANEL_QUEUE
    )
    # Its certificate (issue 15): the panel shows per domain whether TLS is active, or why not.
    from provisioning.mailstack.profile import ProfileError
    from provisioning.mailstack.profile import from_settings as profile_from_settings
    from provisioning.mailstack.tls import node_status

    try:
        tls = node_status(profile_from_settings(), paths.root / "tls")
    except ProfileError as exc:
        tls = {"hostname": "", "not_after": None, "sni": [], "error": str(exc)}
    record_tls_status.apply_async(args=(node_name, tls), queue=PANEL_QUEUE)
    for start in range(0, len(rows), USAGE_ROWS_PER_MESSAGE):
        record_usage.apply_async(
            args=(rows[start : start + USAGE_ROWS_PER_MESSAGE],),
            queue=PANEL_QUEUE,
            compression="zlib",
        )
    log.info("node %s reported usage of %s account(s)", node_name, len(rows))
    return len(rows)


@shared_task(name="provisioning.tasks.record_usage")
def record_usage(rows: list[dict[str, Any]]) -> int:
    return usage.record_usage(rows)


@shared_task(name="provisioning.tasks.record_policy_status")
def record_policy_status(node_name: str, status: dict[str, Any] | None) -> bool:
    return usage.record_policy_status(node_name, status)


@shared_task(name="provisioning.tasks.record_tls_status")
def record_tls_status(node_name: str, status: dict[str, Any]) -> bool:
    return usage.record_tls_status(node_name, status)


@shared_task(name="provisioning.tasks.request_trash_purge")
def request_trash_purge() -> int:
    return usage.request_trash_purge()


@shared_task(name="provisioning.tasks.purge_trash")
def purge_trash() -> list[str]:
    # Runs on the mail node, with the node's own retention setting.
    from django.conf import settings

    from provisioning.node.paths import NodePaths
    from provisioning.node.usage import purge_trash as purge

    purged = purge(
        NodePaths(settings.MAILNODE_DIR), retention_days=settings.MAILNODE_TRASH_RETENTION_DAYS
    )
    if purged:
        log.info("purged %s deleted home(s) from trash: %s", len(purged), ", ".join(purged))
    return purged


# --- the mail queue ----------------------------------------------------------------------------


@shared_task(name="provisioning.tasks.request_queue_reports")
def request_queue_reports() -> int:
    return mail_queue.request_queue_reports()


def _send_queue_report(node_name: str) -> int:
    # On the mail node: list its own Postfix queue and send the rows to the panel.
    from django.conf import settings

    from provisioning.node.paths import NodePaths
    from provisioning.node.queue import QueueError, list_queue

    listed_at = time.time()
    try:
        rows = [mail.to_json() for mail in list_queue(NodePaths(settings.MAILNODE_DIR))]
        error = ""
    except QueueError as exc:
        log.warning("queue of node %s not read: %s", node_name, exc)
        rows, error = [], str(exc)
    record_queue.apply_async(
        args=(node_name, rows, error, listed_at), queue=PANEL_QUEUE, compression="zlib"
    )
    return len(rows)


@shared_task(name="provisioning.tasks.report_queue")
def report_queue(node_name: str) -> int:
    return _send_queue_report(node_name)


@shared_task(name="provisioning.tasks.queue_action")
def queue_action(node_name: str, action: str, ids: list[str]) -> list[str]:
    # On the mail node: retry or delete, then report the queue as it is now.
    from django.conf import settings

    from provisioning.node.paths import NodePaths
    from provisioning.node.queue import QueueError, act

    try:
        done = act(NodePaths(settings.MAILNODE_DIR), action, ids)
        log.info("queue %s on node %s: %s", action, node_name, ", ".join(done) or "nothing left")
    except QueueError as exc:
        log.warning("queue %s on node %s failed: %s", action, node_name, exc)
        done = []
    _send_queue_report(node_name)
    return done


@shared_task(name="provisioning.tasks.record_queue")
def record_queue(
    node_name: str, rows: list[dict[str, Any]], error: str = "", listed_at: float | None = None
) -> int:
    return mail_queue.record_queue(node_name, rows, error, listed_at)
