"""Mailbox passwords: the one place for their rules and their hashes.

Hashes are in the form Dovecot verifies: {SHA512-CRYPT} via passlib. The cost is explicit
(settings.MAILBOX_HASH_ROUNDS): Dovecot 2.3 verifies passwd-file hashes in its one auth
process, so this number caps logins per second on a node.

The policy (check_new_password) is applied by the services that set a password
(mailbox_create, mailbox_set_password), so the wizard, the account's security tab, the owner's
own change and `mailbox set-password` all give the same messages; the forms call it too, to
show them next to the field before anything is saved.
"""

from __future__ import annotations

import re
import secrets
import string
from collections.abc import Iterable
from datetime import datetime, timedelta
from difflib import SequenceMatcher
from functools import cache
from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.auth.password_validation import CommonPasswordValidator
from django.core.exceptions import ValidationError
from passlib.hash import sha512_crypt

if TYPE_CHECKING:
    from domains.models import Domain
    from mailboxes.models import Mailbox

MIN_LENGTH = 8
MAX_LENGTH = 256


def validate_mailbox_password(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise ValidationError(
            f"The password must be at least {MIN_LENGTH} characters.", code="too_short"
        )
    if len(password) > MAX_LENGTH:
        raise ValidationError(
            f"The password must be at most {MAX_LENGTH} characters.", code="too_long"
        )
    if any(ord(c) < 32 or ord(c) == 127 for c in password):
        raise ValidationError(
            "The password must not contain control characters or line breaks.", code="invalid"
        )


# Days before expiry from which owners are warned (their pages, and a message at login).
EXPIRY_WARNING_DAYS = 14
MAX_SIMILARITY = 0.7  # as Django's UserAttributeSimilarityValidator
# What people type for letters: "p@ssw0rd" is "password".
_UNLEET = str.maketrans({"0": "o", "1": "l", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a",
                         "$": "s", "!": "i"})  # fmt: skip


def check_new_password(
    password: str,
    *,
    domain: Domain,
    local_part: str,
    names: Iterable[str] = (),
    mailbox: Mailbox | None = None,
) -> None:
    """Every rule a new mailbox password must meet: length (the domain's minimum), not a common
    password, not derived from the address or the account's names, not one of the account's
    last settings.MAILBOX_PASSWORD_HISTORY passwords. Raises ValidationError (field "password"
    for the caller to place) with the first rule broken."""
    validate_mailbox_password(password)
    minimum = max(domain.password_min_length, MIN_LENGTH)
    if len(password) < minimum:
        raise ValidationError(
            f"The domain's policy asks for at least {minimum} characters.", code="too_short"
        )
    if _is_common(password):
        raise ValidationError(
            "This password is too common: it is among the first a guesser tries.", code="common"
        )
    if _resembles(password, [local_part, *_domain_words(domain.name), *names]):
        raise ValidationError(
            "The password is too close to the address or the account's name.", code="similar"
        )
    if mailbox is not None and mailbox.pk and was_used(mailbox, password):
        count = settings.MAILBOX_PASSWORD_HISTORY
        raise ValidationError(
            f"Choose a password not used for this account before (the last {count} count).",
            code="reused",
        )


@cache
def _common_passwords() -> frozenset[str]:
    return frozenset(CommonPasswordValidator().passwords)


def _is_common(password: str) -> bool:
    lowered = password.lower().strip()
    return bool(_disguises(lowered) & _common_passwords())


def _disguises(lowered: str) -> set[str]:
    """The password, with every substitution undone, and with only those in words undone
    (the digits of "p@ssw0rd1234" at its end are digits)."""
    head = lowered.rstrip(string.digits)
    return {lowered, lowered.translate(_UNLEET), head.translate(_UNLEET) + lowered[len(head) :]}


def _domain_words(name: str) -> list[str]:
    # "mail.acme-corp.com" -> "mail.acme-corp" and its words; the TLD alone says nothing.
    labels = name.lower().split(".")
    return [".".join(labels[:-1])] if len(labels) > 1 else labels


def _resembles(password: str, attributes: Iterable[str]) -> bool:
    lowered = password.lower()
    disguises = _disguises(lowered)
    forms = disguises | {form[::-1] for form in disguises}
    for attribute in attributes:
        value = (attribute or "").lower().strip()
        if not value:
            continue
        for part in {value, *re.split(r"\W+", value)}:
            if len(part) < 3 or part.isdigit():  # digits of a name are no word to guess from
                continue
            for form in forms:
                if len(part) >= 4 and part in form:  # "alice2024!" for alice@
                    return True
                # quick_ratio only bounds ratio (it ignores order): alone it refused "pw-1234567"
                # for the domain t4567-3-12345678.
                matcher = SequenceMatcher(a=form, b=part)
                if matcher.quick_ratio() >= MAX_SIMILARITY and matcher.ratio() >= MAX_SIMILARITY:
                    return True
    return False


def was_used(mailbox: Mailbox, password: str) -> bool:
    """Whether password is the current one or among the last ones kept (the history)."""
    keep = settings.MAILBOX_PASSWORD_HISTORY
    if keep <= 0:
        return False
    if verify_password(password, mailbox.password_hash):
        return True
    older = mailbox.password_history.values_list("password_hash", flat=True)[: keep - 1]
    return any(verify_password(password, old) for old in older)


def days_until_expiry(mailbox: Mailbox, now: datetime) -> int | None:
    """Whole days left before the password expires, when within the warning period."""
    expires = mailbox.password_expires_at
    if expires is None or mailbox.password_expired or expires <= now:
        return None
    left = expires - now
    if left > timedelta(days=EXPIRY_WARNING_DAYS):
        return None
    return max(1, left.days + (1 if left.seconds else 0))


def expiry_warning(mailbox: Mailbox, now: datetime) -> str:
    days = days_until_expiry(mailbox, now)
    if days is None:
        return ""
    return f"Your password expires in {days} day{'s' if days != 1 else ''}. Change it before then."


def hash_password(password: str) -> str:
    return sha512_crypt.using(rounds=settings.MAILBOX_HASH_ROUNDS).hash(password)


def verify_password(password: str, password_hash: str) -> bool:
    try:
        return sha512_crypt.verify(password, password_hash)
    except ValueError:
        return False


def generate_password(length: int = 16) -> str:
    alphabet = string.ascii_letters + string.digits + "-_.!@#%+="
    while True:
        candidate = "".join(secrets.choice(alphabet) for _ in range(length))
        if (
            any(c.islower() for c in candidate)
            and any(c.isupper() for c in candidate)
            and any(c.isdigit() for c in candidate)
        ):
            return candidate


def check_password_change(mailbox: Mailbox, password: str) -> None:
    """check_new_password for an existing account (its address, names and history)."""
    check_new_password(
        password,
        domain=mailbox.domain,
        local_part=mailbox.local_part,
        names=(mailbox.first_name, mailbox.last_name),
        mailbox=mailbox,
    )
