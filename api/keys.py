"""The key's text: ``tm_<prefix>_<secret>``. Pure functions, no database."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

KEY_PREFIX = "tm"
PREFIX_BYTES = 6  # 12 hex characters: finds the row, shown in lists
SECRET_BYTES = 32


@dataclass(frozen=True)
class ParsedKey:
    prefix: str
    secret: str


def new_prefix() -> str:
    return secrets.token_hex(PREFIX_BYTES)


def new_secret() -> str:
    return secrets.token_urlsafe(SECRET_BYTES)


def hash_secret(secret: str) -> str:
    # A 32-byte random secret needs no slow hash: nobody can guess it, only steal it.
    return hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), stored_hash)


def key_text(prefix: str, secret: str) -> str:
    return f"{KEY_PREFIX}_{prefix}_{secret}"


def parse_key(text: str) -> ParsedKey | None:
    """The key's parts, or None when the text cannot be one of our keys."""
    scheme, _, rest = text.partition("_")
    prefix, _, secret = rest.partition("_")  # the secret itself may contain "_"
    if scheme != KEY_PREFIX or len(prefix) != PREFIX_BYTES * 2 or not secret:
        return None
    if any(c not in "0123456789abcdef" for c in prefix) or len(secret) > 100:
        return None
    return ParsedKey(prefix=prefix, secret=secret)
