"""Mailbox password hashes, in the form Dovecot verifies: {SHA512-CRYPT} via passlib.

The cost is explicit (settings.MAILBOX_HASH_ROUNDS): Dovecot 2.3 verifies passwd-file hashes
in its one auth process, so this number caps logins per second on a node.
"""

from __future__ import annotations

import secrets
import string

from django.conf import settings
from django.core.exceptions import ValidationError
from passlib.hash import sha512_crypt

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
