"""Celery entry points of the provisioning loop. Thin: ids or JSON in, services do the work.

panel queue:   provision_domain -> (build state) -> apply_domain on queue node.<name>
node queue:    apply_domain -> (write files) -> record_applied on the panel queue
beat:          reconcile -> provision_domain for whatever lags behind
"""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task

from provisioning import services
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
        args=[{"domain_id": domain.pk, "state": state.to_json()}],
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
    record_applied.apply_async(args=[payload["domain_id"], state.version, error], queue=PANEL_QUEUE)


@shared_task(name="provisioning.tasks.record_applied")
def record_applied(domain_id: int, version: int, error: str = "") -> None:
    services.record_applied(domain_id, version, error)


@shared_task(name="provisioning.tasks.reconcile")
def reconcile() -> int:
    pending = services.domains_to_resend()
    for domain_id, force in pending:
        services.dispatch(domain_id, force=force)
    return len(pending)
