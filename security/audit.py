"""The audit trail: every service records its change here, inside its own transaction.

Each event says who (user and label), what (action), to which object, from which IP, when,
and for settings the values before and after; never a password, hash, key or other secret.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from security.models import AuditEvent
from tempusmail.client_ip import client_ip

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User
    from django.db.models import Model
    from django.http import HttpRequest

# The trail sits below the apps whose objects it names: it knows them by their model label
# (an organization, a domain, a mailbox), never by importing their models.
DOMAIN = "domains.domain"
MAILBOX = "mailboxes.mailbox"

# Fields whose values never enter the trail, whatever service passes them: these names, and
# any name ending like a secret (new_password, otp_secret, api_key, backup_codes...). Policy
# settings such as password_min_length or force_password_change stay readable.
SECRET_FIELDS = frozenset({"password", "password_hash", "secret", "key", "token"})
SECRET_SUFFIXES = ("password", "_hash", "secret", "_key", "token", "_codes")
HIDDEN = "***"


@dataclass(frozen=True)
class Actor:
    """Who is acting: a panel user, or a named system actor such as "cli" or "system"."""

    label: str
    # AnonymousUser when a view acts before anyone signed in (saved_user is then None).
    user: User | AnonymousUser | None = None
    ip_address: str | None = None
    # An API key acting (for its creator, or for no one when the CLI made it): never the
    # provider's own tools, whatever user it carries (mailboxes.rules.may_exceed_plan).
    via_api: bool = False

    @classmethod
    def for_user(cls, user: User | AnonymousUser, ip_address: str | None = None) -> Actor:
        # A mailbox owner's Django user is named "mailbox-<id>": the trail names the address.
        owner = getattr(user, "owner", None)
        if owner is not None and owner.mailbox is not None:
            return cls(label=f"{owner.mailbox.address} (owner)", user=user, ip_address=ip_address)
        return cls(label=user.get_username(), user=user, ip_address=ip_address)

    @classmethod
    def for_request(cls, request: HttpRequest) -> Actor:
        return cls.for_user(request.user, client_ip(request))

    @property
    def saved_user(self) -> User | None:
        """The user a row may point at (created_by, the event's actor): None for a system
        actor, an anonymous one, or a user not saved."""
        user = self.user
        return user if user is not None and user.is_authenticated and user.pk else None


SYSTEM = Actor(label="system")


def is_secret(field: str) -> bool:
    return field in SECRET_FIELDS or field.endswith(SECRET_SUFFIXES)


def scrub(values: dict[str, Any]) -> dict[str, Any]:
    """The values with every secret replaced by HIDDEN, in nested dictionaries too."""
    return {
        k: HIDDEN if is_secret(k) else scrub(v) if isinstance(v, dict) else v
        for k, v in values.items()
    }


def audit_record(
    *,
    actor: Actor,
    action: str,
    obj: Model,
    organization: Model | None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    mailbox: Model | None = None,
) -> AuditEvent:
    """Record one event (see audit_event)."""
    event = audit_event(
        actor=actor, action=action, obj=obj, organization=organization,
        before=before, after=after, mailbox=mailbox,
    )  # fmt: skip
    event.save()
    return event


def audit_record_many(events: list[AuditEvent]) -> None:
    """Record events built by audit_event in one INSERT (a batch action: one row per account)."""
    AuditEvent.objects.bulk_create(events, batch_size=500)


def audit_event(
    *,
    actor: Actor,
    action: str,
    obj: Model,
    organization: Model | None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    mailbox: Model | None = None,
) -> AuditEvent:
    """One event, not saved yet. It appears on the audit page of its organization, of its domain and
    of its account: obj itself when it is a Domain or a Mailbox; an object that belongs to an
    account (its webmail preferences, later its identities) passes that account as mailbox."""
    label = obj._meta.label_lower
    if label == MAILBOX:
        mailbox = obj
    domain = obj if label == DOMAIN else mailbox.domain if mailbox is not None else None  # type: ignore[attr-defined]
    changes: dict[str, Any] = {}
    if before is not None:
        changes["before"] = scrub(before)
    if after is not None:
        changes["after"] = scrub(after)
    # The trail knows the apps above it as plain Models (it never imports theirs), so the
    # links reach the model's typed foreign keys as Any.
    links: dict[str, Any] = {"organization": organization, "domain": domain, "mailbox": mailbox}
    return AuditEvent(
        actor=actor.saved_user,
        actor_label=actor.label,
        ip_address=actor.ip_address,
        action=action,
        object_type=obj._meta.label_lower,
        object_id=str(obj.pk or ""),
        object_repr=str(obj)[:300],
        changes=changes,
        **links,
    )
