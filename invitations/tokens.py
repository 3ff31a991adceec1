"""Invitation link tokens: long and random; the database keeps only their sha256."""

from __future__ import annotations

import hashlib
import hmac
import secrets

TOKEN_BYTES = 32  # 43 URL-safe characters: not guessable, no need for a throttle


def new_token() -> tuple[str, str]:
    """A fresh token and the hash to store."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    return token, token_hash(token)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_matches(token: str, stored_hash: str) -> bool:
    # The lookup is by hash already; compare again in constant time so no code path
    # ever compares a secret with ==.
    return hmac.compare_digest(token_hash(token), stored_hash)
