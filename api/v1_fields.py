"""Accounts in the JSON API: what an account looks like out (serialise) and what a request body
may say in (parse). Parsing checks only JSON types and the pages' own form-field limits; the
rules themselves (plan, limits, autoresponder, forwarding) stay in mailboxes/rules.py, reached
through the services, so the API refuses what the pages refuse with the same words.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from mailboxes.account_forms import AutoresponderForm, GeneralForm, SecurityForm
from mailboxes.models import Mailbox, MailboxKind
from mailboxes.rules import EDITABLE_FIELDS, SERVICE_OFFERS
from mailboxes.sending import SentCount

BOOLEAN_FIELDS = (
    *SERVICE_OFFERS, "force_password_change", "force_2fa", "owner_may_change_password",
    "owner_may_forward", "api_access", "spam_to_inbox", "forward_keep_copy", "autoreply_enabled",
)  # fmt: skip
# The form field whose clean() holds the page's limits (length, choices, range, no NUL).
FORM_FIELDS: dict[str, forms.Field] = {
    "first_name": GeneralForm.base_fields["first_name"],
    "last_name": GeneralForm.base_fields["last_name"],
    "language": GeneralForm.base_fields["language"],
    "time_zone": GeneralForm.base_fields["time_zone"],
    "autoreply_subject": AutoresponderForm.base_fields["autoreply_subject"],
    "autoreply_body": AutoresponderForm.base_fields["autoreply_body"],
    "password_expiry_days": SecurityForm.base_fields["password_expiry_days"],
}
LIMIT_FIELDS = ("daily_send_limit", "hourly_send_limit", "max_recipients")
LIST_FIELDS = ("forward_to", "allowed_networks")
MOMENT_FIELDS = ("autoreply_start", "autoreply_end", "password_expires_at")
FORWARDING = ("forward_to", "forward_keep_copy", "spam_to_inbox")
AUTORESPONDER = (
    "autoreply_enabled", "autoreply_subject", "autoreply_body", "autoreply_start", "autoreply_end",
)  # fmt: skip
# The account object's settings, in the order the document lists them.
SETTINGS = (
    "first_name", "last_name", "language", "time_zone", "quota_bytes", *LIMIT_FIELDS,
    *SERVICE_OFFERS, "force_password_change", "password_expiry_days", "password_expires_at",
    "force_2fa", "allowed_networks", "owner_may_change_password", "owner_may_forward",
    "api_access", *FORWARDING, *AUTORESPONDER,
)  # fmt: skip
assert set(SETTINGS) == EDITABLE_FIELDS  # a new setting must be added here too
MAX_PASSWORD_LENGTH = 1024


# --- out --------------------------------------------------------------------------------------


def _moment(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value else None


def _value(mailbox: Mailbox, field: str) -> Any:
    value = getattr(mailbox, field)
    return _moment(value) if field in MOMENT_FIELDS else value


def settings_of(mailbox: Mailbox, fields: Iterable[str]) -> dict[str, Any]:
    return {field: _value(mailbox, field) for field in fields}


def usage_of(mailbox: Mailbox) -> dict[str, Any]:
    """What the mail node last reported (nulls until it has)."""
    usage = mailbox.usage_or_none
    return {
        "storage_bytes": usage.storage_bytes if usage else None,
        "messages": usage.messages if usage else None,
        "last_login_at": _moment(usage.last_login_at) if usage else None,
        "last_login_protocol": (usage.last_login_protocol or None) if usage else None,
    }


def account(mailbox: Mailbox) -> dict[str, Any]:
    """The account object; mailbox.domain and mailbox.usage should be loaded with it."""
    return {
        "address": mailbox.address,
        "local_part": mailbox.local_part,
        "domain": mailbox.domain.name,
        "kind": mailbox.kind,
        "state": mailbox.state,
        "status": mailbox.sync_status.value,
        "created_at": _moment(mailbox.created_at),
        "updated_at": _moment(mailbox.updated_at),
        "password_changed_at": _moment(mailbox.password_changed_at),
        "password_expired": mailbox.password_expired,
        "settings": settings_of(mailbox, SETTINGS),
        "usage": usage_of(mailbox),
    }


def provisioning_of(mailbox: Mailbox) -> dict[str, Any]:
    domain = mailbox.domain
    return {
        "status": mailbox.sync_status.value,
        "changed_version": mailbox.changed_version,
        "error": mailbox.sync_error or None,
        "domain": {
            "desired_version": domain.desired_version,
            "applied_version": domain.applied_version,
            "in_sync": domain.is_in_sync,
            "error": domain.apply_error or None,
        },
    }


def sent_of(count: SentCount | None) -> dict[str, Any] | None:
    if count is None:
        return None
    return {
        "day": count.day,
        "hour": count.hour,
        "daily_limit": count.daily_limit,
        "hourly_limit": count.hourly_limit,
        "near_limit": count.near_limit,
    }


# --- in ---------------------------------------------------------------------------------------


def json_body(request: HttpRequest) -> dict[str, Any]:
    """The request's JSON object, or a ValidationError saying what is wrong with it."""
    try:
        body = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise ValidationError("The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise ValidationError("The request body must be a JSON object.")
    return body


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValidationError("Enter true or false.")
    return value


def _whole(value: Any, *, nullable: bool) -> int | None:
    if value is None and nullable:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValidationError("Enter a whole number" + (" or null." if nullable else "."))
    return value


def _addresses(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValidationError("Enter a list of strings.")
    return value


def _moment_in(value: Any) -> datetime | None:
    """An ISO 8601 date and time with its offset (null: none), as UTC."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise ValidationError("Enter a date and time with its offset, e.g. 2030-01-31T09:00:00Z.")
    if not 1970 <= parsed.year <= 9998:
        raise ValidationError("Enter a year between 1970 and 9998.")
    return parsed.astimezone(UTC)


def _parser(field: str) -> Callable[[Any], Any]:
    if field == "password_expiry_days":
        return lambda v: None if v is None else FORM_FIELDS[field].clean(_whole(v, nullable=True))
    if field in FORM_FIELDS:
        return _text(FORM_FIELDS[field])
    if field in BOOLEAN_FIELDS:
        return _boolean
    if field in LIMIT_FIELDS:
        return lambda v: _whole(v, nullable=True)
    if field == "quota_bytes":
        return lambda v: _whole(v, nullable=False)
    if field in LIST_FIELDS:
        return _addresses
    return _moment_in  # MOMENT_FIELDS


def _text(field: forms.Field) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        if not isinstance(value, str):
            raise ValidationError("Enter a string.")
        return field.clean(value)

    return parse


def settings_in(body: dict[str, Any], allowed: Iterable[str]) -> dict[str, Any]:
    """The settings of a body, typed and checked; every unknown or bad field is an error."""
    allowed = set(allowed)
    changes: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for field, value in body.items():
        if field not in allowed:
            errors[field] = ["Not a field of this resource."]
            continue
        try:
            changes[field] = _parser(field)(value)
        except ValidationError as exc:
            errors[field] = exc.messages
    if errors:
        raise ValidationError(errors)
    return changes


def password_in(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValidationError({"password": ["Enter a password (a non-empty string)."]})
    if "\x00" in value or len(value) > MAX_PASSWORD_LENGTH:
        raise ValidationError(
            {"password": [f"At most {MAX_PASSWORD_LENGTH} characters, and no null characters."]}
        )
    return value


def kind_in(value: Any) -> MailboxKind:
    if value not in MailboxKind.values:
        raise ValidationError({"kind": [f"One of: {', '.join(MailboxKind.values)}."]})
    return MailboxKind(value)


def api_field_names(exc: ValidationError) -> ValidationError:
    """A service error as the API names its fields (the rules say "quota", we "quota_bytes")."""
    if not hasattr(exc, "error_dict"):
        return exc
    errors = exc.message_dict
    if "quota" in errors:
        errors["quota_bytes"] = errors.pop("quota")
    return ValidationError(errors)
