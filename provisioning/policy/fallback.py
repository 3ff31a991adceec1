"""The sent counters the decisions use: Redis, and the node's own count while Redis is away.

Normally every check and count goes to Redis (counters.py), and each check's result is kept
in memory per account ("known"). When Redis cannot be asked, the service falls back at once,
for every request, until Redis answers again:
- a message is counted as an event in the node's SQLite file (fallback_store.py), under the
  member it would have had in Redis;
- a check adds the account's events in the window to its last known Redis count (while that
  count is younger than the window), so a daily limit of 3 spread over the outage is still 3;
- the known counts are saved with the start of the fallback, so a restart keeps both.
A probe asks Redis every PROBE_SECONDS; once it answers, the events are merged.

The merge rule. An event is ZADDed under its own member, which is unique and the same however
often it is sent, so a merge that is cut off half-way and repeated adds nothing twice; events
are deleted from the file only after Redis acknowledged every command of their batch, so none
is lost by a failed merge. Events older than the 24-hour window are deleted without sending
(the writer would trim them at once). The node leaves the fallback only when the file holds no
event: the last check for pending events and the switch happen without yielding to a request,
so no event is left behind. A message whose count reached Redis but whose answer did not is
recorded with the same member, so it, too, is counted once.
What the fallback cannot know: messages other nodes counted during the outage (each node
applies the limits to what it saw: with N nodes serving an account, up to N times the limit),
and the exact age of the known counts' members (a known count holds until a whole window has
passed since it was read: a node on fallback may refuse early, not late).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from pathlib import Path

from provisioning.policy.counters import CountersUnavailable, SentCounters
from provisioning.policy.fallback_store import Event, FallbackStore, Known
from provisioning.policy.status import PolicyStatus, write_status
from provisioning.sent_counter import DAY, HOUR, KEEP_SECONDS, sent_member

log = logging.getLogger(__name__)

PROBE_SECONDS = 2.0
MERGE_BATCH = 1000


class Counters:
    def __init__(
        self,
        redis: SentCounters,
        store: FallbackStore,
        *,
        status_dir: Path | None = None,
        probe_seconds: float = PROBE_SECONDS,
    ) -> None:
        self.redis = redis
        self.store = store
        self.status_dir = status_dir
        self.probe_seconds = probe_seconds
        self.known: dict[str, Known] = store.load_known()
        self.fallback_since: float | None = store.fallback_since()
        self._recovery: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Resume a fallback the last run left (or merge what it left) and say so."""
        if self.fallback_since is not None or self.store.pending_count():
            if self.fallback_since is None:
                self.fallback_since = time.time()
            log.warning("starting on the node's own count (fallback since %s)",
                        time.ctime(self.fallback_since))  # fmt: skip
            self._start_recovery(delay=0)
        self._write_status()

    # --- what the decisions ask -----------------------------------------------------------
    async def sent(self, account: str, *, hour: bool, day: bool) -> tuple[int, int]:
        """Messages sent in the last hour and 24 hours (0 for a window not asked for)."""
        if self.fallback_since is None:
            try:
                counts = await self.redis.sent(account, hour=hour, day=day)
            except CountersUnavailable as exc:
                self._fall_back(exc)
            else:
                self.known[account] = Known(counts[0] if hour else None,
                                            counts[1] if day else None, time.time())  # fmt: skip
                return counts
        try:
            return self._sent_on_fallback(account, hour=hour, day=day)
        except sqlite3.Error as exc:
            log.error("cannot read the node's own count: %s", exc)
            raise CountersUnavailable(str(exc)) from exc

    async def count(self, account: str, recipients: int) -> None:
        """One more message now, in Redis or else on the node."""
        now = time.time()
        member = sent_member(recipients, int(now * 1e9))
        if self.fallback_since is None:
            try:
                await self.redis.count(account, member, now)
            except CountersUnavailable as exc:
                self._fall_back(exc)  # (the same member: if Redis did count it, merged once)
            else:
                if (known := self.known.get(account)) is not None:
                    self.known[account] = _plus_one(known)
                return
        try:
            self.store.add(Event(member, account, now))
        except sqlite3.Error as exc:
            # Mail keeps flowing: one message uncounted is better than none sent.
            log.error("message of %s not counted (the node's own count failed): %s", account, exc)

    def _sent_on_fallback(self, account: str, *, hour: bool, day: bool) -> tuple[int, int]:
        now = time.time()
        known = self.known.get(account)

        def in_window(asked: bool, window: int, before: int | None) -> int:
            if not asked:
                return 0
            # The count read from Redis still holds until a whole window has passed.
            still = known is not None and before is not None and now - known.seen < window
            return (before if still and before else 0) + self.store.count(account, now - window)

        return (
            in_window(hour, HOUR, known.hour if known else None),
            in_window(day, DAY, known.day if known else None),
        )

    # --- falling back and coming back -----------------------------------------------------
    def _fall_back(self, exc: BaseException) -> None:
        if self.fallback_since is not None:
            return
        self.fallback_since = now = time.time()
        log.error("Redis unreachable (%s): counting sent mail on this node until it is back",
                  exc)  # fmt: skip
        recent = {a: k for a, k in self.known.items() if now - k.seen < DAY}
        try:
            self.store.start_fallback(now, recent)
        except sqlite3.Error as err:
            log.error("cannot save the fallback's start: %s", err)
        self._write_status()
        self._start_recovery(delay=self.probe_seconds)

    def _start_recovery(self, *, delay: float) -> None:
        if self._recovery is None or self._recovery.done():
            self._recovery = asyncio.get_running_loop().create_task(self._recover(delay))

    async def _recover(self, delay: float) -> None:
        while True:
            await asyncio.sleep(delay)
            delay = self.probe_seconds
            try:
                merged = await self.merge()
            except CountersUnavailable:
                self._write_status()
                continue
            except sqlite3.Error as exc:
                log.error("cannot read the node's own count to merge it: %s", exc)
                continue
            assert self.fallback_since is not None
            log.warning("Redis is back after %.1f s; merged %d message(s) counted on this node",
                        time.time() - self.fallback_since, merged)  # fmt: skip
            self.fallback_since = None
            self.store.end_fallback()
            self._write_status()
            return

    async def merge(self) -> int:
        """Send every pending event to Redis; the number sent. Raises CountersUnavailable
        (events stay) when Redis does not acknowledge. Returns with none pending, without
        yielding after the last look (see the module's merge rule)."""
        await self.redis.ping()
        merged = 0
        while events := self.store.pending(MERGE_BATCH):
            now = time.time()
            live = [e for e in events if e.at > now - KEEP_SECONDS]
            if live:
                await self.redis.add(live)
            self.store.remove([e.member for e in events])
            for event in live:
                if (known := self.known.get(event.account)) is not None:
                    self.known[event.account] = _plus_one(known)
            merged += len(live)
        return merged

    def _write_status(self) -> None:
        if self.status_dir is None:
            return
        try:
            unmerged = self.store.pending_count()
            write_status(self.status_dir, PolicyStatus(self.fallback_since, unmerged, time.time()))
        except (OSError, sqlite3.Error) as exc:
            log.error("cannot write the policy service's status: %s", exc)

    async def close(self) -> None:
        if self._recovery is not None:
            self._recovery.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._recovery
        await self.redis.close()
        self.store.close()


def _plus_one(known: Known) -> Known:
    return Known(None if known.hour is None else known.hour + 1,
                 None if known.day is None else known.day + 1, known.seen)  # fmt: skip
