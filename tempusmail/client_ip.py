"""The client's IP address, as the audit log, the login throttle and owners' IP restrictions
must all see it.

Behind a reverse proxy (the TLS proxy of docs/deployment.md) REMOTE_ADDR is the proxy's
address for every client. When TRUSTED_PROXIES lists the proxies' networks, a request from one
of them is attributed to the right-most X-Forwarded-For address that is not a trusted proxy:
what a client writes into the header itself sits further left and is never believed.
"""

from __future__ import annotations

import ipaddress
from functools import cache

from django.conf import settings
from django.http import HttpRequest

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@cache
def _trusted(networks: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(net, strict=False) for net in networks)


def _is_trusted(address: str, trusted: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in trusted)


def client_ip(request: HttpRequest | None) -> str | None:
    if request is None:
        return None
    remote = request.META.get("REMOTE_ADDR") or None
    trusted = _trusted(tuple(settings.TRUSTED_PROXIES))
    if not trusted or remote is None or not _is_trusted(remote, trusted):
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    for address in reversed([part for part in forwarded if part]):
        if not _is_trusted(address, trusted):
            try:
                return str(ipaddress.ip_address(address))
            except ValueError:
                return remote  # a malformed hop: fall back to what the socket says
    return remote
