"""Builds the desired state of a domain from the panel's database (the panel side of the loop)."""

from __future__ import annotations

from domains.models import Domain
from mailboxes.models import Mailbox, MailboxState
from provisioning.node.state import AccountState, DomainState


def domain_state(domain: Domain, version: int) -> DomainState:
    rows = (
        Mailbox.objects.filter(domain=domain)
        .order_by("local_part")
        .values_list("id", "local_part", "password_hash", "state", "quota_bytes")
    )
    accounts = tuple(
        AccountState(
            id=pk,
            local_part=local_part,
            password_hash=password_hash,
            active=state == MailboxState.ACTIVE,
            quota_bytes=quota_bytes,
        )
        for pk, local_part, password_hash, state, quota_bytes in rows.iterator(chunk_size=5000)
    )
    return DomainState(id=domain.pk, name=domain.name, version=version, accounts=accounts)
