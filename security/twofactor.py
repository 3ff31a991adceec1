"""Two-factor devices, read side: who is enrolled, checking a code, and what enrolment shows.

A user is enrolled when they have a confirmed TOTP device (an authenticator app); their backup
codes are a django-otp static device beside it, each code deleted when used.
"""

from __future__ import annotations

import re
import secrets
from base64 import b32encode
from urllib.parse import quote, urlencode

import segno
from django.contrib.auth.models import User
from django.utils.safestring import SafeString, mark_safe
from django_otp import verify_token
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from organizations.access import mailbox_of_owner

ISSUER = "TempusMail"
TOTP_DIGITS = 6
BACKUP_CODE_COUNT = 10
_SPACES = re.compile(r"[\s-]+")


def is_enrolled(user: User) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def backup_codes_left(user: User) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


def login_name(user: User) -> str:
    """What the user types at the login form: an owner's address, an admin's user name."""
    mailbox = mailbox_of_owner(user)
    return mailbox.address if mailbox is not None else user.get_username()


def normalise_code(code: str) -> str:
    """Codes as people type them: spaces and dashes anywhere, any case."""
    return _SPACES.sub("", code or "").lower()


def verify_code(user: User, code: str):
    """The device that accepts this code (TOTP, or a backup code, which is then used up), or
    None. Each device is verified on its own, in a transaction, as django-otp recommends."""
    code = normalise_code(code)
    if not code:
        return None
    if code.isdigit() and len(code) == TOTP_DIGITS:
        devices = TOTPDevice.objects.filter(user=user, confirmed=True)
    else:
        devices = StaticDevice.objects.filter(user=user, confirmed=True)
    for device in devices:
        verified = verify_token(user, device.persistent_id, code)
        if verified is not None:
            return verified
    return None


# --- enrolment: a new key lives in the session until its first code confirms it -------------


def new_key() -> str:
    return secrets.token_hex(20)  # 160 bits, as RFC 4226 recommends


def manual_key(key_hex: str) -> str:
    """The key as an authenticator app's "enter a setup key" wants it, in groups of four."""
    b32 = b32encode(bytes.fromhex(key_hex)).decode().rstrip("=")
    return " ".join(b32[i : i + 4] for i in range(0, len(b32), 4))


def otpauth_url(key_hex: str, account: str) -> str:
    params = urlencode(
        {
            "secret": manual_key(key_hex).replace(" ", ""),
            "issuer": ISSUER,
            "algorithm": "SHA1",
            "digits": TOTP_DIGITS,
            "period": 30,
        }
    )
    return f"otpauth://totp/{quote(f'{ISSUER}:{account}')}?{params}"


def qr_svg(url: str) -> SafeString:
    # segno draws one <path> from our own URL: no user text is interpolated as markup, and no
    # style attribute (the Content-Security-Policy forbids inline styles).
    svg = segno.make(url, error="m").svg_inline(scale=5, border=2, title="QR code of the key")
    return mark_safe(svg)  # noqa: S308


def first_code_step(key_hex: str, code: str) -> int | None:
    """The time step the first code matches (one step of clock skew allowed), or None."""
    code = normalise_code(code)
    if not (code.isdigit() and len(code) == TOTP_DIGITS):
        return None
    totp = TOTP(bytes.fromhex(key_hex), digits=TOTP_DIGITS)
    if not totp.verify(int(code), tolerance=1):
        return None
    return totp.t()


def new_backup_codes() -> list[str]:
    return [StaticToken.random_token() for _ in range(BACKUP_CODE_COUNT)]
