"""The time the login throttle and the two-factor policy go by (tests move it instead of
waiting: monkeypatch security.clock.now)."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone


def now() -> datetime:
    return timezone.now()
