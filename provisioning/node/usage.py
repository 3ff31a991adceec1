"""What a mail node knows about its accounts' usage, and what it keeps of deleted accounts.

Dovecot writes usage into Redis itself (shared MAILSTACK.md, section 4), under this node's
prefix (the dict's `prefix=`), so several nodes and test runs can share one Redis:
- quota_clone, after every mailbox change: `<prefix><address>/quota/storage` (bytes) and
  `<prefix><address>/quota/messages`;
- last_login, at every IMAP, POP3 and ManageSieve login: `<prefix>last-login/<address>/<service>`
  (unix seconds). The plugin stores only a timestamp; one key per service (`%s` in its key,
  imap, pop3 or managesieve) tells the protocol: the newest of an account's keys is its last
  access.
The agent reads them back for the accounts it serves (its memory under agent/domains/), and
the panel copies them into MailboxUsage. Deleting an account removes its keys (MAILSTACK.md,
section 9, step 5) and moves its home to trash/, which purge_trash empties after a retention.

Pure parts (key names, parsing, trash age) need neither Redis nor a running Dovecot.
"""

from __future__ import annotations

import calendar
import json
import logging
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from provisioning.node.files import atomic_write
from provisioning.node.paths import NodePaths
from provisioning.node.processes import live_pid
from provisioning.node.state import DomainState

log = logging.getLogger(__name__)

# Services whose logins count as an access (the protocols last_login is loaded for).
LOGIN_SERVICES = ("imap", "pop3", "managesieve")
# Where `mailstack start` records which Redis its Dovecot writes to, for the agent to read.
STORE_FILE = "usage-redis.json"
# Dovecot splits a dict URI at ':' and expands '%' in plugin settings: neither may appear.
PREFIX = re.compile(r"[A-Za-z0-9._/-]{0,100}")
PASSWORD = re.compile(r"[A-Za-z0-9._~+=/@^!*-]{1,256}")
# Accounts per Redis round trip (five keys each).
BATCH = 1000
# Logins and deliveries wait for the dict at the end of a session: never long.
DOVECOT_TIMEOUT_MSECS = 2000
REDIS_TIMEOUT_SECONDS = 2.0


class UsageConfigError(ValueError):
    """MAILNODE_REDIS_URL or MAILNODE_REDIS_PREFIX cannot be given to Dovecot."""


# --- where usage lives ---------------------------------------------------------------------


