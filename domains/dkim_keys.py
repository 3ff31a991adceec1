"""DKIM key pairs and the DNS TXT record that publishes one (pure: no database)."""

from __future__ import annotations

import base64
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

ALGORITHMS = ("rsa", "ed25519")
RSA_BITS = 2048
# A TXT record is a list of character-strings of at most 255 bytes each (RFC 1035 3.3).
TXT_STRING_MAX = 255


@dataclass(frozen=True)
class KeyPair:
    algorithm: str
    private_pem: str  # PKCS#8, as rspamd and dkimpy read it
    public_b64: str  # the record's p= value


def generate(algorithm: str) -> KeyPair:
    if algorithm == "rsa":
        private: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey = rsa.generate_private_key(
            public_exponent=65537, key_size=RSA_BITS
        )
        # RFC 6376: p= is the DER SubjectPublicKeyInfo of an RSA key.
        public = private.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    elif algorithm == "ed25519":
        private = ed25519.Ed25519PrivateKey.generate()
        # RFC 8463: p= is the bare 32-byte public key.
        public = private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
    else:
        raise ValueError(f"unknown DKIM algorithm {algorithm!r}: use rsa or ed25519")
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")
    return KeyPair(algorithm, pem, base64.b64encode(public).decode("ascii"))


def txt_value(algorithm: str, public_b64: str) -> str:
    return f"v=DKIM1; k={algorithm}; p={public_b64}"


def txt_strings(value: str) -> list[str]:
    """The record's value cut into character-strings of at most 255 bytes (ASCII only)."""
    return [value[i : i + TXT_STRING_MAX] for i in range(0, len(value), TXT_STRING_MAX)]


def zone_line(name: str, value: str) -> str:
    """What to paste into a zone file: NAME IN TXT ( "..." "..." )."""
    quoted = " ".join(f'"{part}"' for part in txt_strings(value))
    return f"{name}. IN TXT ( {quoted} )"
