"""The rules an account's settings must follow, checked by the services before any write.

Each failure is a ValidationError keyed by the field it concerns, so a form shows it next to
that field (the quota is keyed "quota", as the forms and the CLI name it).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError

from mailboxes.models import Mailbox
from mailboxes.validators import format_size, parse_address_list, parse_networks

# Which plan offer each service switch needs.
SERVICE_OFFERS = {
    "imap_enabled": "offers_pop_imap_smtp",
    "pop3_enabled": "offers_pop_imap_smtp",
    "smtp_enabled": "offers_pop_imap_smtp",
    "sieve_enabled": "offers_pop_imap_smtp",
    "webmail_enabled": "offers_webmail",
    "activesync_enabled": "offers_activesync",
    "dav_enabled": "offers_dav",
}

EDITABLE_FIELDS = frozenset(
    {
        "first_name", "last_name", "language", "time_zone", "quota_bytes", "daily_send_limit",
        *SERVICE_OFFERS,
        "force_password_change", "password_expiry_days", "password_expires_at", "force_2fa",
        "allowed_networks",
        "api_access", "spam_to_inbox", "forward_to", "forward_keep_copy",
        "autoreply_enabled", "autoreply_subject", "autoreply_body", "autoreply_start",
        "autoreply_end",
    }
)  # fmt: skip


def normalize_settings(mailbox: Mailbox, changes: dict[str, Any]) -> dict[str, Any]:
    """Check and normalise settings for mailbox (which may not be saved yet)."""
    unknown = set(changes) - EDITABLE_FIELDS
    if unknown:
        raise ValueError(f"not editable: {', '.join(sorted(unknown))}")
    errors: dict[str, list[str]] = {}
    normalized = dict(changes)
    for field, parse in (("forward_to", parse_address_list), ("allowed_networks", parse_networks)):
        if field in changes:
            try:
                normalized[field] = parse(changes[field])
            except ValidationError as exc:
                errors[field] = exc.messages
    if mailbox.address in normalized.get("forward_to", []):
        errors.setdefault("forward_to", []).append("An account cannot forward to itself.")
    errors.update(_plan_errors(mailbox, normalized))
    errors.update(_autoreply_errors(mailbox, normalized))
    if errors:
        raise ValidationError(errors)
    return normalized


def _plan_errors(mailbox: Mailbox, changes: dict[str, Any]) -> dict[str, list[str]]:
    plan = mailbox.domain.organization.plan
    if plan is None:
        return {}
    errors: dict[str, list[str]] = {}
    for field, offer in SERVICE_OFFERS.items():
        if changes.get(field) and not getattr(plan, offer):
            label = Mailbox._meta.get_field(field).verbose_name
            errors[field] = [f"{label} is not part of the organization's plan ({plan.name})."]
    quota = changes.get("quota_bytes")
    limit = plan.max_quota_bytes
    if quota is not None and limit is not None and (quota == 0 or quota > limit):
        errors["quota"] = [f"The plan allows at most {format_size(limit)} per account."]
    return errors


def _autoreply_errors(mailbox: Mailbox, changes: dict[str, Any]) -> dict[str, list[str]]:
    def value(field: str) -> Any:
        return changes.get(field, getattr(mailbox, field))

    errors: dict[str, list[str]] = {}
    start, end = value("autoreply_start"), value("autoreply_end")
    if start and end and end <= start:
        errors["autoreply_end"] = ["The end must be after the start."]
    if value("autoreply_enabled") and not str(value("autoreply_subject")).strip():
        errors["autoreply_subject"] = ["An automatic reply needs a subject."]
    return errors
