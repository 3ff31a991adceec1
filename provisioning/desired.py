"""Builds the desired state of a domain from the panel's database (the panel side of the loop)."""

from __future__ import annotations

from datetime import UTC, datetime

from domains.models import Domain
from mailboxes.models import Mailbox, MailboxKind, MailboxState
from provisioning.node.state import AccountState, DomainState

# Account switch -> the Dovecot service name it refuses when off. Webmail, ActiveSync and DAV
# front ends authenticate through Dovecot (SASL/auth socket) under their own service names.
SERVICE_SWITCHES = {
    "imap_enabled": "imap",
    "pop3_enabled": "pop3",
    "smtp_enabled": "smtp",
    "sieve_enabled": "sieve",
    "webmail_enabled": "webmail",
    "activesync_enabled": "eas",
    "dav_enabled": "dav",
}


def _utc(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S") if moment else ""


def domain_state(domain: Domain, version: int) -> DomainState:
    rows = (
        Mailbox.objects.filter(domain=domain)
        .order_by("local_part")
        .values(
            "id", "local_part", "password_hash", "state", "kind", "quota_bytes", "allowed_networks",
            "password_expired",
            "forward_to", "forward_keep_copy", "spam_to_inbox", "autoreply_enabled",
            "autoreply_subject", "autoreply_body", "autoreply_start", "autoreply_end",
            *SERVICE_SWITCHES,
        )
    )  # fmt: skip
    accounts = tuple(
        AccountState(
            id=row["id"],
            local_part=row["local_part"],
            password_hash=row["password_hash"],
            active=row["state"] == MailboxState.ACTIVE,
            quota_bytes=row["quota_bytes"],
            noreply=row["kind"] == MailboxKind.NOREPLY,
            password_expired=row["password_expired"],
            allow_nets=tuple(row["allowed_networks"] or ()),
            denied_services=tuple(s for f, s in SERVICE_SWITCHES.items() if not row[f]),
            forward_to=tuple(row["forward_to"] or ()),
            forward_keep_copy=row["forward_keep_copy"],
            spam_to_inbox=row["spam_to_inbox"],
            autoreply=row["autoreply_enabled"],
            autoreply_subject=row["autoreply_subject"],
            autoreply_body=row["autoreply_body"],
            autoreply_start=_utc(row["autoreply_start"]),
            autoreply_end=_utc(row["autoreply_end"]),
        )
        for row in rows.iterator(chunk_size=5000)
    )
    return DomainState(
        id=domain.pk,
        name=domain.name,
        version=version,
        accounts=accounts,
        catchall_target=domain.catchall_target,
    )
