"""The "sent" counters in Redis, in the one format of provisioning/sent_counter.py.

Requests arriving together share round trips: the commands of every check and count made while
a pipeline is on its way are sent as the next pipeline ("automatic pipelining"). An idle
service answers in one round trip; a busy one pays redis-py's per-call cost once per batch
instead of once per decision, which is most of what a decision costs.

A Redis that cannot be reached (refused, reset, timed out) fails the batch with
CountersUnavailable, upon which the service counts on the node instead (fallback.py) until
Redis answers again. redis-py reconnects by itself, without a restart.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from provisioning.policy.fallback_store import Event
from provisioning.sent_counter import DAY, HOUR, KEEP_SECONDS, sent_key

# Postfix waits for the answer while its client waits for the SMTP reply: a Redis that hangs
# must soon turn into the fallback, not a stalled session.
TIMEOUT_SECONDS = 1.0

Command = tuple[Any, ...]


class CountersUnavailable(RuntimeError):
    """Redis could not be asked; the reason is in the message."""


class SentCounters:
    def __init__(self, url: str, prefix: str, *, timeout: float = TIMEOUT_SECONDS) -> None:
        self.prefix = prefix
        # One immediate retry on a fresh connection: after a Redis restart the pooled
        # connection is dead, and the first batch should not fail for that.
        self.redis = Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 1),
        )
        self._commands: list[Command] = []
        self._waiters: list[tuple[asyncio.Future[list[Any]], int, int]] = []
        self._sending: asyncio.Task[None] | None = None

    async def sent(self, account: str, *, hour: bool, day: bool) -> tuple[int, int]:
        """Messages sent in the last hour and 24 hours (0 for a window not asked for)."""
        now = time.time()
        key = sent_key(self.prefix, account)
        commands = []
        if hour:
            commands.append(("ZCOUNT", key, f"({now - HOUR}", "+inf"))
        if day:
            commands.append(("ZCOUNT", key, f"({now - DAY}", "+inf"))
        counts = await self._run(commands)
        return (counts[0] if hour else 0, counts[-1] if day else 0)

    async def count(self, account: str, member: str, now: float) -> None:
        """One more message (member: provisioning/sent_counter.py); trims what no window needs."""
        key = sent_key(self.prefix, account)
        await self._run(
            [
                ("ZADD", key, now, member),
                ("ZREMRANGEBYSCORE", key, "-inf", now - KEEP_SECONDS),
                ("EXPIRE", key, KEEP_SECONDS + 60),  # an account that stops sending leaves none
            ]
        )

    def _run(self, commands: list[Command]) -> asyncio.Future[list[Any]]:
        future = asyncio.get_running_loop().create_future()
        self._waiters.append((future, len(self._commands), len(commands)))
        self._commands += commands
        if self._sending is None:
            self._sending = asyncio.get_running_loop().create_task(self._send())
        return future

    async def _send(self) -> None:
        """Send what is queued as one pipeline, then what queued up meanwhile, until none."""
        try:
            while self._commands:
                commands, waiters = self._commands, self._waiters
                self._commands, self._waiters = [], []
                await self._pipeline(commands, waiters)
        finally:
            self._sending = None

    async def _pipeline(
        self, commands: list[Command], waiters: list[tuple[asyncio.Future[list[Any]], int, int]]
    ) -> None:
        pipe = self.redis.pipeline(transaction=False)
        for command in commands:
            pipe.execute_command(*command)
        try:
            results = await pipe.execute(raise_on_error=False)
        except (RedisError, OSError) as exc:
            for future, _, _ in waiters:
                if not future.done():
                    future.set_exception(CountersUnavailable(str(exc)))
            return
        for future, start, length in waiters:
            mine = results[start : start + length]
            error = next((r for r in mine if isinstance(r, Exception)), None)
            if future.done():
                continue  # its requester went away (connection closed)
            if error is not None:
                future.set_exception(CountersUnavailable(str(error)))
            else:
                future.set_result(mine)

    async def ping(self) -> None:
        try:
            await self.redis.ping()
        except (RedisError, OSError) as exc:
            raise CountersUnavailable(str(exc)) from exc

    async def add(self, events: list[Event]) -> None:
        """Add messages counted elsewhere (the fallback's events); raises CountersUnavailable
        unless Redis acknowledged every one. Adding one twice is harmless: same member."""
        now = time.time()
        pipe = self.redis.pipeline(transaction=False)
        for event in events:
            pipe.zadd(sent_key(self.prefix, event.account), {event.member: event.at})
        for key in {sent_key(self.prefix, event.account) for event in events}:
            pipe.zremrangebyscore(key, "-inf", now - KEEP_SECONDS)
            pipe.expire(key, KEEP_SECONDS + 60)
        try:
            results = await pipe.execute(raise_on_error=False)
        except (RedisError, OSError) as exc:
            raise CountersUnavailable(str(exc)) from exc
        error = next((r for r in results if isinstance(r, Exception)), None)
        if error is not None:
            raise CountersUnavailable(str(error))

    async def close(self) -> None:
        if self._sending is not None:
            await asyncio.gather(self._sending, return_exceptions=True)
        await self.redis.aclose()
