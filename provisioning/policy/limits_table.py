"""The accounts of the node (their ids and sending limits), as the node agent last wrote them.

One file per domain (provisioning/node/limits.py). A domain's file is looked at when a request
names one of its users, and stat()ed again at most every RECHECK_SECONDS: a changed file (the
agent replaces it by rename, so its inode changes) is parsed again, a removed one means "no
limits". So a limit the panel changes is enforced within a fraction of a second, and a node
with many domains only ever reads the files of the domains that send.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from provisioning.node.limits import Sender, limits_file_name, parse_limits

log = logging.getLogger(__name__)

RECHECK_SECONDS = 0.2

Stamp = tuple[int, int, int] | None  # (inode, mtime ns, size); None: no file


class _Domain:
    __slots__ = ("accounts", "checked", "stamp")

    def __init__(self) -> None:
        self.accounts: dict[str, Sender] = {}
        self.stamp: Stamp = None
        self.checked = float("-inf")


class LimitsTable:
    def __init__(self, folder: Path, *, recheck: float = RECHECK_SECONDS) -> None:
        self.folder = folder
        self.recheck = recheck
        self._domains: dict[str, _Domain] = {}

    def lookup(self, address: str) -> Sender | None:
        """The account "local@domain" (lower case), None when the agent wrote no such one."""
        local, at, domain = address.rpartition("@")
        if not at:
            return None
        entry = self._domains.get(domain)
        now = time.monotonic()
        if entry is None or now - entry.checked >= self.recheck:
            entry = self._refresh(domain, entry, now)
            if entry is None:
                return None
        return entry.accounts.get(local)

    def _refresh(self, domain: str, entry: _Domain | None, now: float) -> _Domain | None:
        name = limits_file_name(domain)
        if name is None:
            return None  # not a domain name: no file can hold its limits
        if entry is None:
            entry = self._domains[domain] = _Domain()
        entry.checked = now
        path = self.folder / name
        try:
            st = os.stat(path)
        except FileNotFoundError:
            entry.accounts, entry.stamp = {}, None
            return entry
        stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        if stamp != entry.stamp:
            try:
                entry.accounts = parse_limits(path.read_bytes())
            except (OSError, ValueError) as exc:
                # Keep what was enforced so far: a broken file must not lift every limit.
                log.error("cannot read %s, keeping the limits read before: %s", path, exc)
            entry.stamp = stamp
        return entry
