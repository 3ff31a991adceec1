"""The panel's side of provisioning: versions, dispatch, acknowledgements, reconciliation.

Every service that changes what a mail node serves calls domain_bump() inside its transaction;
the change is sent to the node once the transaction commits.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from domains.models import Domain
from provisioning.models import MailNode
from tempusmail.enqueue import enqueue

log = logging.getLogger(__name__)


def default_node() -> MailNode:
    node, _ = MailNode.objects.get_or_create(name=settings.DEFAULT_MAIL_NODE)
    return node


def domain_bump(domain: Domain) -> int:
    """Count one more change to the domain; return the version that carries it.

    Must run inside the caller's transaction; the UPDATE also serialises concurrent changes
    to one domain. The domain is sent to its node when the transaction commits.
    """
    Domain.objects.filter(pk=domain.pk).update(desired_version=F("desired_version") + 1)
    version = Domain.objects.values_list("desired_version", flat=True).get(pk=domain.pk)
    domain.desired_version = version
    _dispatch_on_commit(domain.pk)
    return version


def _dispatch_on_commit(domain_id: int) -> None:
    """Send the domain when the transaction commits, once: a batch creating 10,000 accounts in
    one transaction queues one send, not 10,000 (the claim would drop 9,999 of them anyway).
    The pending callbacks are Django's own list, so a rolled-back savepoint's send is gone from
    it and a later change in the same transaction queues a new one."""
    pending = transaction.get_connection().run_on_commit
    if any(getattr(callback, "domain_id", None) == domain_id for _, callback, _ in pending):
        return

    def send() -> None:
        dispatch(domain_id)

    send.domain_id = domain_id  # type: ignore[attr-defined]
    # robust: a broker outage must not fail the (already committed) change; reconcile resends.
    transaction.on_commit(send, robust=True)


def dispatch(domain_id: int, *, force: bool = False) -> None:
    enqueue("provisioning.tasks.provision_domain", domain_id, force)


def claim_for_sending(domain_id: int, *, force: bool = False) -> Domain | None:
    """Claim the right to send the domain's current version; None if there is nothing to send.

    A conditional UPDATE, so that of many queued sends for the same change only one builds
    and ships the state (changes made in a burst coalesce into one apply).
    """
    domain = Domain.objects.select_related("node").filter(pk=domain_id).first()
    if domain is None:
        return None
    if domain.applied_version >= domain.desired_version:
        return None
    if not force and domain.sent_version >= domain.desired_version:
        return None
    claimed = Domain.objects.filter(
        pk=domain_id, sent_version=domain.sent_version, desired_version=domain.desired_version
    ).update(sent_version=domain.desired_version, sent_at=timezone.now())
    if not claimed and not force:
        return None
    domain.sent_version = domain.desired_version
    return domain


def record_applied(domain_id: int, version: int, error: str = "") -> None:
    """The node's acknowledgement: version applied, or the reason it could not be."""
    now = timezone.now()
    if error:
        Domain.objects.filter(pk=domain_id, applied_version__lt=version).update(
            apply_error=error[:2000], apply_error_at=now, apply_failures=F("apply_failures") + 1
        )
        log.warning("domain %s version %s failed to apply: %s", domain_id, version, error)
        return
    Domain.objects.filter(pk=domain_id, applied_version__lt=version).update(
        applied_version=version, applied_at=now, apply_error="", apply_error_at=None,
        apply_failures=0,
    )  # fmt: skip


MAX_RETRY_SECONDS = 300


def retry_delay(failures: int) -> float:
    """Seconds to wait before re-sending a domain: doubles with each failed apply in a row."""
    base: float = settings.PROVISIONING_RESEND_AFTER_SECONDS
    factor: int = 2 ** min(failures, 16)  # typeshed: int ** int is Any (a negative power)
    return min(base * factor, max(base, MAX_RETRY_SECONDS))


def domains_to_resend() -> list[tuple[int, bool]]:
    """(domain id, force) for every lagging domain whose change was never sent (the broker
    was down at commit) or was sent long enough ago to count as lost (message lost, worker
    dead, node down), or whose failed apply is due for another try (with backoff)."""
    now = timezone.now()
    lagging = Domain.objects.lagging()
    unsent = lagging.filter(sent_version__lt=F("desired_version")).values_list("id", flat=True)
    sent = lagging.filter(sent_version__gte=F("desired_version")).values_list(
        "id", "sent_at", "apply_failures"
    )
    due = [
        pk
        for pk, sent_at, failures in sent
        if sent_at is None or sent_at < now - timedelta(seconds=retry_delay(failures))
    ]
    return [(pk, False) for pk in unsent] + [(pk, True) for pk in due]


def local_mode() -> bool:
    """`make run`: tasks run eagerly in the panel's process and the panel's machine is the
    mail node; no worker, no beat, so nothing retries a failed apply on its own."""
    return bool(settings.CELERY_TASK_ALWAYS_EAGER)


def apply_lagging_now() -> tuple[int, list[str]]:
    """Send every lagging domain again, now, whatever its backoff (`mailstack start` in local
    mode: the mail servers just came up, so what failed before may apply now).

    Returns (domains sent, "name: error" of those that still failed)."""
    lagging = list(Domain.objects.lagging().values_list("pk", flat=True))
    for domain_id in lagging:
        dispatch(domain_id, force=True)  # eager: applied before this returns
    still = Domain.objects.lagging().filter(pk__in=lagging).exclude(apply_error="")
    return len(lagging), [f"{d.name}: {d.apply_error}" for d in still]
