"""Shared pieces of the management commands ops scripts rely on.

Bad input ends a command with exit status 1 and one clear line on stderr (CommandError);
the services' transactions guarantee nothing was changed.
"""

from __future__ import annotations

import getpass
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError

from security.audit import Actor


def cli_actor() -> Actor:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return Actor(label=f"cli:{user}")


def one_line(exc: ValidationError) -> str:
    if hasattr(exc, "error_dict"):
        parts: list[str] = []
        for field, errors in exc.message_dict.items():
            label = "" if field in ("__all__", "") else f"{field.replace('_', ' ')}: "
            parts.extend(f"{label}{message}" for message in errors)
        return "; ".join(parts)
    return "; ".join(exc.messages)


@contextmanager
def user_errors() -> Iterator[None]:
    try:
        yield
    except ValidationError as exc:
        raise CommandError(one_line(exc)) from exc


def read_password_stdin() -> str:
    """The first line of stdin, without its line ending (as `--password-stdin` promises)."""
    line = sys.stdin.readline()
    password = line.rstrip("\r\n")
    if not password:
        raise CommandError("password: nothing was read from standard input.")
    return password
