"""How a mail node faces the world: the test bed (loopback, picked ports, TLS from its own
test CA, nothing leaves) or production (public addresses, standard ports, TLS, postscreen,
delivery by MX).

A Profile is plain data: the controller renders the configuration from it, and tests build
one directly (two production nodes on 127.0.0.2 and 127.0.0.3). from_settings() is the only
place that reads the MAILNODE_* settings (tempusmail/settings.py, docs/deployment.md).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path

TESTBED = "testbed"
PRODUCTION = "production"
# The node's own services (LMTP, SASL, policy ...) are on 127.0.0.1 at picked ports in both
# profiles: the controller lists them. These are the ones clients and other MTAs use.
TESTBED_PUBLIC_PORT_NAMES = (
    "smtp",
    "submission",
    "submissions",  # TLS from the first byte (465 in production)
    "imap",
    "imaps",
    "pop3",
    "pop3s",
    "managesieve",
)
# Production listeners: the standard ports (no plaintext IMAP/POP3: 993 and 995 only).
PRODUCTION_PORTS = {
    "smtp": 25,
    "submissions": 465,
    "submission": 587,
    "imaps": 993,
    "pop3s": 995,
    "managesieve": 4190,
}
HOSTNAME = re.compile(r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}", re.I)


class ProfileError(ValueError):
    """A MAILNODE_* setting that cannot work; the message names the setting."""


@dataclass(frozen=True)
class Profile:
    name: str = TESTBED
    hostname: str = "mx.tempusmail.test"
    # Addresses of the public listeners (production); the test bed is always on 127.0.0.1.
    listen: tuple[str, ...] = ("127.0.0.1",)
    # Clients that may relay without logging in: only what the operator lists.
    mynetworks: tuple[str, ...] = ()
    message_size_limit: int = 25 * 1024 * 1024
    # The certificate (PEM) of hostname; None: the controller makes a self-signed one (tls.py).
    tls_cert: Path | None = None
    tls_key: Path | None = None
    # A name server for Postfix instead of the system's; None: /etc/resolv.conf.
    resolver: str | None = None
    client_connections: int = 20
    client_connection_rate: int = 60
    client_message_rate: int = 120
    postscreen_greet_wait: int = 6

    def __post_init__(self) -> None:
        if self.name not in (TESTBED, PRODUCTION):
            raise ProfileError(f"MAILNODE_PROFILE={self.name!r}: use {TESTBED!r} or {PRODUCTION!r}")
        if not HOSTNAME.fullmatch(self.hostname):
            raise ProfileError(f"MAILNODE_HOSTNAME={self.hostname!r} is not a host name")
        if self.production and not self.listen:
            raise ProfileError("MAILNODE_LISTEN is empty: list the addresses to listen on")
        for address in (*self.listen, *([self.resolver] if self.resolver else [])):
            _ip(address, "MAILNODE_LISTEN" if address in self.listen else "MAILNODE_RESOLVER")
        for network in self.mynetworks:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                raise ProfileError(f"MAILNODE_MYNETWORKS: {network!r} is not a network") from None
        if self.message_size_limit < 1024:
            raise ProfileError("MAILNODE_MESSAGE_SIZE_LIMIT must be at least 1024 bytes")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ProfileError("set both MAILNODE_TLS_CERT and MAILNODE_TLS_KEY, or neither")

    @property
    def production(self) -> bool:
        return self.name == PRODUCTION

    @property
    def public_port_names(self) -> tuple[str, ...]:
        return tuple(PRODUCTION_PORTS) if self.production else TESTBED_PUBLIC_PORT_NAMES

    @property
    def fixed_ports(self) -> dict[str, int]:
        """Ports that are not picked: production's standard ones."""
        return dict(PRODUCTION_PORTS) if self.production else {}

    @property
    def public_addresses(self) -> tuple[str, ...]:
        return self.listen if self.production else ("127.0.0.1",)

    def listeners(self, ports: dict[str, int]) -> list[tuple[str, str, int]]:
        """(name, address, port) of every socket the node listens on; the ports not public
        are the node's own services, on loopback."""
        return [
            (name, address, port)
            for name, port in ports.items()
            for address in (
                self.public_addresses if name in self.public_port_names else ("127.0.0.1",)
            )
        ]


def from_settings() -> Profile:
    from django.conf import settings

    cert, key = settings.MAILNODE_TLS_CERT, settings.MAILNODE_TLS_KEY
    return Profile(
        name=settings.MAILNODE_PROFILE,
        hostname=settings.MAILNODE_HOSTNAME,
        listen=tuple(settings.MAILNODE_LISTEN),
        mynetworks=tuple(settings.MAILNODE_MYNETWORKS),
        message_size_limit=settings.MAILNODE_MESSAGE_SIZE_LIMIT,
        tls_cert=Path(cert) if cert else None,
        tls_key=Path(key) if key else None,
        resolver=settings.MAILNODE_RESOLVER or None,
        client_connections=settings.MAILNODE_CLIENT_CONNECTIONS,
        client_connection_rate=settings.MAILNODE_CLIENT_CONNECTION_RATE,
        client_message_rate=settings.MAILNODE_CLIENT_MESSAGE_RATE,
        postscreen_greet_wait=settings.MAILNODE_POSTSCREEN_GREET_WAIT,
    )


def _ip(address: str, setting: str) -> None:
    try:
        ipaddress.ip_address(address)
    except ValueError:
        raise ProfileError(f"{setting}: {address!r} is not an IP address") from None


def postfix_address(address: str, port: int) -> str:
    """host:port as master.cf wants it ([v6]:port)."""
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
