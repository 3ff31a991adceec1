"""The "sent" counters in Redis: one format, shared by every mail node's policy service (which
writes them) and the panel (which reads them for "sent in 24 h").

Per account one sorted set, key "<prefix>sent/<address>"; one member per accepted message,
scored by the Unix time it was accepted, named "<time_ns>:<recipients>:<random>" so that two
messages in the same nanosecond on two nodes never collide. A sliding window is then a
ZCOUNT over (now - window, +inf]; the writer trims members older than the longest window.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable

HOUR = 3600
DAY = 86400
KEEP_SECONDS = DAY  # the longest window: older members are trimmed on each write


def sent_key(prefix: str, address: str) -> str:
    return f"{prefix}sent/{address}"


def sent_member(recipients: int, now_ns: int | None = None) -> str:
    return f"{now_ns or time.time_ns()}:{int(recipients)}:{secrets.token_hex(4)}"


def member_recipients(member: str | bytes) -> int:
    if isinstance(member, bytes):
        member = member.decode()
    try:
        return int(member.split(":")[1])
    except (IndexError, ValueError):
        return 0


def sent_in_window(client, prefix: str, addresses: Iterable[str], seconds: int = DAY,
                   now: float | None = None) -> dict[str, int]:  # fmt: skip
    """Messages each address sent in the last `seconds` (one round trip for a whole page)."""
    addresses = list(addresses)
    if not addresses:
        return {}
    since = f"({(now or time.time()) - seconds}"
    pipe = client.pipeline(transaction=False)
    for address in addresses:
        pipe.zcount(sent_key(prefix, address), since, "+inf")
    return dict(zip(addresses, (int(n) for n in pipe.execute()), strict=True))
