"""Who may not log in, and to what: a SQLite table Dovecot's deny passdb queries at each login.

Dovecot re-checks a passwd-file at most once a second, so a protocol switched off (or an
account deactivated) in the second of a login stayed allowed until the next second, and a
refused login costs the client 0.5 s before it may retry: p95 1.5 s from "saved" to "refused"
(docs/mailstack-findings.md §8). An SQL passdb has no such check (auth_cache_size = 0): the
first login after the commit sees the change. Rows are (domain, address, service), service
"*" meaning every service (a deactivated account). WAL mode: Dovecot's reads never wait for
the agent's write, and see either the old or the new set of a domain, never half of it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from contextlib import closing
from pathlib import Path

EVERY_SERVICE = "*"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS refused (
    domain TEXT NOT NULL,
    address TEXT NOT NULL,
    service TEXT NOT NULL,
    PRIMARY KEY (address, service)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS refused_by_domain ON refused (domain);
"""

# What dovecot.conf's deny passdb runs (%u and %s are escaped by Dovecot's SQL driver). A row
# found means "deny"; the password fields only keep the driver from logging an error.
REFUSAL_QUERY = (
    "SELECT NULL AS password, 'Y' AS nopassword FROM refused "
    "WHERE address = '%u' AND service IN ('%s', '*') LIMIT 1"
)


def _connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=10, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.executescript(_SCHEMA)
    return conn


def ensure_database(path: Path) -> None:
    """Create the database (empty) so Dovecot can open it before the first apply."""
    with closing(_connect(path)):
        pass
    path.chmod(0o640)


def replace_domain(path: Path, domain: str, rows: Iterable[tuple[str, str]]) -> bool:
    """Make the domain's refusals exactly `rows` ((address, service) pairs), in one
    transaction. Returns whether anything changed."""
    wanted = set(rows)
    with closing(_connect(path)) as conn:
        conn.execute("BEGIN IMMEDIATE")
        try:
            current = set(
                conn.execute("SELECT address, service FROM refused WHERE domain = ?", (domain,))
            )
            gone, new = current - wanted, wanted - current
            conn.executemany("DELETE FROM refused WHERE address = ? AND service = ?", gone)
            conn.executemany(
                "INSERT INTO refused (domain, address, service) VALUES (?, ?, ?)",
                [(domain, address, service) for address, service in sorted(new)],
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return bool(gone or new)


def refused_rows(path: Path, domain: str) -> set[tuple[str, str]]:
    with closing(_connect(path)) as conn:
        return set(conn.execute("SELECT address, service FROM refused WHERE domain = ?", (domain,)))


def sql_config(path: Path) -> str:
    """The args file of Dovecot's deny passdb."""
    return f"driver = sqlite\nconnect = {path}\npassword_query = {REFUSAL_QUERY}\n"
