"""Re-authentication ("sudo mode") before destructive and sensitive actions.

A session is *fresh* for REAUTH_WINDOW_MINUTES after its user proved who they are: a complete
login (password, and code when enrolled) or the re-authentication page (/reauth/: the user's
own password — a mailbox owner's is their mailbox password — and a fresh code when enrolled).
A protected view calls `required(request, action=...)` at the top of its POST branch; when the
session is not fresh, the POST's fields (never passwords) are kept in the session and the user
is sent to /reauth/, which afterwards shows them a "continue" button that posts the same fields
to the same URL again. Wrong passwords and codes count in the login throttle.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import django_otp
from django.conf import settings
from django.contrib.auth.models import User
from django.contrib.auth.signals import user_logged_in
from django.db import transaction
from django.db.models import Model
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from mailboxes.passwords import verify_password
from organizations.access import mailbox_of_owner
from organizations.models import Membership, Organization
from security import clock, throttle
from security.audit import Actor, audit_record
from security.twofactor import is_enrolled, login_name, verify_code
from tempusmail.http import AuthenticatedRequest

FRESH_SINCE = "security.reauth_at"
PENDING = "security.reauth_pending"


def _window() -> timedelta:
    return timedelta(minutes=settings.REAUTH_WINDOW_MINUTES)


def mark_fresh(request: HttpRequest) -> None:
    request.session[FRESH_SINCE] = clock.now().timestamp()


@receiver(user_logged_in, dispatch_uid="security.reauth.login_is_fresh")
def _login_is_fresh(sender, request, user, **kwargs) -> None:
    # A login has just checked the password (and the code: it completes after that step).
    if request is not None and hasattr(request, "session"):
        mark_fresh(request)


def is_fresh(request: HttpRequest) -> bool:
    since = request.session.get(FRESH_SINCE)
    if since is None:
        return False
    if clock.now() - datetime.fromtimestamp(since, tz=UTC) > _window():
        return False
    # Enrolled since the session proved itself without a code: that proof lacks a factor.
    user = request.user
    if not user.is_authenticated:  # logging out flushes the session: never reached
        return False
    return not is_enrolled(user) or bool(getattr(user, "is_verified", lambda: False)())


def _kept_fields(request: HttpRequest) -> list[tuple[str, str]]:
    """The POST to replay, without the CSRF token (the replay carries a new one) and without
    anything that looks like a password (the user types those again)."""
    return [
        (name, value)
        for name, values in request.POST.lists()
        for value in values
        if name != "csrfmiddlewaretoken" and "password" not in name and name != "code"
    ]


def required(request: HttpRequest, *, action: str) -> HttpResponse | None:
    """None when the session is fresh; else the redirect to the re-authentication page (the
    POST is kept to be replayed). action: what the user was doing, e.g. "delete the account"."""
    if is_fresh(request):
        return None
    request.session[PENDING] = {
        "url": request.get_full_path(),
        "action": action,
        "fields": _kept_fields(request),
    }
    return redirect("reauth")


def pending(request: HttpRequest) -> dict | None:
    return request.session.get(PENDING)


def take_pending(request: HttpRequest) -> dict | None:
    return request.session.pop(PENDING, None)


def _own_password_is(user: User, password: str) -> bool:
    mailbox = mailbox_of_owner(user)
    if mailbox is not None:
        return verify_password(password, mailbox.password_hash)
    return user.check_password(password)


def confirm(request: AuthenticatedRequest, *, password: str, code: str) -> dict[str, str]:
    """Check the user's password (and code when enrolled). Returns errors by field ("" for
    the whole form); none means the session is fresh from now on. Throttled and audited."""
    user = request.user
    attempt = throttle.begin((throttle.account_key(login_name(user)), throttle.ip_key(request)))
    if isinstance(attempt, throttle.Refusal):
        return {"": attempt.message}
    errors: dict[str, str] = {}
    device = None
    if not _own_password_is(user, password):
        errors["password"] = "This is not your password."  # noqa: S105 (a message)
    elif is_enrolled(user):
        device = verify_code(user, code)
        if device is None:
            errors["code"] = "That code is not right (or was already used)."
    if errors:
        refusal = throttle.failed(attempt, request)
        if refusal is not None:
            errors[""] = refusal.message
        reauth_record(actor=Actor.for_request(request), user=user, succeeded=False)
        return errors
    throttle.passed(attempt)
    if device is not None:
        django_otp.login(request, device)
    mark_fresh(request)
    reauth_record(actor=Actor.for_request(request), user=user, succeeded=True)
    return {}


def _subject(user: User) -> tuple[Model, Organization | None]:
    """An owner's events show on their account's audit page; an admin's under their first
    organization (as the two-factor events do)."""
    mailbox = mailbox_of_owner(user)
    if mailbox is not None:
        return mailbox, mailbox.domain.organization
    first = Membership.objects.filter(user=user).select_related("organization").order_by("pk")
    membership = first.first()
    return user, membership.organization if membership else None


@transaction.atomic
def reauth_record(*, actor: Actor, user: User, succeeded: bool) -> None:
    obj, organization = _subject(user)
    audit_record(
        actor=actor,
        action="reauth.success" if succeeded else "reauth.failure",
        obj=obj,
        organization=organization,
        after={"user": user.get_username()},
    )
