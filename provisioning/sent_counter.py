"""The "sent" counters in Redis: one format, shared by every mail node's policy service (which
writes them) and the panel (which reads them for "sent in 24 h").

Per account one sorted set, key "<prefix>sent/<mailbox id>": keyed by the account, not its
address, so an address deleted and created again starts at zero. (A policy service that knows no
id for a sender, which only happens with a limits file written before ids were in it, keys by
the address, "<prefix>sent/<local@domain>"; ids never contain "@", so the two never meet.)
One member per accepted message, scored by the Unix time it was accepted, named
"<time_ns>:<recipients>:<random>" so that two messages in the same nanosecond on two nodes
never collide, and so that adding the same message twice (a node merging its fallback count,
provisioning/policy/fallback.py) is one member, not two. A sliding window is then a ZCOUNT over
(now - window, +inf]; the writer trims members older than the longest window.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable
from typing import TypeVar

HOUR = 3600
DAY = 86400
KEEP_SECONDS = DAY  # the longest window: older members are trimmed on each write

Account = TypeVar("Account", int, str)


def sent_key(prefix: str, account: int | str) -> str:
    """The counter of an account: its mailbox id (or, from an old limits file, its address)."""
    return f"{prefix}sent/{account}"


def sent_member(recipients: int, now_ns: int | None = None) -> str:
    return f"{now_ns or time.time_ns()}:{int(recipients)}:{secrets.token_hex(4)}"


def member_recipients(member: str | bytes) -> int:
    if isinstance(member, bytes):
        member = member.decode()
    try:
        return int(member.split(":")[1])
    except (IndexError, ValueError):
        return 0


def sent_in_window(client, prefix: str, accounts: Iterable[Account], seconds: int = DAY,
                   now: float | None = None) -> dict[Account, int]:  # fmt: skip
    """Messages each account sent in the last `seconds` (one round trip for a whole page)."""
    accounts = list(accounts)
    if not accounts:
        return {}
    since = f"({(now or time.time()) - seconds}"
    pipe = client.pipeline(transaction=False)
    for account in accounts:
        pipe.zcount(sent_key(prefix, account), since, "+inf")
    return dict(zip(accounts, (int(n) for n in pipe.execute()), strict=True))