@dataclass(frozen=True)
class UsageStore:
    """The Redis database and key prefix this node's Dovecot writes usage into."""

    url: str
    prefix: str

    def __post_init__(self) -> None:
        if not PREFIX.fullmatch(self.prefix):
            raise UsageConfigError(
                f"Redis key prefix {self.prefix!r} may only contain A-Z a-z 0-9 . _ / -"
            )
        parts = urlsplit(self.url)
        if parts.scheme != "redis" or not parts.hostname:
            raise UsageConfigError(
                f"{self._safe_url()} is not redis://[:password@]host[:port][/db] "
                "(Dovecot's redis dict speaks neither TLS nor unix sockets here)"
            )
        try:
            parts.port  # noqa: B018 (raises on a bad port)
        except ValueError:
            raise UsageConfigError(f"bad port in {self._safe_url()}") from None
        if not re.fullmatch(r"/?\d*", parts.path):
            raise UsageConfigError(f"bad database number in {self._safe_url()}")
        if parts.username:
            raise UsageConfigError(
                f"{self._safe_url()}: Dovecot 2.3 authenticates to Redis with a password only, "
                "not an ACL user (redis://:password@host)"
            )
        if self.password is not None and not PASSWORD.fullmatch(self.password):
            raise UsageConfigError(
                "the Redis password may only contain A-Z a-z 0-9 and ._~+=/@^!*- "
                "(it is written into Dovecot's dict URI, which ':' and '%' would break)"
            )

    def _safe_url(self) -> str:
        parts = urlsplit(self.url)
        if parts.password is None:
            return repr(self.url)
        return repr(self.url.replace(f":{parts.password}@", ":***@", 1))

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or "127.0.0.1"

    @property
    def port(self) -> int:
        return urlsplit(self.url).port or 6379

    @property
    def db(self) -> int:
        return int(urlsplit(self.url).path.lstrip("/") or 0)

    @property
    def password(self) -> str | None:
        password = urlsplit(self.url).password
        return unquote(password) if password else None

    # Key names, as Dovecot's redis dict spells them: "priv/<key>" becomes
    # "<prefix><user>/<key>", "shared/<key>" becomes "<prefix><key>".
    def storage_key(self, address: str) -> str:
        return f"{self.prefix}{address}/quota/storage"

    def messages_key(self, address: str) -> str:
        return f"{self.prefix}{address}/quota/messages"

    def login_key(self, address: str, service: str) -> str:
        return f"{self.prefix}last-login/{address}/{service}"

    def keys(self, address: str) -> list[str]:
        """Every key Dovecot may write for the account, in the order parse_usage reads them."""
        return [
            self.storage_key(address),
            self.messages_key(address),
            *(self.login_key(address, service) for service in LOGIN_SERVICES),
        ]

    def dovecot_dict(self, resolve: Callable[[str], str] | None = None) -> str:
        """The dict URI for quota_clone_dict and last_login_dict.

        Dovecot 2.3's redis dict takes an IP address only ("Invalid IP"), so a host name (the
        compose service "redis") is resolved here, when the configuration is rendered.
        """
        address = (resolve or _ipv4)(self.host)
        parts = [
            f"host={address}",
            f"port={self.port}",
            f"db={self.db}",
            f"timeout_msecs={DOVECOT_TIMEOUT_MSECS}",
        ]
        if self.password:
            parts.append(f"password={self.password}")
        if self.prefix:
            parts.append(f"prefix={self.prefix}")
        return "redis:" + ":".join(parts)

    def client(self) -> Any:
        import redis

        return redis.Redis.from_url(
            self.url,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
        )

    # The node's record of what its running Dovecot was configured with. The agent reads
    # this rather than its own settings: the worker and `mailstack start` may not share an
    # environment, and only the Redis that Dovecot writes to holds anything.
    def save(self, paths: NodePaths) -> None:
        text = json.dumps({"url": self.url, "prefix": self.prefix}, indent=2) + "\n"
        # The URL may carry the Redis password.
        atomic_write(paths.root / STORE_FILE, text, mode=0o600, group=None)

    @classmethod
    def load(cls, paths: NodePaths) -> UsageStore | None:
        try:
            data = json.loads((paths.root / STORE_FILE).read_text("utf-8"))
        except (FileNotFoundError, ValueError):
            return None
        return cls(url=data["url"], prefix=data["prefix"])


def _ipv4(host: str) -> str:
    # IPv4: an IPv6 literal's colons would split Dovecot's dict URI.
    try:
        address = socket.getaddrinfo(host, None, socket.AF_INET, socket.SOCK_STREAM)[0][4][0]
        return str(address)  # an AF_INET sockaddr's host is a str (typeshed: str | int)
    except OSError as exc:
        raise UsageConfigError(f"cannot resolve the Redis host {host!r}: {exc}") from None


# --- reading usage back --------------------------------------------------------------------


@dataclass(frozen=True)
class Usage:
    """One account's usage as the node reports it (None: not known on this node)."""

    address: str
    storage_bytes: int | None
    messages: int | None
    last_login_at: int | None = None  # unix seconds
    last_login_protocol: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def parse_count(raw: bytes | str | int | None) -> int | None:
    """A counter or timestamp as Redis returns it; None for a missing or mangled value."""
    if raw is None:
        return None
    if isinstance(raw, bytes):
        raw = raw.decode("ascii", errors="replace")
    try:
        value = int(raw)
    except (TypeError, ValueError):
        return None
    return value if value >= 0 else None


