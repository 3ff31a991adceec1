"""The "sent" counters in Redis, in the one format of provisioning/sent_counter.py.

Requests arriving together share round trips: the commands of every check and count made while
a pipeline is on its way are sent as the next pipeline ("automatic pipelining"). An idle
service answers in one round trip; a busy one pays redis-py's per-call cost once per batch
instead of once per decision, which is most of what a decision costs.

A Redis that cannot be reached (refused, reset, timed out) fails the batch with
CountersUnavailable, which the policy answers with a temporary refusal. redis-py reconnects on
the next batch by itself, so service resumes as soon as Redis is back, without a restart.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from provisioning.sent_counter import DAY, HOUR, KEEP_SECONDS, sent_key, sent_member

log = logging.getLogger(__name__)

# Postfix waits for the answer while its client waits for the SMTP reply: a Redis that hangs
# must turn into a quick temporary refusal, not a stalled session.
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
        self._down_since: float | None = None

    async def sent(self, address: str, *, hour: bool, day: bool) -> tuple[int, int]:
        """Messages sent in the last hour and 24 hours (0 for a window not asked for)."""
        now = time.time()
        key = sent_key(self.prefix, address)
        commands = []
        if hour:
            commands.append(("ZCOUNT", key, f"({now - HOUR}", "+inf"))
        if day:
            commands.append(("ZCOUNT", key, f"({now - DAY}", "+inf"))
        counts = await self._run(commands)
        return (counts[0] if hour else 0, counts[-1] if day else 0)

    async def count(self, address: str, recipients: int) -> None:
        """One more message, sent to `recipients` recipients now; trims what no window needs."""
        now = time.time()
        key = sent_key(self.prefix, address)
        await self._run(
            [
                ("ZADD", key, now, sent_member(recipients)),
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
            self._went_down(exc)
            for future, _, _ in waiters:
                if not future.done():
                    future.set_exception(CountersUnavailable(str(exc)))
            return
        self._came_back()
        for future, start, length in waiters:
            mine = results[start : start + length]
            error = next((r for r in mine if isinstance(r, Exception)), None)
            if future.done():
                continue  # its requester went away (connection closed)
            if error is not None:
                future.set_exception(CountersUnavailable(str(error)))
            else:
                future.set_result(mine)

    def _went_down(self, exc: BaseException) -> None:
        if self._down_since is None:
            self._down_since = time.monotonic()
            log.error("Redis unreachable, sending is deferred until it is back: %s", exc)

    def _came_back(self) -> None:
        if self._down_since is not None:
            log.warning("Redis is back after %.1f s", time.monotonic() - self._down_since)
            self._down_since = None

    async def close(self) -> None:
        if self._sending is not None:
            await asyncio.gather(self._sending, return_exceptions=True)
        await self.redis.aclose()
