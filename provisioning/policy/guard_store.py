"""Where the guard counts: the shared Redis (guard_keys.py), and the node's memory while Redis
cannot be asked.

Every node reads and writes the same keys, so a client banned by one node is refused by all.
When Redis fails (refused, reset, timed out), the guard goes on at once with the node's own
count in memory for PROBE_SECONDS, then tries Redis again. The memory count is not merged into
Redis afterwards and does not survive a restart: it only has to stop a guessing run during the
outage, and a run that goes on afterwards is counted in Redis from then on. What the node knew
from Redis before the outage (bans, the known clients of a login) is kept in memory too, so an
outage neither frees a banned client nor locks out an owner.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from typing import Any, Protocol

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from provisioning.policy import guard_keys as keys
from provisioning.policy.guard_rules import GuardRules, Seen

log = logging.getLogger(__name__)

PROBE_SECONDS = 2.0
# Dovecot waits for the answer before it checks the password: a Redis that hangs must turn
# into the node's own count well within Dovecot's own timeout (2 s).
TIMEOUT_SECONDS = 0.3


@dataclass(frozen=True)
class Ban:
    client: str
    reason: str
    since: float
    until: float
    failures: int


class Store(Protocol):
    async def attempt(self, client: str, login: str, attempt: str, now: float) -> Seen: ...
    async def failure(self, client: str, login: str, protocol: str, now: float) -> int: ...
    async def success(self, client: str, login: str, attempt: str, now: float) -> None: ...
    async def refused(self, client: str, attempt: str) -> None: ...
    async def ban(self, client: str, reason: str, failures: int, now: float) -> Ban | None: ...


class RedisStore:
    def __init__(self, url: str, prefix: str, rules: GuardRules, node: str) -> None:
        self.prefix, self.rules, self.node = prefix, rules, node
        self.redis = Redis.from_url(
            url,
            socket_timeout=TIMEOUT_SECONDS,
            socket_connect_timeout=TIMEOUT_SECONDS,
            retry=Retry(NoBackoff(), 1),
        )

    async def _run(self, *commands: tuple[Any, ...]) -> list[Any]:
        pipe = self.redis.pipeline(transaction=False)
        for command in commands:
            pipe.execute_command(*command)
        return list(await pipe.execute())

    async def attempt(self, client: str, login: str, attempt: str, now: float) -> Seen:
        """Count the attempt (under way: a failure unless it succeeds) and say what the
        counters held before it."""
        p, since, ck = (
            self.prefix,
            f"({now - self.rules.window}",
            keys.client_failures_key(self.prefix, client),
        )
        *_, c, a, banned, known = await self._run(
            ("ZADD", ck, now, attempt),
            ("ZREMRANGEBYSCORE", ck, "-inf", now - self.rules.window),
            ("EXPIRE", ck, self.rules.window + 60),
            ("ZCOUNT", ck, since, "+inf"),
            ("ZCOUNT", keys.login_failures_key(p, login), since, "+inf"),
            ("EXISTS", keys.ban_key(p, client)),
            ("ZSCORE", keys.known_key(p, login), client),
        )
        return Seen(int(c) - 1, int(a), bool(banned), known is not None)

    async def failure(self, client: str, login: str, protocol: str, now: float) -> int:
        p, window, now_ns = self.prefix, self.rules.window, int(now * 1e9)
        ck, lk, wk = (keys.client_failures_key(p, client), keys.login_failures_key(p, login),
                      keys.worst_key(p, self.node))  # fmt: skip
        results = await self._run(
            ("ZCOUNT", ck, f"({now - window}", "+inf"),
            ("ZADD", lk, now, keys.login_member(now_ns, client, protocol, self.node)),
            ("ZREMRANGEBYSCORE", lk, "-inf", now - keys.DAY),
            ("EXPIRE", lk, keys.DAY + 60),
            ("ZINCRBY", wk, 1, client),
            ("EXPIRE", wk, keys.DAY),
            *_per_domain(p, login, client),
        )
        return int(results[0])

    async def success(self, client: str, login: str, attempt: str, now: float) -> None:
        key = keys.known_key(self.prefix, login)
        await self._run(
            ("ZREM", keys.client_failures_key(self.prefix, client), attempt),
            ("ZADD", key, now, client),
            ("EXPIRE", key, keys.KNOWN_SECONDS),
        )

    async def refused(self, client: str, attempt: str) -> None:
        await self._run(("ZREM", keys.client_failures_key(self.prefix, client), attempt))

    async def ban(self, client: str, reason: str, failures: int, now: float) -> Ban | None:
        """Ban the client, None when it already is (failures that were under way)."""
        p = self.prefix
        if await self.redis.exists(keys.ban_key(p, client)):
            return None
        (earlier,) = await self._run(("INCR", keys.offences_key(p, client)))
        until = now + self.rules.ban_length(int(earlier) - 1)
        await self._run(
            ("EXPIRE", keys.offences_key(p, client), self.rules.offence_memory),
            ("HSET", keys.ban_key(p, client), "reason", reason, "since", now, "until", until,
             "failures", failures),
            ("EXPIREAT", keys.ban_key(p, client), int(until) + 1),
            ("ZADD", keys.bans_key(p), until, client),
            ("ZREMRANGEBYSCORE", keys.bans_key(p), "-inf", now),
        )  # fmt: skip
        return Ban(client, reason, now, until, failures)

    async def close(self) -> None:
        await self.redis.aclose()


def _per_domain(prefix: str, login: str, client: str) -> list[tuple[Any, ...]]:
    domain = login.rpartition("@")[2]
    if not domain or "@" not in login:
        return []
    key = keys.worst_domain_key(prefix, domain)
    return [("ZINCRBY", key, 1, client), ("EXPIRE", key, keys.DAY)]


class MemoryStore:
    """The same counts in this process's memory (the outage's count, and the tests')."""

    def __init__(self, rules: GuardRules) -> None:
        self.rules = rules
        self.clients: defaultdict[str, dict[str, float]] = defaultdict(dict)
        self.logins: defaultdict[str, deque[float]] = defaultdict(deque)
        self.known: set[tuple[str, str]] = set()
        self.bans: dict[str, Ban] = {}
        self.offences: defaultdict[str, int] = defaultdict(int)

    def _count(self, times: deque[float], now: float) -> int:
        while times and times[0] <= now - self.rules.window:
            times.popleft()
        return len(times)

    def _banned(self, client: str, now: float) -> bool:
        ban = self.bans.get(client)
        if ban is not None and ban.until <= now:
            del self.bans[client]
            return False
        return ban is not None

    def _attempts(self, client: str, now: float) -> int:
        attempts = self.clients[client]
        for attempt in [a for a, at in attempts.items() if at <= now - self.rules.window]:
            del attempts[attempt]
        return len(attempts)

    async def attempt(self, client: str, login: str, attempt: str, now: float) -> Seen:
        self.clients[client][attempt] = now
        return Seen(
            self._attempts(client, now) - 1,
            self._count(self.logins[login], now),
            self._banned(client, now),
            (login, client) in self.known,
        )

    async def failure(self, client: str, login: str, protocol: str, now: float) -> int:
        self.logins[login].append(now)
        return self._attempts(client, now)

    async def success(self, client: str, login: str, attempt: str, now: float) -> None:
        self.clients[client].pop(attempt, None)
        self.known.add((login, client))

    async def refused(self, client: str, attempt: str) -> None:
        self.clients[client].pop(attempt, None)

    async def ban(self, client: str, reason: str, failures: int, now: float) -> Ban | None:
        if self._banned(client, now):
            return None
        self.offences[client] += 1
        until = now + self.rules.ban_length(self.offences[client] - 1)
        self.bans[client] = ban = Ban(client, reason, now, until, failures)
        return ban

    def remember(self, client: str, login: str, seen: Seen, now: float) -> None:
        """Keep what Redis said that an outage must not forget (a ban, a known client)."""
        if seen.known:
            self.known.add((login, client))
        if not seen.banned:
            self.bans.pop(client, None)  # (unbanned in the panel)
        elif client not in self.bans:
            self.bans[client] = Ban(client, "banned (seen in Redis)", now,
                                    now + self.rules.ban_seconds, seen.client_failures)  # fmt: skip


