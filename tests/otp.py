"""Two-factor helpers for the tests: enrol a user, compute the code an app would show, and a
clock the login throttle and the 2FA policy read (security.clock), moved instead of waited."""

from __future__ import annotations

import re
import time
from base64 import b32decode
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from security.audit import Actor
from security.services import two_factor_enable
from security.twofactor import new_key

ACTOR = Actor(label="test")


def code_at(key_hex: str, step: int) -> str:
    totp = TOTP(bytes.fromhex(key_hex))
    totp.time = step * 30
    return f"{totp.token():06d}"


def key_from_page(html: str) -> str:
    """The hex key behind the manual key an enrolment page shows (as a person would type it)."""
    shown = re.search(r'id="manual-key">([A-Z2-7 ]+)<', html).group(1).replace(" ", "")
    return b32decode(shown + "=" * (-len(shown) % 8)).hex()


def wrong_code(right: str) -> str:
    return "000000" if right != "000000" else "111111"


def current_step() -> int:
    return int(time.time()) // 30


def enrol(user) -> tuple[TOTPDevice, list[str]]:
    """Two-factor login on, as if the user had confirmed a first code just now."""
    return two_factor_enable(actor=ACTOR, user=user, key=new_key(), confirmed_step=current_step())


def next_code(user) -> str:
    """A code the server accepts now: a step not used yet, within one step of the clock (the
    device's tolerance), as an app would show it a little later."""
    device = TOTPDevice.objects.get(user=user, confirmed=True)
    return code_at(device.key, max(device.last_t + 1, current_step()))


@dataclass
class FakeClock:
    at: datetime = field(default_factory=timezone.now)

    def __call__(self) -> datetime:
        return self.at

    def advance(self, **delta: float) -> None:
        self.at += timedelta(**delta)
