"""The audit trail: every service records its change here, inside its own transaction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from security.models import AuditEvent

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser
    from django.db.models import Model
    from django.http import HttpRequest

    from organizations.models import Organization

# Fields whose values never enter the trail, whatever service passes them.
SECRET_FIELDS = frozenset({"password", "password_hash", "secret", "key", "token"})


@dataclass(frozen=True)
class Actor:
    """Who is acting: a panel user, or a named system actor such as "cli" or "system"."""

    label: str
    user: AbstractBaseUser | None = None
    ip_address: str | None = None

    @classmethod
    def for_user(cls, user: AbstractBaseUser, ip_address: str | None = None) -> Actor:
        return cls(label=user.get_username(), user=user, ip_address=ip_address)

    @classmethod
    def for_request(cls, request: HttpRequest) -> Actor:
        return cls.for_user(request.user, request.META.get("REMOTE_ADDR"))


SYSTEM = Actor(label="system")


def _scrub(values: dict[str, Any]) -> dict[str, Any]:
    return {k: ("***" if k in SECRET_FIELDS else v) for k, v in values.items()}


def audit_record(
    *,
    actor: Actor,
    action: str,
    obj: Model,
    organization: Organization | None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEvent:
    changes: dict[str, Any] = {}
    if before is not None:
        changes["before"] = _scrub(before)
    if after is not None:
        changes["after"] = _scrub(after)
    return AuditEvent.objects.create(
        actor=actor.user if actor.user is not None and actor.user.pk else None,
        actor_label=actor.label,
        ip_address=actor.ip_address,
        action=action,
        object_type=obj._meta.label_lower,
        object_id=str(obj.pk or ""),
        object_repr=str(obj)[:300],
        organization=organization,
        changes=changes,
    )
