"""The guard's counters and bans in Redis: one format for every node's policy service (which
writes them) and the panel (which reads them, and bans and unbans).

Keys, under the guard's prefix (GUARD_REDIS_PREFIX, the same on every node):
- guard/client/<client>: sorted set, one member per failed login in the window, scored by time;
- guard/login/<login name>: sorted set, one member "<time_ns>|<client>|<protocol>|<node>" per
  failure in the last 24 h (the window's count and the panel's "failed logins" list);
- guard/known/<login name>: sorted set of clients that logged in correctly, scored by the time;
- guard/ban/<client>: hash reason, since, until, failures; expires when the ban ends;
- guard/bans: sorted set client -> until (the list; members past their time are stale);
- guard/offences/<client>: how many times the client was banned lately (repeat offenders);
- guard/worst/<node>: sorted set client -> failures seen by that node today (the panel's list);
- guard/worst-domain/<domain>: the same per domain of the login name (the organization's list;
  kept for a day, also for names of domains nobody hosts, which is all an attacker can add).
"""

from __future__ import annotations

DAY = 86400
KNOWN_SECONDS = 90 * DAY


def client_failures_key(prefix: str, client: str) -> str:
    return f"{prefix}guard/client/{client}"


def login_failures_key(prefix: str, login: str) -> str:
    return f"{prefix}guard/login/{login}"


def known_key(prefix: str, login: str) -> str:
    return f"{prefix}guard/known/{login}"


def ban_key(prefix: str, client: str) -> str:
    return f"{prefix}guard/ban/{client}"


def bans_key(prefix: str) -> str:
    return f"{prefix}guard/bans"


def offences_key(prefix: str, client: str) -> str:
    return f"{prefix}guard/offences/{client}"


def worst_key(prefix: str, node: str) -> str:
    return f"{prefix}guard/worst/{node}"


def worst_domain_key(prefix: str, domain: str) -> str:
    return f"{prefix}guard/worst-domain/{domain}"


def login_member(now_ns: int, client: str, protocol: str, node: str) -> str:
    return f"{now_ns}|{client}|{protocol}|{node}"


def parse_login_member(member: str | bytes) -> tuple[float, str, str, str]:
    """(Unix time, client, protocol, node) of a guard/login member."""
    if isinstance(member, bytes):
        member = member.decode()
    at, client, protocol, node = [*member.split("|", 3), "", "", ""][:4]
    return int(at) / 1e9, client, protocol, node
