"""The policy delegation protocol: "name=value" lines, an empty line ends a request; the answer
is one "action=..." line and an empty line. Postfix keeps a connection open for many requests.

Attribute names and values stay bytes: a decision needs four attributes of the ~30 Postfix
sends, and decoding the rest would be wasted work.
"""

from __future__ import annotations

END = b"\n\n"
# Postfix's requests are a few hundred bytes; this only bounds what a broken client can make
# the server buffer.
MAX_REQUEST = 64 * 1024


class MalformedRequest(ValueError):
    """Not a policy request; the message says why, in words fit for an SMTP reply."""


def parse_request(block: bytes) -> dict[bytes, bytes]:
    """The attributes of one request (block: its lines, with or without the empty line)."""
    attrs: dict[bytes, bytes] = {}
    for line in block.split(b"\n"):
        if not line:
            continue
        name, sep, value = line.partition(b"=")
        if not sep or not name:
            raise MalformedRequest("a line is not name=value")
        attrs[name] = value
    if attrs.get(b"request") != b"smtpd_access_policy":
        raise MalformedRequest("request=smtpd_access_policy is missing")
    return attrs


def reply(action: str) -> bytes:
    # A line break inside the action would end the reply early and desynchronise the stream.
    return b"action=" + action.replace("\n", " ").encode("utf-8", "replace") + END


DUNNO = reply("DUNNO")
