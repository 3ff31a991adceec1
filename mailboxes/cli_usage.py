"""`manage.py mailbox usage ADDRESS [--json]`: what an account uses and sent, for ops scripts.

Storage and last access are what the mail node last reported (MailboxUsage); the sent counts
are live from the policy service's counters. If Redis cannot be read they are null (JSON) or
"unknown", and the rest is still printed.
"""

from __future__ import annotations

from typing import Any

from django.template.defaultfilters import filesizeformat

from mailboxes.models import Mailbox
from mailboxes.rules import (
    ACCOUNT_LIMIT_FIELDS,
    DOMAIN_LIMIT_FIELDS,
    effective_limits,
    plan_maximums,
)
from mailboxes.sending import UNAVAILABLE, sent_counts
from mailboxes.validators import format_size
from provisioning.login_guard import GuardUnavailable, failed_logins
from provisioning.sent_counter import DAY, HOUR


def usage_report(mailbox: Mailbox) -> dict[str, Any]:
    """Plain JSON values; sizes in bytes, times in ISO 8601 UTC, limits 0 = none."""
    usage = mailbox.usage_or_none
    domain = mailbox.domain
    limits = effective_limits(
        {f: getattr(mailbox, f) for f in ACCOUNT_LIMIT_FIELDS},
        {f: getattr(domain, f) for f in DOMAIN_LIMIT_FIELDS},
        plan_maximums(domain.organization.plan),
    )
    address = mailbox.address
    day, hour = sent_counts([mailbox.pk], DAY), sent_counts([mailbox.pk], HOUR)
    last_login = usage.last_login_at if usage else None
    return {
        "address": address,
        "storage_bytes": usage.storage_bytes if usage else None,
        "messages": usage.messages if usage else None,
        "quota_bytes": mailbox.quota_bytes,
        "last_login_at": last_login.isoformat() if last_login else None,
        "last_login_protocol": (usage.last_login_protocol or None) if usage else None,
        "reported_at": usage.updated_at.isoformat() if usage else None,
        "sent_24h": day[mailbox.pk] if day is not None else None,
        "sent_1h": hour[mailbox.pk] if hour is not None else None,
        "sent_error": UNAVAILABLE if day is None or hour is None else "",
        "daily_limit": limits["daily_send_limit"],
        "hourly_limit": limits["hourly_send_limit"],
        "max_recipients": limits["max_recipients"],
        "failed_logins_24h": _failed_logins(address),
    }


def _failed_logins(address: str) -> int | None:
    """Failed password logins with this address in 24 h (the guard's count; None: unknown)."""
    try:
        return len(failed_logins(address, DAY))
    except GuardUnavailable:
        return None


def _of(count: int | None, limit: int) -> str:
    if count is None:
        return "unknown"
    return f"{count} of {limit}" if limit else f"{count} (no limit)"


def usage_lines(report: dict[str, Any]) -> list[str]:
    """The report for a person: one "label  value" line per fact."""
    storage = report["storage_bytes"]
    quota = report["quota_bytes"]
    used = "not reported yet" if storage is None else filesizeformat(storage).replace("\xa0", " ")
    if storage is not None and quota:
        used += f" of {format_size(quota)} ({storage * 100 // quota} %)"
    elif storage is not None:
        used += " (no quota)"
    access = "never (or not reported yet)"
    if report["last_login_at"]:
        protocol = report["last_login_protocol"]
        access = report["last_login_at"] + (f" ({protocol.upper()})" if protocol else "")
    recipients = report["max_recipients"]
    lines = [
        ("address", report["address"]),
        ("storage used", used),
        ("last access", access),
        ("sent in 24 h", _of(report["sent_24h"], report["daily_limit"])),
        ("sent in 1 h", _of(report["sent_1h"], report["hourly_limit"])),
        ("recipients", f"at most {recipients} per message" if recipients else "no limit"),
        (
            "failed logins",
            "unknown" if (f := report["failed_logins_24h"]) is None else f"{f} in 24 h",
        ),
    ]
    if report["sent_error"]:
        lines.append(("note", report["sent_error"]))
    return [f"{label:<14} {value}" for label, value in lines]