def parse_usage(address: str, values: Sequence[bytes | str | int | None]) -> Usage:
    """The account's Usage from the values of UsageStore.keys(address), in that order."""
    storage, messages, *logins = (parse_count(v) for v in values)
    assert len(logins) == len(LOGIN_SERVICES)
    last_at, protocol = None, ""
    for service, at in zip(LOGIN_SERVICES, logins, strict=True):
        if at is not None and (last_at is None or at > last_at):
            last_at, protocol = at, service
    return Usage(address, storage, messages, last_at, protocol)


def node_accounts(paths: NodePaths) -> list[tuple[str, str]]:
    """(domain, local part) of every account the agent has applied, from its own memory."""
    accounts = []
    for state_file in sorted((paths.agent_dir / "domains").glob("*.json")):
        try:
            state = DomainState.from_json(json.loads(state_file.read_text("utf-8")))
        except (OSError, ValueError, KeyError, TypeError):
            log.exception("cannot read the agent's state %s", state_file)
            continue
        accounts += [(state.name, account.local_part) for account in state.accounts]
    return accounts


def read_usage(store: UsageStore, addresses: Sequence[str], client: Any = None) -> list[Usage]:
    """What Redis holds for each address, in one MGET per BATCH accounts."""
    client = client or store.client()
    width = len(store.keys("x"))
    usage = []
    for start in range(0, len(addresses), BATCH):
        batch = addresses[start : start + BATCH]
        values = client.mget([key for address in batch for key in store.keys(address)])
        usage += [
            parse_usage(address, values[i * width : (i + 1) * width])
            for i, address in enumerate(batch)
        ]
    return usage


def fill_unreported(usage: Usage, *, has_home: bool) -> Usage:
    """An account with no home has stored nothing: 0 bytes, not "unknown"."""
    if usage.storage_bytes is None and not has_home:
        return Usage(usage.address, 0, 0, usage.last_login_at, usage.last_login_protocol)
    return usage


def node_usage(paths: NodePaths, store: UsageStore, client: Any = None) -> list[Usage]:
    """Usage of every account of this node.

    quota_clone writes only after a mailbox changed (save, copy, expunge). An account with a
    home but no storage key (it logged in but never got mail, or the keys were lost) is
    counted by Dovecot and seeded into Redis (seed_quota); one without a home has nothing.
    """
    client = client or store.client()
    accounts = node_accounts(paths)
    addresses = [f"{local}@{domain}" for domain, local in accounts]
    homes = {f"{local}@{domain}": paths.home(domain, local).is_dir() for domain, local in accounts}
    usage = read_usage(store, addresses, client)
    unseeded = [u.address for u in usage if u.storage_bytes is None and homes[u.address]]
    if unseeded and seed_quota(paths, store, unseeded, client):
        again = {u.address: u for u in read_usage(store, unseeded, client)}
        usage = [again.get(u.address, u) for u in usage]
    return [fill_unreported(u, has_home=homes[u.address]) for u in usage]


def parse_mailbox_status(text: str) -> dict[str, tuple[int, int]]:
    """{address: (bytes, messages)} from `doveadm -f tab mailbox status -F FILE "messages vsize"
    '*'` (a header, then one "user, mailbox, messages, vsize" line per mailbox)."""
    totals: dict[str, tuple[int, int]] = {}
    for line in text.splitlines()[1:]:
        user = line.split("\t", 1)[0]
        fields = line.rsplit("\t", 2)
        if len(fields) != 3 or not fields[1].isdigit() or not fields[2].isdigit():
            continue
        size, count = totals.get(user, (0, 0))
        totals[user] = (size + int(fields[2]), count + int(fields[1]))
    return totals


