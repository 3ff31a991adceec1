"""Outbound mail through a smarthost: MAILNODE_RELAYHOST and its optional AUTH login.

The login lives only in the file MAILNODE_RELAY_PASSWORD_FILE names ("user:password" on its
first line): `mailstack start` builds Postfix's smtp_sasl_password_maps from it into the node's
own postfix/ folder (root, 0600; Postfix opens the table before dropping privileges), and no
error message, log line or setting ever carries the password.

Without a relayhost the test bed keeps refusing outside mail (an error transport), as before.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from provisioning.node.files import atomic_write, postmap

# Postfix's relayhost syntax: [host]:port (no MX lookup) or host:port (MX lookup), port optional.
RELAYHOST = re.compile(r"(\[[A-Za-z0-9.:-]+\]|[A-Za-z0-9][A-Za-z0-9.-]*)(:[0-9]{1,5})?")
PASSWORD_MAP = "relay_passwd"  # noqa: S105 (a file name)
NO_OUTSIDE_DELIVERY = "error:outside delivery disabled in the test bed"


class RelayConfigError(ValueError):
    """MAILNODE_RELAYHOST or its password file is unusable (the message names which, never
    the password)."""


@dataclass(frozen=True)
class Relay:
    host: str  # as Postfix's relayhost, e.g. "[smtp.provider.example]:587"
    password_file: Path | None = None

    def __post_init__(self) -> None:
        match = RELAYHOST.fullmatch(self.host)
        if not match or (match.group(2) and not 0 < int(match.group(2)[1:]) < 65536):
            raise RelayConfigError(
                f"MAILNODE_RELAYHOST {self.host!r} is not [host]:port, host:port or [host]"
            )

    def login(self) -> tuple[str, str] | None:
        """(user, password) from the password file; None without one."""
        if self.password_file is None:
            return None
        try:
            first = self.password_file.read_text("utf-8").splitlines()[:1]
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise RelayConfigError(
                f"MAILNODE_RELAY_PASSWORD_FILE {self.password_file}: cannot read it ({reason})"
            ) from None
        user, colon, password = (first[0] if first else "").partition(":")
        if not colon or not user.strip() or not password or any(c.isspace() for c in user):
            raise RelayConfigError(
                f"MAILNODE_RELAY_PASSWORD_FILE {self.password_file}: the first line must be "
                "user:password"
            )
        return user, password


def relay_from_settings() -> Relay | None:
    from django.conf import settings

    host = settings.MAILNODE_RELAYHOST
    if not host:
        return None
    password_file = settings.MAILNODE_RELAY_PASSWORD_FILE
    return Relay(host, Path(password_file) if password_file else None)


def outbound_settings(relay: Relay | None, *, password_map: str) -> str:
    """main.cf lines saying how mail for outside domains leaves (or that it does not)."""
    if relay is None:
        return f"relayhost =\ndefault_transport = {NO_OUTSIDE_DELIVERY}\n"
    lines = [
        f"relayhost = {relay.host}",
        "default_transport = smtp",
        # Opportunistic: a smarthost offering STARTTLS gets it, the login goes inside it then.
        "smtp_tls_security_level = may",
    ]
    if relay.password_file is not None:
        lines += [
            "smtp_sasl_auth_enable = yes",
            f"smtp_sasl_password_maps = {password_map}",
            "smtp_sasl_security_options = noanonymous",
            "smtp_sasl_tls_security_options = noanonymous",
        ]
    return "\n".join(lines) + "\n"


def write_password_map(relay: Relay | None, postfix_dir: Path, map_type: str) -> str:
    """Build (or empty) the node's smtp_sasl_password_maps; return its "type:path" name.

    In postfix/relay/, root's alone (0700), so neither the source nor the index postmap
    creates there is ever readable by anyone else, not even for a moment."""
    folder = postfix_dir / "relay"
    folder.mkdir(mode=0o700, exist_ok=True)
    os.chmod(folder, 0o700)
    source = folder / PASSWORD_MAP
    login = relay.login() if relay else None
    line = f"{relay.host} {login[0]}:{login[1]}\n" if relay and login else ""
    atomic_write(source, line, mode=0o600, group="root")
    table = f"{map_type}:{source}"
    postmap(table, folder)  # its -c folder is postfix/postmap/, beside relay/
    return table