class GuardStore:
    """Redis while it answers, else the node's memory (see the module's docstring)."""

    def __init__(self, redis: RedisStore | None, memory: MemoryStore,
                 probe_seconds: float = PROBE_SECONDS) -> None:  # fmt: skip
        self.redis, self.memory, self.probe_seconds = redis, memory, probe_seconds
        self.fallback_since: float | None = None
        self._retry_at = 0.0

    def _use_redis(self) -> RedisStore | None:
        if self.redis is None or time.monotonic() < self._retry_at:
            return None
        return self.redis

    def _failed(self, exc: BaseException) -> None:
        self._retry_at = time.monotonic() + self.probe_seconds
        if self.fallback_since is None:
            self.fallback_since = time.time()
            log.error("guard: Redis unreachable (%s): counting failed logins on this node", exc)

    def _answered(self) -> None:
        if self.fallback_since is not None:
            log.warning("guard: Redis is back after %.1f s", time.time() - self.fallback_since)
            self.fallback_since = None

    async def attempt(self, client: str, login: str, attempt: str, now: float) -> Seen:
        if (redis := self._use_redis()) is not None:
            try:
                seen = await redis.attempt(client, login, attempt, now)
            except (RedisError, OSError) as exc:
                self._failed(exc)
            else:
                self._answered()
                self.memory.remember(client, login, seen, now)
                return seen
        return await self.memory.attempt(client, login, attempt, now)

    async def failure(self, client: str, login: str, protocol: str, now: float) -> int:
        if (redis := self._use_redis()) is not None:
            try:
                return await redis.failure(client, login, protocol, now)
            except (RedisError, OSError) as exc:
                self._failed(exc)
        return await self.memory.failure(client, login, protocol, now)

    async def success(self, client: str, login: str, attempt: str, now: float) -> None:
        await self.memory.success(client, login, attempt, now)
        if (redis := self._use_redis()) is not None:
            try:
                await redis.success(client, login, attempt, now)
            except (RedisError, OSError) as exc:
                self._failed(exc)

    async def refused(self, client: str, attempt: str) -> None:
        await self.memory.refused(client, attempt)
        if (redis := self._use_redis()) is not None:
            try:
                await redis.refused(client, attempt)
            except (RedisError, OSError) as exc:
                self._failed(exc)

    async def ban(self, client: str, reason: str, failures: int, now: float) -> Ban | None:
        if (redis := self._use_redis()) is not None:
            try:
                ban = await redis.ban(client, reason, failures, now)
            except (RedisError, OSError) as exc:
                self._failed(exc)
            else:
                if ban is not None:
                    self.memory.bans[client] = ban
                return ban
        return await self.memory.ban(client, reason, failures, now)

    async def close(self) -> None:
        if self.redis is not None:
            await self.redis.close()
