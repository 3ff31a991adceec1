"""Builds the desired state of a domain from the panel's database (the panel side of the loop)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from domains.dkim_services import signing_keys
from domains.models import Domain
from mailboxes.models import Mailbox, MailboxKind, MailboxState
from mailboxes.rules import (
    ACCOUNT_LIMIT_FIELDS,
    DOMAIN_LIMIT_FIELDS,
    PLAN_LIMIT_FIELDS,
    effective_limits,
)
from organizations.models import Plan
from provisioning.node.state import AccountState, DkimSigning, DomainState

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
    # Limits resolve per account: its own, else the domain's default, else the plan's maximum.
    defaults = {f: getattr(domain, f) for f in DOMAIN_LIMIT_FIELDS}
    maximums = (
        Plan.objects.filter(organization__domains=domain).values(*PLAN_LIMIT_FIELDS).first() or {}
    )
    rows = (
        Mailbox.objects.filter(domain=domain)
        .order_by("local_part")
        .values(
            "id", "local_part", "password_hash", "state", "kind", "quota_bytes", "allowed_networks",
            "password_expired",
            "forward_to", "forward_keep_copy", "spam_to_inbox", "autoreply_enabled",
            "autoreply_subject", "autoreply_body", "autoreply_start", "autoreply_end",
            *SERVICE_SWITCHES, *ACCOUNT_LIMIT_FIELDS,
        )
    )  # fmt: skip
    # What an account without its own value gets (resolved once: the rows are many).
    inherited = effective_limits({}, defaults, maximums)
    accounts = tuple(_account(row, inherited) for row in rows.iterator(chunk_size=5000))
    return DomainState(
        id=domain.pk,
        name=domain.name,
        version=version,
        accounts=accounts,
        catchall_target=domain.catchall_target,
        dkim=tuple(
            DkimSigning(k.selector, k.algorithm, k.private_key) for k in signing_keys(domain)
        ),
        spam_junk=float(domain.spam_junk_score),
        spam_reject=float(domain.spam_reject_score),
    )


def _account(row: dict[str, Any], inherited: dict[str, int]) -> AccountState:
    limits = {f: inherited[f] if row[f] is None else row[f] for f in inherited}
    return AccountState(
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
        daily_limit=limits["daily_send_limit"],
        hourly_limit=limits["hourly_send_limit"],
        max_recipients=limits["max_recipients"],
    )
