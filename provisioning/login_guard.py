"""The panel's side of the password guard (issue 27): current bans, failed logins of an
account, the worst clients per node, and staff banning and unbanning a client.

The counts and bans live in the guard's Redis (provisioning/policy/guard_keys.py), written by
every node's policy service. Reads use the panel's short-timeout client: with Redis away they
raise GuardUnavailable and the page says so. A ban or unban is audited (on the default node's
record: a ban holds on every node) and takes effect on every node's next login.
"""

from __future__ import annotations

import ipaddress
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from provisioning.policy import guard_keys as keys
from provisioning.policy.guard_rules import client_key, login_key
from provisioning.services import default_node
from security.audit import Actor, audit_record
from tempusmail.redis_clients import panel_redis

MAX_BAN_MINUTES = 365 * 24 * 60
MAX_REASON = 200


class GuardUnavailable(RuntimeError):
    """The guard's Redis could not be read or written."""


@dataclass(frozen=True)
class BanRow:
    address: str
    reason: str
    since: float
    until: float
    failures: int

    def as_json(self) -> dict[str, Any]:
        return {"address": self.address, "reason": self.reason, "since": _iso(self.since),
                "until": _iso(self.until), "failures": self.failures}  # fmt: skip


@dataclass(frozen=True)
class FailedLogin:
    at: float
    address: str
    protocol: str
    node: str

    @property
    def when(self) -> datetime:
        return datetime.fromtimestamp(self.at, UTC)


def _redis() -> Any:
    return panel_redis(settings.GUARD_REDIS_URL)


def _prefix() -> str:
    return str(settings.GUARD_REDIS_PREFIX)


def _call(fn: Any) -> Any:
    import redis

    try:
        return fn()
    except (redis.RedisError, OSError) as exc:
        raise GuardUnavailable(f"the guard's Redis cannot be reached ({exc})") from exc


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds")


def current_bans() -> list[BanRow]:
    """Every client banned now, the latest ban first."""
    p, now = _prefix(), time.time()

    def read() -> list[BanRow]:
        r = _redis()
        clients = [c.decode() for c in r.zrangebyscore(keys.bans_key(p), now, "+inf")]
        pipe = r.pipeline(transaction=False)
        for client in clients:
            pipe.hgetall(keys.ban_key(p, client))
        rows = []
        for client, data in zip(clients, pipe.execute(), strict=True):
            if not data:
                continue  # lifted, or expired just now
            d = {k.decode(): v.decode() for k, v in data.items()}
            since, until = float(d.get("since") or 0), float(d.get("until") or 0)
            failures = int(d.get("failures") or 0)
            rows.append(BanRow(client, d.get("reason", ""), since, until, failures))
        return sorted(rows, key=lambda b: b.since, reverse=True)

    result: list[BanRow] = _call(read)
    return result


def failed_logins(address: str, seconds: int = keys.DAY) -> list[FailedLogin]:
    """The failed logins with this login name in the last `seconds`, newest first."""
    key, since = keys.login_failures_key(_prefix(), login_key(address)), time.time() - seconds
    members = _call(lambda: _redis().zrevrangebyscore(key, "+inf", f"({since}"))
    return [FailedLogin(*keys.parse_login_member(m)) for m in members]


def worst_clients(node: str, limit: int = 10) -> list[tuple[str, int]]:
    """The clients with the most failed logins on a node today."""
    rows = _call(lambda: _redis().zrevrange(keys.worst_key(_prefix(), node), 0, limit - 1,
                                            withscores=True))  # fmt: skip
    return [(c.decode(), int(n)) for c, n in rows]


def worst_clients_of_domains(domains: list[str], limit: int = 10) -> list[tuple[str, int]]:
    """The clients with the most failed logins today against these domains' login names."""

    def read() -> list[tuple[str, int]]:
        pipe = _redis().pipeline(transaction=False)
        for domain in domains:
            pipe.zrevrange(keys.worst_domain_key(_prefix(), domain.lower()), 0, limit - 1,
                           withscores=True)  # fmt: skip
        totals: dict[str, int] = {}
        for rows in pipe.execute():
            for client, count in rows:
                totals[client.decode()] = totals.get(client.decode(), 0) + int(count)
        return sorted(totals.items(), key=lambda item: -item[1])[:limit]

    result: list[tuple[str, int]] = _call(read)
    return result


def parse_client(address: str) -> str:
    """The unit the guard bans (an IPv4 address, an IPv6 /64) of what staff typed."""
    text = address.strip()
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise ValidationError({"address": f"{text!r} is not an IP address."}) from None
    if network.version == 6 and network.prefixlen == 64:
        return str(network)
    if network.num_addresses != 1:
        raise ValidationError(
            {
                "address": "Give one IPv4 address, or an IPv6 address or /64 "
                "(the unit the guard bans)."
            }
        )
    key = client_key(str(network.network_address))
    assert key is not None
    return key


def ban(*, actor: Actor, address: str, minutes: int = 60, reason: str = "") -> BanRow:
    client = parse_client(address)
    if not 1 <= minutes <= MAX_BAN_MINUTES:
        raise ValidationError({"minutes": f"Give between 1 and {MAX_BAN_MINUTES} minutes."})
    reason = reason.strip() or "banned by staff"
    if len(reason) > MAX_REASON or any(c in reason for c in "\r\n"):
        raise ValidationError({"reason": f"One line of at most {MAX_REASON} characters."})
    now = time.time()
    row = BanRow(client, reason, now, now + minutes * 60, 0)
    p = _prefix()

    def write() -> None:
        pipe = _redis().pipeline(transaction=True)
        fields = {"reason": reason, "since": now, "until": row.until, "failures": 0}
        pipe.hset(keys.ban_key(p, client), mapping=fields)
        pipe.expireat(keys.ban_key(p, client), int(row.until) + 1)
        pipe.zadd(keys.bans_key(p), {client: row.until})
        pipe.execute()

    with transaction.atomic():
        node = default_node()
        audit_record(actor=actor, action="guard.ban", obj=node, organization=None,
                     after={"address": client, "minutes": minutes, "reason": reason})  # fmt: skip
        _call(write)  # a Redis that fails rolls the audit row back
    return row


def unban(*, actor: Actor, address: str) -> None:
    """Lift the ban and forget the client's failures, so it logs in at once."""
    client = parse_client(address)
    p = _prefix()
    if not _call(lambda: _redis().exists(keys.ban_key(p, client))):
        raise ValidationError({"address": f"{client} is not banned."})

    def write() -> None:
        pipe = _redis().pipeline(transaction=True)
        pipe.delete(keys.ban_key(p, client), keys.client_failures_key(p, client))
        pipe.zrem(keys.bans_key(p), client)
        pipe.execute()

    with transaction.atomic():
        audit_record(actor=actor, action="guard.unban", obj=default_node(), organization=None,
                     before={"address": client})  # fmt: skip
        _call(write)


def failed_logins_or_none(address: str) -> list[FailedLogin] | None:
    """For a page: the account's failed logins in 24 h, None while the guard cannot be read."""
    try:
        return failed_logins(address)
    except GuardUnavailable:
        return None