def seed_quota(paths: NodePaths, store: UsageStore, addresses: Sequence[str], client: Any) -> bool:
    """Write the accounts' current usage where quota_clone would; False if Dovecot is down.

    `doveadm quota recalc` does not make quota_clone write on Dovecot 2.3.19 (it flushes only
    after a change), so the agent asks Dovecot for the same sum the count quota keeps (every
    mailbox's vsize, quota_vsizes = yes) in one doveadm run, and stores it with SET NX: a
    value quota_clone wrote meanwhile is newer and stays.
    """
    if not live_pid(paths.dovecot_master_pid, "dovecot"):
        return False
    with tempfile.NamedTemporaryFile("w", prefix="usage.", suffix=".txt") as users:
        users.write("".join(f"{address}\n" for address in addresses))
        users.flush()
        proc = subprocess.run(
            ["doveadm", "-c", str(paths.dovecot_conf), "-f", "tab", "mailbox", "status",
             "-F", users.name, "messages vsize", "*"],
            capture_output=True,
            text=True,
        )  # fmt: skip
    if proc.returncode != 0:
        # Per-user failures (an account removed meanwhile) must not hide the others' counts.
        log.warning("doveadm mailbox status exited %s: %s", proc.returncode, proc.stderr.strip())
    totals = parse_mailbox_status(proc.stdout)
    pipe = client.pipeline(transaction=False)
    for address in addresses:
        if address in totals:
            size, count = totals[address]
            pipe.set(store.storage_key(address), size, nx=True)
            pipe.set(store.messages_key(address), count, nx=True)
    pipe.execute()
    return True


# --- what is kept of deleted accounts ------------------------------------------------------


def forget_usage(paths: NodePaths, addresses: Iterable[str]) -> None:
    """Delete the deleted accounts' usage keys. Best effort: Redis being down must not stop a
    delete (the keys of an address nobody has are never read again, until it is re-created,
    whose first mailbox change overwrites them)."""
    addresses = list(addresses)
    store = UsageStore.load(paths) if addresses else None
    if store is None:
        return
    try:
        store.client().delete(*(key for address in addresses for key in store.keys(address)))
    except Exception as exc:  # redis.RedisError, OSError: never fail the apply for this
        log.warning("could not delete the usage keys of %s: %s", ", ".join(addresses), exc)


def trashed_at(name: str, mtime: float) -> float:
    """When an entry of trash/ was moved there (unix seconds).

    The agent names them `<local>@<domain>.<YYYYmmddTHHMMSS>.<ns>`. A rename keeps the folder's
    mtime (its last change inside, maybe years ago), so the name is the truth; mtime is the
    fallback for anything else found in trash/.
    """
    parts = name.rsplit(".", 2)
    if len(parts) != 3:
        return mtime
    _, stamp, ns = parts
    try:
        moved = float(calendar.timegm(time.strptime(stamp, "%Y%m%dT%H%M%S")))
    except ValueError:
        return mtime
    # The nanoseconds are the same moment, finer (when they agree with the stamp).
    return int(ns) / 1e9 if ns.isdigit() and abs(int(ns) / 1e9 - moved) < 2 else moved


def expired_trash(
    entries: Iterable[tuple[str, float]], *, now: float, retention_days: float
) -> list[str]:
    """Names of the (name, mtime) entries moved to trash/ at least retention_days ago."""
    cutoff = now - retention_days * 86400
    return sorted(name for name, mtime in entries if trashed_at(name, mtime) <= cutoff)


def purge_trash(paths: NodePaths, *, retention_days: float, now: float | None = None) -> list[str]:
    """Delete the homes in trash/ older than the retention; return the names deleted."""
    folder = paths.trash_dir
    if not folder.is_dir():
        return []
    entries = {entry.name: entry for entry in folder.iterdir()}
    expired = expired_trash(
        ((name, entry.lstat().st_mtime) for name, entry in entries.items()),
        now=time.time() if now is None else now,
        retention_days=retention_days,
    )
    purged = []
    for name in expired:
        entry = entries[name]
        try:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                os.unlink(entry)
        except OSError:
            log.exception("could not purge %s (tried again at the next purge)", entry)
            continue
        purged.append(name)
    return purged
