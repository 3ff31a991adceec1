from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from domains.models import Domain
from domains.validators import normalize_domain_name
from mailboxes.models import LANGUAGES, Mailbox, MailboxKind
from mailboxes.rules import DOMAIN_LIMIT_FIELDS, may_exceed_plan, sending_limit_errors
from mailboxes.validators import format_size, normalize_address, split_address, validate_time_zone
from organizations.models import Organization
from provisioning.models import MailNode
from provisioning.services import default_node, domain_bump
from security.audit import Actor, audit_record
from webmail_settings.choices import DATE_FORMATS, TIME_FORMATS


@transaction.atomic
def domain_create(
    *, actor: Actor, name: str, organization: Organization, node: MailNode | None = None
) -> Domain:
    try:
        ascii_name = normalize_domain_name(name)
    except ValidationError as exc:
        raise ValidationError({"name": exc.messages}) from exc
    if Domain.objects.filter(name=ascii_name).exists():
        raise ValidationError({"name": f"The domain {ascii_name} already exists."})
    domain = Domain(name=ascii_name, organization=organization, node=node or default_node())
    domain.full_clean()
    domain.save()
    domain_bump(domain)
    audit_record(
        actor=actor,
        action="domain.create",
        obj=domain,
        organization=organization,
        after={"name": ascii_name, "node": domain.node.name},
    )
    return domain


# The Settings tab: defaults for accounts created later, sending limits, the catch-all target.
SETTINGS_FIELDS = (
    "default_quota_bytes", "default_language", "default_time_zone", "password_min_length",
    "password_expiry_days", "force_2fa", "catchall_target", *DOMAIN_LIMIT_FIELDS,
    "default_address_book_visible", "default_date_format", "default_time_format",
)  # fmt: skip
# What the mail servers apply, so a change sends the domain to its node: the catch-all, and
# the sending limits of every account that has none of its own.
SERVED_FIELDS = frozenset({"catchall_target", *DOMAIN_LIMIT_FIELDS})
PASSWORD_MIN_LENGTH_RANGE = (8, 128)
PASSWORD_EXPIRY_MAX_DAYS = 3650


def _settings_errors(
    domain: Domain, values: dict[str, Any], *, staff: bool
) -> dict[str, list[str]]:
    """Each rule keyed by the field it concerns, so a form shows it next to that field."""
    errors: dict[str, list[str]] = sending_limit_errors(
        {f: values[f] for f in DOMAIN_LIMIT_FIELDS if f in values},
        current={f: getattr(domain, f) for f in DOMAIN_LIMIT_FIELDS},
        plan=domain.organization.plan,
        staff=staff,
    )
    if "default_quota_bytes" in values:
        quota = values["default_quota_bytes"]
        limit = domain.organization.plan.max_quota_bytes if domain.organization.plan else None
        if quota < 0:
            errors["default_quota_bytes"] = ["The storage quota cannot be negative."]
        elif limit is not None and (quota == 0 or quota > limit):
            errors["default_quota_bytes"] = [
                f"The plan allows at most {format_size(limit)} per account."
            ]
    if "default_language" in values and values["default_language"] not in dict(LANGUAGES):
        errors["default_language"] = [f"“{values['default_language']}” is not a language offered."]
    if "default_time_zone" in values:
        try:
            validate_time_zone(values["default_time_zone"])
        except ValidationError as exc:
            errors["default_time_zone"] = exc.messages
    for field, choices in (("default_date_format", DATE_FORMATS),
                           ("default_time_format", TIME_FORMATS)):  # fmt: skip
        if field in values and values[field] not in dict(choices):
            errors[field] = [f"“{values[field]}” is not a format offered."]
    low, high = PASSWORD_MIN_LENGTH_RANGE
    if "password_min_length" in values and not low <= values["password_min_length"] <= high:
        errors["password_min_length"] = [f"Choose a length from {low} to {high} characters."]
    expiry = values.get("password_expiry_days")
    if expiry is not None and not 1 <= expiry <= PASSWORD_EXPIRY_MAX_DAYS:
        errors["password_expiry_days"] = [
            f"Choose 1 to {PASSWORD_EXPIRY_MAX_DAYS} days, or leave empty: never."
        ]
    if values.get("catchall_target"):
        error = _catchall_error(domain, values["catchall_target"])
        if error:
            errors["catchall_target"] = [error]
    return errors


def _catchall_error(domain: Domain, target: str) -> str:
    local_part, domain_name = split_address(target)
    if domain_name != domain.name:
        return f"The catch-all target must be an account of {domain.display_name}."
    kind = Mailbox.objects.filter(domain=domain, local_part=local_part).values("kind").first()
    if kind is None:
        return f"There is no account {local_part}@{domain.display_name}."
    if kind["kind"] == MailboxKind.NOREPLY:
        return f"{local_part}@{domain.display_name} is a no-reply address: it accepts no mail."
    return ""


@transaction.atomic
def domain_update_settings(*, actor: Actor, domain: Domain, changes: dict[str, Any]) -> Domain:
    """Change the domain's defaults, its sending limits and its catch-all target.

    The defaults for new accounts only apply to accounts created later; the sending limits
    apply now to every account without its own, and the catch-all is served by the mail
    servers: changing those sends the domain to its node.
    """
    unknown = set(changes) - set(SETTINGS_FIELDS)
    if unknown:
        raise ValueError(f"not a domain setting: {', '.join(sorted(unknown))}")
    values = dict(changes)
    if values.get("catchall_target"):
        try:
            values["catchall_target"] = normalize_address(values["catchall_target"])
        except ValidationError as exc:
            raise ValidationError({"catchall_target": exc.messages}) from exc
    errors = _settings_errors(domain, values, staff=may_exceed_plan(actor))
    if errors:
        raise ValidationError(errors)
    changed = {f: v for f, v in values.items() if getattr(domain, f) != v}
    if not changed:
        return domain
    before = {f: getattr(domain, f) for f in changed}
    for field, value in changed.items():
        setattr(domain, field, value)
    domain.full_clean(validate_unique=False)
    domain.save(update_fields=list(changed))
    if SERVED_FIELDS.intersection(changed):
        domain_bump(domain)
    audit_record(
        actor=actor,
        action="domain.update_settings",
        obj=domain,
        organization=domain.organization,
        before=before,
        after=changed,
    )
    return domain
