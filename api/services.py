"""Every write to API keys: create (the key's text returned once, never stored), revoke, and
the "last used" stamp the authentication writes. Each change is audited."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from api.keys import hash_secret, key_text, new_prefix, new_secret
from api.models import ApiKey
from domains.models import Domain
from mailboxes.models import Mailbox
from mailboxes.validators import parse_networks
from organizations.models import Organization
from security import clock
from security.audit import Actor, audit_record

# The "last used" stamp is written at most this often per key (unless the address changes):
# a busy integration would otherwise write a row per request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class NewKey:
    key: ApiKey
    text: str  # tm_<prefix>_<secret>: show it once, store it nowhere


def _validated(
    *,
    name: str,
    expires_at: datetime | None,
    allowed_networks: Iterable[str] | str,
) -> tuple[str, list[str]]:
    errors: dict[str, list[str]] = {}
    name = (name or "").strip()
    if not name:
        errors["name"] = ["Give the key a name (what uses it)."]
    elif len(name) > 100:
        errors["name"] = ["At most 100 characters."]
    if expires_at is not None and expires_at <= clock.now():
        errors["expires_at"] = ["The expiry must be in the future."]
    networks: list[str] = []
    try:
        networks = parse_networks(
            allowed_networks if isinstance(allowed_networks, str) else list(allowed_networks)
        )
    except ValidationError as exc:
        errors["allowed_networks"] = exc.messages
    if errors:
        raise ValidationError(errors)
    return name, networks


def _summary(key: ApiKey, domains: list[Domain]) -> dict[str, Any]:
    return {
        "name": key.name,
        "prefix": key.prefix,
        "domains": [d.name for d in domains],
        "read_only": key.read_only,
        "expires_at": key.expires_at.isoformat() if key.expires_at else None,
        "allowed_networks": key.allowed_networks,
        "personal": key.mailbox.address if key.mailbox else None,
    }


def _store(key: ApiKey, domains: list[Domain], actor: Actor) -> NewKey:
    secret = new_secret()
    key.prefix = new_prefix()
    key.secret_hash = hash_secret(secret)
    key.created_by = actor.saved_user
    key.full_clean(exclude=["domains"])
    key.save()
    key.domains.set(domains)
    audit_record(
        actor=actor,
        action="api_key.create",
        obj=key,
        organization=key.organization,
        mailbox=key.mailbox,
        after=_summary(key, domains),
    )
    return NewKey(key=key, text=key_text(key.prefix, secret))


@transaction.atomic
def api_key_create(
    *,
    actor: Actor,
    organization: Organization,
    name: str,
    domains: Iterable[Domain] = (),
    read_only: bool = False,
    expires_at: datetime | None = None,
    allowed_networks: Iterable[str] | str = (),
) -> NewKey:
    """An organization key: every domain of the organization, or only those given."""
    name, networks = _validated(name=name, expires_at=expires_at, allowed_networks=allowed_networks)
    chosen = list(domains)
    foreign = [d.name for d in chosen if d.organization_id != organization.pk]
    if foreign:
        raise ValidationError(
            {"domains": [f"{', '.join(foreign)} is not a domain of {organization.name}."]}
        )
    key = ApiKey(
        organization=organization,
        name=name,
        read_only=read_only,
        expires_at=expires_at,
        allowed_networks=networks,
    )
    return _store(key, chosen, actor)


@transaction.atomic
def api_key_create_personal(
    *,
    actor: Actor,
    mailbox: Mailbox,
    name: str,
    read_only: bool = False,
    expires_at: datetime | None = None,
    allowed_networks: Iterable[str] | str = (),
) -> NewKey:
    """A personal key of an account's owner: that account's own settings, while the account
    has API access (checked again at every request)."""
    name, networks = _validated(name=name, expires_at=expires_at, allowed_networks=allowed_networks)
    if not mailbox.api_access:
        raise ValidationError("API access is not enabled for this account.")
    key = ApiKey(
        organization=mailbox.domain.organization,
        mailbox=mailbox,
        name=name,
        read_only=read_only,
        expires_at=expires_at,
        allowed_networks=networks,
    )
    return _store(key, [], actor)


@transaction.atomic
def api_key_revoke(*, actor: Actor, key: ApiKey) -> ApiKey:
    """Revoke a key: it fails from the next request on. The row stays, for the lists and the
    audit trail."""
    locked = ApiKey.objects.select_for_update(of=("self",)).select_related("mailbox").get(pk=key.pk)
    if locked.revoked_at is not None:
        raise ValidationError("This key is already revoked.")
    locked.revoked_at = clock.now()
    locked.save(update_fields=["revoked_at"])
    audit_record(
        actor=actor,
        action="api_key.revoke",
        obj=locked,
        organization=locked.organization,
        mailbox=locked.mailbox,
        after={"name": locked.name, "prefix": locked.prefix},
    )
    key.revoked_at = locked.revoked_at
    return locked


def api_key_mark_used(*, key: ApiKey, ip_address: str | None) -> None:
    """Stamp when and from where a key was last used: one conditional UPDATE, at most once a
    minute per key unless the address changed. Not audited (it is bookkeeping, not a change)."""
    now = clock.now()
    if (
        key.last_used_at is not None
        and now - key.last_used_at < LAST_USED_RESOLUTION
        and key.last_used_ip == ip_address
    ):
        return
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=now, last_used_ip=ip_address)
    key.last_used_at, key.last_used_ip = now, ip_address


def end_of_day(day: date) -> datetime:
    """An expiry given as a date: the key works through that whole day (UTC)."""
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=UTC)
