"""The rules an account's settings must follow, checked by the services before any write.

Each failure is a ValidationError keyed by the field it concerns, so a form shows it next to
that field (the quota is keyed "quota", as the forms and the CLI name it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError

from domains.models import Domain
from mailboxes.models import Mailbox, MailboxKind
from mailboxes.validators import format_size, parse_address_list, parse_networks
from tempusmail.validators import plain_text_errors

if TYPE_CHECKING:
    from organizations.models import Plan
    from security.audit import Actor

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
        "hourly_send_limit", "max_recipients",
        *SERVICE_OFFERS,
        "force_password_change", "password_expiry_days", "password_expires_at", "force_2fa",
        "allowed_networks", "owner_may_change_password", "owner_may_forward",
        "api_access", "spam_to_inbox", "forward_to", "forward_keep_copy",
        "autoreply_enabled", "autoreply_subject", "autoreply_body", "autoreply_start",
        "autoreply_end",
    }
)  # fmt: skip


def normalize_settings(
    mailbox: Mailbox, changes: dict[str, Any], *, staff: bool = False
) -> dict[str, Any]:
    """Check and normalise settings for mailbox (which may not be saved yet).

    staff: the provider acts (see may_exceed_plan), so plan maximums of limits do not bind.
    """
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
    errors.update(plain_text_errors(Mailbox, normalized))
    if mailbox.address in normalized.get("forward_to", []):
        errors.setdefault("forward_to", []).append("An account cannot forward to itself.")
    elif "forward_to" in normalized and "forward_to" not in errors:
        new = [a for a in normalized["forward_to"] if a not in (mailbox.forward_to or [])]
        if problems := undeliverable_local_addresses(new):
            errors["forward_to"] = problems
    errors.update(_plan_errors(mailbox, normalized))
    errors.update(
        sending_limit_errors(
            {f: normalized[f] for f in ACCOUNT_LIMIT_FIELDS if f in normalized},
            current={f: getattr(mailbox, f) for f in ACCOUNT_LIMIT_FIELDS} if mailbox.pk else {},
            plan=mailbox.domain.organization.plan,
            staff=staff,
        )
    )
    errors.update(_autoreply_errors(mailbox, normalized))
    if errors:
        raise ValidationError(errors)
    return normalized


def undeliverable_local_addresses(addresses: list[str]) -> list[str]:
    """Why each address at a domain TempusMail serves (a Domain row, any tenant's) would bounce:
    no such account and no catch-all on its domain, or a no-reply account (it refuses mail).
    Addresses elsewhere are the Internet's business. Two queries, none without local ones."""
    by_domain: dict[str, list[str]] = {}
    for address in addresses:
        local, _, domain = address.rpartition("@")
        by_domain.setdefault(domain, []).append(local)
    served = dict(Domain.objects.filter(name__in=by_domain).values_list("name", "catchall_target"))
    if not served:
        return []
    kinds = {
        f"{local}@{domain}": kind
        for local, domain, kind in Mailbox.objects.filter(
            domain__name__in=served,
            local_part__in={local for d in served for local in by_domain[d]},
        ).values_list("local_part", "domain__name", "kind")
    }
    problems = []
    for address in addresses:
        kind = kinds.get(address)
        domain = address.rpartition("@")[2]
        if kind == MailboxKind.NOREPLY:
            problems.append(f"{address} is a no-reply address: it accepts no mail.")
        elif kind is None and domain in served and not served[domain]:
            problems.append(f"There is no account {address}: mail forwarded to it would bounce.")
    return problems


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


# --- sending limits ---------------------------------------------------------------------------
# Each limit is set per account, defaulted per domain and capped per plan; 0 means no limit.
# The account's value wins, else the domain's default, else the plan's maximum (so an account
# never sends unlimited under a plan that has one), else none. The panel refuses a value above
# the plan's maximum unless the provider sets it: raising a limit past what was sold is theirs.


@dataclass(frozen=True)
class SendingLimit:
    field: str  # on Mailbox
    default_field: str  # on Domain
    max_field: str  # on Plan
    unit: str  # "500 messages per day"


SENDING_LIMITS = (
    SendingLimit("daily_send_limit", "default_daily_send_limit", "max_daily_send_limit",
                 "messages per day"),
    SendingLimit("hourly_send_limit", "default_hourly_send_limit", "max_hourly_send_limit",
                 "messages per hour"),
    SendingLimit("max_recipients", "default_max_recipients", "max_recipients_per_message",
                 "recipients per message"),
)  # fmt: skip
ACCOUNT_LIMIT_FIELDS = tuple(limit.field for limit in SENDING_LIMITS)
DOMAIN_LIMIT_FIELDS = tuple(limit.default_field for limit in SENDING_LIMITS)
PLAN_LIMIT_FIELDS = tuple(limit.max_field for limit in SENDING_LIMITS)
MAX_SENDING_LIMIT = 1_000_000  # a typo guard; "no limit" is 0


def may_exceed_plan(actor: Actor) -> bool:
    """Provider staff, and the provider's own tools (the CLI, beat: actors without a user).
    Never an API key: raising above the plan is a re-authenticated action in the panel."""
    if actor.via_api:
        return False
    return actor.user is None or bool(getattr(actor.user, "is_staff", False))


def sending_limit_errors(
    values: Mapping[str, int | None],
    *,
    current: Mapping[str, int | None],
    plan: Plan | None,
    staff: bool,
) -> dict[str, list[str]]:
    """Errors of limit values keyed by their field: an account's (daily_send_limit, ...) or a
    domain's defaults (default_daily_send_limit, ...). Empty (None) is always allowed; a value
    as it already is stays allowed (a limit the provider raised survives other edits)."""
    errors: dict[str, list[str]] = {}
    for limit in SENDING_LIMITS:
        for field in (limit.field, limit.default_field):
            if field not in values or values[field] is None:
                continue
            value = values[field]
            if not isinstance(value, int) or isinstance(value, bool):
                errors[field] = ["Enter a whole number (0: no limit)."]
            elif value < 0:
                errors[field] = ["A limit cannot be negative (0: no limit)."]
            elif value > MAX_SENDING_LIMIT:
                errors[field] = [f"At most {MAX_SENDING_LIMIT:,} (0: no limit)."]
            elif not staff and field in current and current[field] == value:
                continue
            elif not staff and (message := _above_plan(value, limit, plan)):
                errors[field] = [message]
    return errors


def raises_above_plan(mailbox: Mailbox, changes: Mapping[str, Any]) -> bool:
    """Whether changes set an account's sending limit to a new value above the plan maximum
    (staff only, and re-authenticated: security/reauth.py)."""
    plan = mailbox.domain.organization.plan
    return any(
        isinstance(value := changes.get(limit.field), int)
        and value != getattr(mailbox, limit.field)
        and bool(_above_plan(value, limit, plan))
        for limit in SENDING_LIMITS
    )


def _above_plan(value: int, limit: SendingLimit, plan: Plan | None) -> str:
    if plan is None:
        return ""
    maximum = getattr(plan, limit.max_field)
    if not maximum or 0 < value <= maximum:  # a maximum of 0 is "no limit" too
        return ""
    return (
        f"The plan ({plan.name}) allows at most {maximum:,} {limit.unit}"
        f"{' (0 would mean no limit)' if value == 0 else ''}; "
        "raising above it is a staff-only action."
    )


def resolve_limit(own: int | None, default: int | None, maximum: int | None) -> int:
    """The limit an account sends under (0: none): its own, else the domain's, else the plan's."""
    for value in (own, default, maximum):
        if value is not None:
            return value
    return 0


def effective_limits(
    own: Mapping[str, int | None],
    defaults: Mapping[str, int | None],
    maximums: Mapping[str, int | None],
) -> dict[str, int]:
    """{Mailbox limit field: resolved value} from an account's, its domain's and plan's fields."""
    return {
        limit.field: resolve_limit(
            own.get(limit.field), defaults.get(limit.default_field), maximums.get(limit.max_field)
        )
        for limit in SENDING_LIMITS
    }


def plan_maximums(plan: Plan | None) -> dict[str, int | None]:
    return {f: getattr(plan, f) if plan is not None else None for f in PLAN_LIMIT_FIELDS}
