"""Two-factor writes: enrolment, backup codes, disabling and resetting, the grace period, and
the organization's policy. Each in one transaction with its audit entry."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Model
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from organizations.access import mailbox_of_owner
from organizations.models import Membership, Organization
from security import clock
from security.audit import Actor, audit_record
from security.models import TwoFactorGrace
from security.policy import TwoFactorPolicy
from security.twofactor import TOTP_DIGITS, new_backup_codes

BACKUP_DEVICE_NAME = "Backup codes"


def _subject(user: User) -> tuple[Model, Organization | None]:
    """What a user's two-factor events are recorded against: an owner's mailbox (so they show
    on the account's audit page), else the user, under their first organization."""
    mailbox = mailbox_of_owner(user)
    if mailbox is not None:
        return mailbox, mailbox.domain.organization
    membership = Membership.objects.filter(user=user).select_related("organization")
    first = membership.order_by("pk").first()
    return user, first.organization if first else None


def _audit(actor: Actor, action: str, user: User, **changes: object) -> None:
    obj, organization = _subject(user)
    audit_record(
        actor=actor,
        action=action,
        obj=obj,
        organization=organization,
        after={"user": user.get_username(), **changes},
    )


def _replace_backup_codes(user: User) -> list[str]:
    device, _ = StaticDevice.objects.get_or_create(
        user=user, name=BACKUP_DEVICE_NAME, defaults={"confirmed": True}
    )
    device.token_set.all().delete()
    codes = new_backup_codes()
    StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    return codes


@transaction.atomic
def two_factor_enable(
    *, actor: Actor, user: User, key: str, confirmed_step: int
) -> tuple[TOTPDevice, list[str]]:
    """Turn on two-factor login with the key the first code confirmed; returns the device and
    the new backup codes (to be shown once: only the tokens' rows keep them).

    confirmed_step is the time step of that first code: it cannot be used again to log in."""
    if TOTPDevice.objects.filter(user=user, confirmed=True).exists():
        raise ValidationError("Two-factor login is already on for this user.")
    TOTPDevice.objects.filter(user=user).delete()  # unconfirmed leftovers
    device = TOTPDevice(
        user=user,
        name="Authenticator app",
        key=key,
        digits=TOTP_DIGITS,
        confirmed=True,
        last_t=confirmed_step,
    )
    device.full_clean()
    device.save()
    codes = _replace_backup_codes(user)
    # The grace period stays as it was: switched off again later, under the same policy, the
    # user does not get a fresh one.
    _audit(actor, "two_factor.enable", user)
    return device, codes


@transaction.atomic
def two_factor_backup_codes_regenerate(*, actor: Actor, user: User) -> list[str]:
    """New backup codes; the old ones stop working."""
    if not TOTPDevice.objects.filter(user=user, confirmed=True).exists():
        raise ValidationError("Two-factor login is not on for this user.")
    codes = _replace_backup_codes(user)
    _audit(actor, "two_factor.backup_codes_regenerate", user)
    return codes


def _remove_devices(user: User) -> bool:
    removed = TOTPDevice.objects.filter(user=user).delete()[0]
    removed += StaticDevice.objects.filter(user=user).delete()[0]
    return bool(removed)


@transaction.atomic
def two_factor_disable(*, actor: Actor, user: User) -> None:
    """The user's own switch-off (the view has checked their password and a code)."""
    if _remove_devices(user):
        _audit(actor, "two_factor.disable", user)


@transaction.atomic
def two_factor_reset(*, actor: Actor, user: User) -> bool:
    """An admin removes someone's two-factor devices (a lost phone): they log in with their
    password alone, and set it up again when a policy requires it. False if there was none."""
    if not _remove_devices(user):
        return False
    _audit(actor, "two_factor.reset", user)
    return True


@transaction.atomic
def two_factor_note_login(*, user: User, policy: TwoFactorPolicy) -> None:
    """At each complete login: start the grace period at the first login a policy applies to
    the user, forget it when none applies any more (a later policy gets a fresh one).
    Bookkeeping of the user's own login, so no audit entry."""
    if policy.required:
        TwoFactorGrace.objects.get_or_create(user=user, defaults={"started_at": clock.now()})
    else:
        TwoFactorGrace.objects.filter(user=user).delete()


@transaction.atomic
def organization_set_two_factor_policy(
    *, actor: Actor, organization: Organization, force_2fa: bool, grace_days: int
) -> Organization:
    before = {
        "force_2fa": organization.force_2fa,
        "two_factor_grace_days": organization.two_factor_grace_days,
    }
    organization.force_2fa = force_2fa
    organization.two_factor_grace_days = grace_days
    organization.full_clean()
    organization.save(update_fields=["force_2fa", "two_factor_grace_days"])
    after = {"force_2fa": force_2fa, "two_factor_grace_days": grace_days}
    if after != before:
        audit_record(
            actor=actor,
            action="organization.two_factor_policy",
            obj=organization,
            organization=organization,
            before=before,
            after=after,
        )
    return organization


@transaction.atomic
def panel_password_change(*, actor: Actor, user: User, password: str) -> None:
    """An admin's own panel password (already checked by Django's password validators). The
    session hash changes with it, so the user's other sessions end at their next request."""
    user.set_password(password)
    user.save(update_fields=["password"])
    _audit(actor, "user.set_password", user)
