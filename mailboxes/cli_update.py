"""`manage.py mailbox update ADDRESS --option ...`: command-line options to mailbox_update()."""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone

from mailboxes.validators import parse_size
from provisioning.desired import SERVICE_SWITCHES

# --services names -> the account's switches (the Dovecot service names, "eas" for ActiveSync).
SERVICE_NAMES = {service: switch for switch, service in SERVICE_SWITCHES.items()}


# --<option> -> (the Mailbox field it sets, what it limits).
LIMIT_OPTIONS = {
    "daily-limit": ("daily_send_limit", "Messages per sliding 24 hours"),
    "hourly-limit": ("hourly_send_limit", "Messages per sliding hour"),
    "max-recipients": ("max_recipients", "Recipients per message"),
}


def add_update_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("address")
    parser.add_argument("--quota", help="Storage quota, e.g. 2G; 0 = unlimited.")
    parser.add_argument(
        "--services",
        help=f"Comma-separated services to allow, the others are switched off "
        f"({','.join(SERVICE_NAMES)}); empty: none.",
    )
    parser.add_argument("--allow-nets", help="Comma-separated trusted networks; empty: anywhere.")
    parser.add_argument(
        "--forward", help="Comma-separated forwarding addresses (≤ 20); empty: none."
    )
    copy = parser.add_mutually_exclusive_group()
    copy.add_argument("--keep-copy", action="store_true", default=None, dest="keep_copy")
    copy.add_argument("--no-keep-copy", action="store_false", dest="keep_copy")
    parser.add_argument("--spam-to-inbox", choices=["yes", "no"])
    parser.add_argument("--autoreply", choices=["yes", "no"], help="Switch the autoresponder.")
    parser.add_argument("--autoreply-subject")
    parser.add_argument("--autoreply-body")
    parser.add_argument("--autoreply-start", help="ISO 8601, e.g. 2026-12-24T00:00+01:00.")
    parser.add_argument("--autoreply-end", help="ISO 8601; naive times are the account's zone.")
    parser.add_argument(
        "--password-expires", help="ISO 8601 date(-time) the password expires; empty: never."
    )
    parser.add_argument("--first-name")
    parser.add_argument("--last-name")
    for option, (_, what) in LIMIT_OPTIONS.items():
        parser.add_argument(
            f"--{option}", help=f"{what}; 0 = no limit; empty: the domain's default."
        )


def _moment(value: str, field: str, zone: str) -> datetime | None:
    if value == "":
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValidationError({field: f"“{value}” is not an ISO 8601 date-time."}) from exc
    if timezone.is_naive(moment):
        from zoneinfo import ZoneInfo

        moment = moment.replace(tzinfo=ZoneInfo(zone))
    return moment


def _limit(value: str, field: str) -> int | None:
    """A whole number (the rules check its range and the plan), or None: the domain's default."""
    value = value.strip()
    if value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise ValidationError({field: f"“{value}” is not a whole number."}) from None


def changes_from_options(options: dict[str, Any], *, time_zone: str) -> dict[str, Any]:
    """The settings an `update` names, in mailbox_update()'s terms (errors keyed by field)."""
    changes: dict[str, Any] = {}
    if options["quota"] is not None:
        try:
            changes["quota_bytes"] = parse_size(options["quota"])
        except ValidationError as exc:
            raise ValidationError({"quota": exc.messages}) from exc
    if options["services"] is not None:
        wanted = {s.strip() for s in options["services"].split(",") if s.strip()}
        unknown = wanted - set(SERVICE_NAMES)
        if unknown:
            raise ValidationError(
                {"services": f"unknown service {', '.join(sorted(unknown))} "
                 f"(known: {', '.join(SERVICE_NAMES)})."}
            )  # fmt: skip
        changes.update({switch: name in wanted for name, switch in SERVICE_NAMES.items()})
    for option, field in (("allow_nets", "allowed_networks"), ("forward", "forward_to")):
        if options[option] is not None:
            changes[field] = options[option]  # the service parses and validates the list
    if options["keep_copy"] is not None:
        changes["forward_keep_copy"] = options["keep_copy"]
    for option, field in (("spam_to_inbox", "spam_to_inbox"), ("autoreply", "autoreply_enabled")):
        if options[option] is not None:
            changes[field] = options[option] == "yes"
    for option in ("autoreply_subject", "autoreply_body", "first_name", "last_name"):
        if options[option] is not None:
            changes[option] = options[option]
    for option in ("autoreply_start", "autoreply_end"):
        if options[option] is not None:
            changes[option] = _moment(options[option], option, time_zone)
    for option, (field, _) in LIMIT_OPTIONS.items():
        value = options[option.replace("-", "_")]
        if value is not None:
            changes[field] = _limit(value, field)
    if options["password_expires"] is not None:
        changes["password_expires_at"] = _moment(
            options["password_expires"], "password_expires", time_zone
        )
    return changes
