"""Failed logins slow down, then lock, the account name as typed and the client's IP.

Admins and mailbox owners alike, password step and code step alike. Every key counts the
failures of a sliding window (LOGIN_THROTTLE_WINDOW_MINUTES): from DELAY_AFTER failures on, a
new attempt must wait LOGIN_THROTTLE_DELAY_SECONDS after the latest one; at LOCK_AFTER the key
is locked for LOGIN_THROTTLE_LOCK_MINUTES (with an audit entry). Nothing here looks at whether
the account exists, so the answers cannot tell.

An attempt is written *before* the credentials are checked and deleted when they prove right:
concurrent attempts (other processes) already count against each other, and the rows left are
the failures. Plain inserts, deletes and one conditional UPDATE: safe on SQLite and PostgreSQL.
"""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.http import HttpRequest

from mailboxes.models import Mailbox
from mailboxes.selectors import mailbox_by_address
from organizations.models import Membership, Organization
from security import clock
from security.audit import Actor, audit_record
from security.models import LoginAttempt, LoginLock
from tempusmail.client_ip import client_ip


@dataclass(frozen=True)
class Limits:
    delay_after: int
    lock_after: int


def _limits(kind: str) -> Limits:
    if kind == "ip":
        return Limits(settings.LOGIN_THROTTLE_IP_DELAY_AFTER, settings.LOGIN_THROTTLE_IP_LOCK_AFTER)
    return Limits(settings.LOGIN_THROTTLE_DELAY_AFTER, settings.LOGIN_THROTTLE_LOCK_AFTER)


def _window() -> timedelta:
    return timedelta(minutes=settings.LOGIN_THROTTLE_WINDOW_MINUTES)


def account_key(username: str) -> str:
    """The account as typed, so "Alice " and "alice" share a counter (and a name that does not
    exist counts exactly like one that does)."""
    name = unicodedata.normalize("NFKC", username or "").strip().casefold()
    return f"account:{name[:150]}"


def ip_key(request: HttpRequest) -> str:
    return f"ip:{client_ip(request) or 'unknown'}"


def keys_for(request: HttpRequest, username: str) -> tuple[str, str]:
    return (account_key(username), ip_key(request))


@dataclass(frozen=True)
class Refusal:
    """The answer to a throttled attempt: the same words for every account name."""

    until: datetime
    locked: bool

    @property
    def message(self) -> str:
        seconds = max(1, math.ceil((self.until - clock.now()).total_seconds()))
        if self.locked:
            minutes = math.ceil(seconds / 60)
            wait = f"{minutes} minute{'s' if minutes != 1 else ''}"
        else:
            wait = f"{seconds} second{'s' if seconds != 1 else ''}"
        return f"Too many failed logins. Try again in {wait}."


@dataclass
class Attempt:
    keys: tuple[str, ...]
    ids: list[int] = field(default_factory=list)


def begin(keys: tuple[str, ...]) -> Attempt | Refusal:
    """Count an attempt against every key, unless one of them is locked or must still wait."""
    now = clock.now()
    lock = (
        LoginLock.objects.filter(key__in=keys, locked_until__gt=now)
        .order_by("-locked_until")
        .first()
    )
    if lock is not None:
        return Refusal(until=lock.locked_until, locked=True)
    attempt = Attempt(keys=keys)
    for key in keys:
        attempt.ids.append(LoginAttempt.objects.create(key=key, created_at=now).pk)
    waits = [_delay_until(key, now, attempt.ids) for key in keys]
    until = max((w for w in waits if w is not None), default=None)
    if until is not None:
        LoginAttempt.objects.filter(pk__in=attempt.ids).delete()  # never tried: not a failure
        return Refusal(until=until, locked=False)
    return attempt


def _delay_until(key: str, now: datetime, own: list[int]) -> datetime | None:
    others = LoginAttempt.objects.filter(key=key, created_at__gt=now - _window()).exclude(
        pk__in=own
    )
    if others.count() < _limits(_kind(key)).delay_after:
        return None
    latest = others.order_by("-created_at").values_list("created_at", flat=True).first()
    if latest is None:  # a delay after 0 attempts, and none yet: nothing to wait after
        return None
    until = latest + timedelta(seconds=settings.LOGIN_THROTTLE_DELAY_SECONDS)
    return until if until > now else None


def passed(attempt: Attempt) -> None:
    """The credentials were right: the attempt was no failure."""
    LoginAttempt.objects.filter(pk__in=attempt.ids).delete()


def failed(attempt: Attempt, request: HttpRequest) -> Refusal | None:
    """The attempt stays counted; a key that reaches its lock limit is locked from now on."""
    now = clock.now()
    LoginAttempt.objects.filter(created_at__lte=now - _window()).delete()  # aged out, for all
    refusal = None
    for key in attempt.keys:
        failures = LoginAttempt.objects.filter(key=key, created_at__gt=now - _window()).count()
        if failures >= _limits(_kind(key)).lock_after:
            until = now + timedelta(minutes=settings.LOGIN_THROTTLE_LOCK_MINUTES)
            _lock(key, now, until, failures, request)
            refusal = Refusal(until=until, locked=True)
    return refusal


@transaction.atomic
def _lock(key: str, now: datetime, until: datetime, failures: int, request: HttpRequest) -> None:
    # Reuse the key's row once its lock has run out; a live lock means another process got
    # there first (and wrote the audit entry).
    taken = LoginLock.objects.filter(key=key, locked_until__lte=now).update(
        started_at=now, locked_until=until
    )
    if not taken:
        try:
            with transaction.atomic():
                LoginLock.objects.create(key=key, started_at=now, locked_until=until)
        except IntegrityError:
            return
    # The lock answers for these failures; once it ends, the count starts again.
    LoginAttempt.objects.filter(key=key).delete()
    kind, _, value = key.partition(":")
    mailbox, organization = _whose(value) if kind == "account" else (None, None)
    audit_record(
        actor=Actor(label="login throttle", ip_address=client_ip(request)),
        action="login.lock",
        obj=LoginLock.objects.get(key=key),
        organization=organization,
        mailbox=mailbox,
        after={
            "locked": kind,
            "name": value,
            "failures": failures,
            "until": until.isoformat(timespec="seconds"),
        },
    )


def _whose(name: str) -> tuple[Mailbox | None, Organization | None]:
    """The account (and organization) a locked name belongs to, if any, so the lock shows on
    their audit pages. Only the audit trail learns this, never the response."""
    if "@" in name:
        try:
            mailbox = mailbox_by_address(name)
        except ValidationError:
            return None, None
        return mailbox, mailbox.domain.organization
    membership = (
        Membership.objects.filter(user__username__iexact=name)
        .select_related("organization")
        .order_by("pk")
        .first()
    )
    return None, membership.organization if membership else None


def _kind(key: str) -> str:
    return key.partition(":")[0]
