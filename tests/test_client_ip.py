"""Which address a request comes from, behind a trusted reverse proxy or not."""

from __future__ import annotations

import pytest
from django.test import RequestFactory

from tempusmail.client_ip import client_ip

PROXY = "10.0.0.5"


def _request(remote: str, forwarded: str | None = None):
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/", **extra)


def test_without_trusted_proxies_the_socket_address_is_the_client(settings) -> None:
    settings.TRUSTED_PROXIES = []
    assert client_ip(_request(PROXY, "203.0.113.7")) == PROXY


@pytest.mark.parametrize(
    ("remote", "forwarded", "expected"),
    [
        (PROXY, "203.0.113.7", "203.0.113.7"),  # one trusted proxy in front
        (PROXY, "198.51.100.1, 203.0.113.7", "203.0.113.7"),  # the client forged the left part
        (PROXY, "203.0.113.7, 10.0.0.9", "203.0.113.7"),  # two trusted hops
        (PROXY, "", PROXY),  # a proxy that said nothing
        (PROXY, "not-an-ip", PROXY),  # a malformed hop
        ("192.0.2.4", "203.0.113.7", "192.0.2.4"),  # not from a proxy: the header is ignored
    ],
)
def test_behind_a_trusted_proxy_the_forwarded_client_is_used(
    settings, remote: str, forwarded: str, expected: str
) -> None:
    settings.TRUSTED_PROXIES = ["10.0.0.0/24"]
    assert client_ip(_request(remote, forwarded)) == expected
