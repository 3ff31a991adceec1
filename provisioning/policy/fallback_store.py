"""The policy service's own count while the counters' Redis is away: one SQLite file on the
node (policy/state/fallback.sqlite3), so it survives a restart of the service.

- events: one row per message accepted on fallback, named by the member it will have in Redis
  (provisioning/sent_counter.py), so merging it twice adds it once;
- known: the last counts read from Redis per account, saved when the fallback starts, so a
  restart during the outage still knows what was sent before it;
- state: when the fallback started (absent: the service counts in Redis).

Only the fallback path touches it. WAL with synchronous=NORMAL: a commit is a write() to the
log, no fsync, so it costs microseconds and survives the process (not a power cut).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

FILE_NAME = "fallback.sqlite3"

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    member TEXT PRIMARY KEY, account TEXT NOT NULL, at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_account ON events (account, at);
CREATE TABLE IF NOT EXISTS known (
    account TEXT PRIMARY KEY, hour INTEGER, day INTEGER, seen REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS state (name TEXT PRIMARY KEY, value REAL NOT NULL);
"""


class Event(NamedTuple):
    """A message accepted on fallback: its counter (account), time and Redis member."""

    member: str
    account: str
    at: float


class Known(NamedTuple):
    """Counts read from Redis at `seen` (None: that window was not asked for)."""

    hour: int | None
    day: int | None
    seen: float


class FallbackStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)

    # --- events ---------------------------------------------------------------------------
    def add(self, event: Event) -> None:
        self.db.execute("INSERT OR IGNORE INTO events VALUES (?, ?, ?)", event)

    def count(self, account: str, since: float) -> int:
        """Events of the account after `since`."""
        (n,) = self.db.execute(
            "SELECT count(*) FROM events WHERE account = ? AND at > ?", (account, since)
        ).fetchone()
        return int(n)

    def pending(self, limit: int) -> list[Event]:
        rows = self.db.execute("SELECT member, account, at FROM events LIMIT ?", (limit,))
        return [Event(*row) for row in rows]

    def pending_count(self) -> int:
        (n,) = self.db.execute("SELECT count(*) FROM events").fetchone()
        return int(n)

    def remove(self, members: list[str]) -> None:
        """Forget events Redis has acknowledged (or that are too old to matter)."""
        with self._transaction():
            self.db.executemany("DELETE FROM events WHERE member = ?", [(m,) for m in members])

    # --- the counts known before the outage, and when it started -----------------------------
    def load_known(self) -> dict[str, Known]:
        rows = self.db.execute("SELECT account, hour, day, seen FROM known")
        return {account: Known(*rest) for account, *rest in rows}

    def fallback_since(self) -> float | None:
        row = self.db.execute("SELECT value FROM state WHERE name = 'fallback_since'").fetchone()
        return row[0] if row else None

    def start_fallback(self, since: float, known: dict[str, Known]) -> None:
        with self._transaction():
            self.db.execute("INSERT OR REPLACE INTO state VALUES ('fallback_since', ?)", (since,))
            self.db.execute("DELETE FROM known")
            self.db.executemany(
                "INSERT INTO known VALUES (?, ?, ?, ?)", [(a, *k) for a, k in known.items()]
            )

    def end_fallback(self) -> None:
        with self._transaction():
            self.db.execute("DELETE FROM state WHERE name = 'fallback_since'")
            self.db.execute("DELETE FROM known")

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        # (The connection is in autocommit mode: one statement, one commit, unless in here.)
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")
