"""The node agent: applies one domain's desired state to the files Postfix and Dovecot read.

It runs on the mail node (as root, fed by the Celery queue node.<name>) and keeps its own
memory of what it last applied per domain under agent/, so it can tell which accounts went
away (to cut their sessions and move their mail aside) without asking the panel.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import math
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from provisioning.node.dkim import is_key_file_of, render_dkim, spam_scores_line
from provisioning.node.files import atomic_write, write_map
from provisioning.node.limits import limits_file_name, render_limits
from provisioning.node.paths import DOVECOT_DOMAIN_FILES, POSTFIX_MAPS, NodePaths
from provisioning.node.processes import live_pid
from provisioning.node.refusals import replace_domain
from provisioning.node.render import RenderedDomain, render_domain
from provisioning.node.sieve import SPAM_TO_JUNK
from provisioning.node.state import DomainState, plan_apply
from provisioning.node.usage import forget_usage

log = logging.getLogger(__name__)

DOMAINS_MAP = "postfix/maps/virtual_domains"


# The agent's memory, parsed: state file -> (its stat stamp, the state). The file stays the
# truth (another process may have written it); the stamp tells when to parse it again.
_APPLIED: dict[str, tuple[tuple[int, int, int], DomainState]] = {}


def _stamp(path: Path) -> tuple[int, int, int]:
    st = path.stat()
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def _wait_for_dovecot_to_reread() -> None:
    """Sleep past the next whole second: from then on Dovecot sees the files just written.

    Dovecot re-checks a passwd-file at most once per second, so a login in the second of the
    write may still find a removed account. Moving its home before then would let such a
    login recreate it. (Deactivation needs no wait: refusals are read from SQLite at once.)
    """
    now = time.time()
    time.sleep(math.floor(now) + 1.05 - now)


def _vmail_dir(path: Path) -> None:
    if path.is_dir():
        return
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        try:
            import pwd

            user = pwd.getpwnam("vmail")
            os.chown(path, user.pw_uid, user.pw_gid)
        except KeyError:
            pass


def _chown_group(path: Path, group: str) -> None:
    if os.geteuid() == 0:
        import grp

        # (No such group: no rspamd on this node; the keys wait for it.)
        with contextlib.suppress(KeyError):
            os.chown(path, 0, grp.getgrnam(group).gr_gid)


@dataclass
class ApplyResult:
    domain: str
    version: int
    stale: bool = False
    written: list[str] = field(default_factory=list)
    kicked: list[str] = field(default_factory=list)
    moved: list[str] = field(default_factory=list)
    seconds: float = 0.0


class NodeAgent:
    def __init__(self, paths: NodePaths, *, map_type: str = "cdb") -> None:
        self.paths = paths
        self.map_type = map_type

    # --- the one entry point -------------------------------------------------------------
    def apply_domain(self, new: DomainState) -> ApplyResult:
        started = time.monotonic()
        result = ApplyResult(domain=new.name, version=new.version)
        with self._node_lock():
            old = self._load_applied(new.name)
            # (A domain deleted and created again under the same name restarts its versions.)
            if old is not None and old.id == new.id and old.version > new.version:
                result.stale = True  # a newer state was applied already; never go back
                return result
            # Render the final state before touching any file: a value that could not be
            # written safely aborts the whole apply, leaving the node as it was.
            final = render_domain(new)
            dkim = render_dkim(new.name, new.dkim)  # (the name passed render_domain)
            spam_line = spam_scores_line(new.name, new.spam_junk, new.spam_reject)
            limits = render_limits(new)
            plan = plan_apply(old, new)
            postfix_first = (
                final if plan.postfix_first is new else render_domain(plan.postfix_first)
            )
            dovecot_first = (
                final if plan.dovecot_first is new else render_domain(plan.dovecot_first)
            )
            # The policy service learns a new account's id before Dovecot lets it log in.
            result.written += self._write_limits(new.name, limits)
            result.written += self._write_postfix(new.name, postfix_first)
            result.written += self._write_dovecot(new.name, dovecot_first)
            if plan.move_homes and self._dovecot_running():
                _wait_for_dovecot_to_reread()
            for address in plan.kick:
                self._kick(address)
                result.kicked.append(address)
            for local_part in plan.move_homes:
                if self._move_home(new.name, local_part):
                    result.moved.append(f"{local_part}@{new.name}")
            forget_usage(self.paths, [f"{local}@{new.name}" for local in plan.move_homes])
            # (Most applies have no intermediate state: then the files are final already, and
            # re-assembling every domain's map fragments again would be wasted work.)
            if dovecot_first is not final:
                result.written += self._write_dovecot(new.name, final)
            if postfix_first is not final:
                result.written += self._write_postfix(new.name, final)
            if DOMAINS_MAP in result.written:
                self._reload_postfix()
            result.written += self._write_dkim(new.name, dkim.keys, dkim.selector_line)
            result.written += self._write_rspamd_map(
                "spam_scores", new.name, spam_line, self.paths.rspamd_spam_scores_map
            )
            self._save_applied(plan.final.without_secrets())
        result.seconds = time.monotonic() - started
        return result

    # --- Dovecot -------------------------------------------------------------------------
    def _write_dovecot(self, domain: str, rendered: RenderedDomain) -> list[str]:
        written = []
        # Accounts first: a new account exists before anything else mentions it.
        for kind in DOVECOT_DOMAIN_FILES:
            written += self._write_shards(self.paths.dovecot_domain_dir(kind) / domain,
                                          rendered.dovecot[kind])  # fmt: skip
        if replace_domain(self.paths.dovecot_refusals_db, domain, rendered.refused):
            written.append(str(self.paths.dovecot_refusals_db.relative_to(self.paths.root)))
        self._forget_refusal_files(domain)
        written += self._write_sieve(domain, rendered.sieve)
        return written

    def _forget_refusal_files(self, domain: str) -> None:
        # Refusals were deny.d/ and disabled.d/ passwd-files before they moved into SQLite.
        for kind in ("deny", "disabled"):
            old = self.paths.dovecot_dir / f"{kind}.d" / domain
            if old.is_dir():
                shutil.rmtree(old)

    def _write_shards(self, folder: Path, shards: dict[str, str]) -> list[str]:
        if folder.is_file():
            folder.unlink()  # the layout before shards: one file per domain
        written = []
        for shard, text in shards.items():
            if atomic_write(folder / shard, text, mode=0o640, owner="root", group="dovecot"):
                written.append(str((folder / shard).relative_to(self.paths.root)))
        if folder.is_dir():
            for stale in folder.iterdir():
                if stale.name not in shards and not stale.name.startswith("."):
                    stale.unlink()  # a missing shard means "no such user" to Dovecot
                    written.append(str(stale.relative_to(self.paths.root)))
        return written

    def _write_sieve(self, domain: str, scripts: dict[str, str]) -> list[str]:
        # Pigeonhole compiles each script to a .svbin beside it, as the mail user (vmail).
        written = []
        folder = self.paths.sieve_admin_dir / domain
        for path, text in [(self.paths.sieve_admin_dir / "spam-to-junk.sieve", SPAM_TO_JUNK)] + [
            (folder / f"{local}.sieve", script) for local, script in scripts.items()
        ]:
            _vmail_dir(path.parent)
            if atomic_write(path, text, mode=0o644, owner="vmail", group="vmail"):
                written.append(str(path.relative_to(self.paths.root)))
        if folder.is_dir():
            for stale in folder.glob("*.sieve"):
                if stale.stem not in scripts:
                    stale.unlink()
                    stale.with_suffix(".svbin").unlink(missing_ok=True)
                    written.append(str(stale.relative_to(self.paths.root)))
        return written

    # --- DKIM keys for rspamd (provisioning/node/dkim.py) ----------------------------------
    def _write_dkim(self, domain: str, keys: dict[str, str], selector_line: str) -> list[str]:
        # Keys first, then the map line that names one: rspamd never looks for a missing key.
        folder = self.paths.rspamd_dkim_dir
        if keys and not folder.is_dir():
            folder.mkdir(parents=True, exist_ok=True)
            os.chmod(folder, 0o750)  # noqa: S103 (rspamd's group reads the keys)
            _chown_group(folder, "_rspamd")
        written = []
        for name, pem in keys.items():
            if atomic_write(folder / name, pem, mode=0o640, owner="root", group="_rspamd"):
                written.append(str((folder / name).relative_to(self.paths.root)))
        written += self._write_rspamd_map(
            "dkim_selectors", domain, selector_line, self.paths.rspamd_selector_map
        )
        if folder.is_dir():  # then the keys nothing names any more
            for stale in folder.iterdir():
                if is_key_file_of(domain, stale.name) and stale.name not in keys:
                    stale.unlink()
                    written.append(str(stale.relative_to(self.paths.root)))
        return written

    def _write_rspamd_map(self, name: str, domain: str, line: str, target: Path) -> list[str]:
        # A node-wide map rspamd watches, assembled from one fragment per domain.
        fragment = self._fragment(name, domain)
        atomic_write(fragment, line, mode=0o600, group=None)
        parts = sorted(p for p in fragment.parent.iterdir() if not p.name.startswith("."))
        text = "".join(p.read_text("utf-8") for p in parts)
        if atomic_write(target, text, mode=0o644, group="root"):
            return [str(target.relative_to(self.paths.root))]
        return []

    # --- the sending-limits policy service ------------------------------------------------
    def _write_limits(self, domain: str, text: str | None) -> list[str]:
        # World-readable: the policy service drops root, and limits are no secret.
        path = self.paths.policy_limits_dir / str(limits_file_name(domain))
        if text is not None:
            changed = atomic_write(path, text, mode=0o644, group="root")
        elif changed := path.exists():
            path.unlink()  # no file: the domain has no account
        return [str(path.relative_to(self.paths.root))] if changed else []

    def _dovecot_running(self) -> bool:
        return live_pid(self.paths.dovecot_master_pid, "dovecot") is not None

    def _kick(self, address: str) -> None:
        if not self._dovecot_running():
            return  # no Dovecot serving this folder: there is no session to cut
        proc = subprocess.run(
            ["doveadm", "-c", str(self.paths.dovecot_conf), "kick", address],
            capture_output=True,
            text=True,
        )
        # 0: kicked; 68 (EX_NOUSER): the user had no session.
        if proc.returncode not in (0, 68):
            raise RuntimeError(f"doveadm kick {address} failed: {proc.stderr.strip()}")

    def _move_home(self, domain: str, local_part: str) -> bool:
        home = self.paths.home(domain, local_part)
        if not home.exists():
            return False
        self.paths.trash_dir.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        target = self.paths.trash_dir / f"{local_part}@{domain}.{stamp}.{time.time_ns()}"
        os.rename(home, target)
        return True

    # --- Postfix -------------------------------------------------------------------------
    def _reload_postfix(self) -> None:
        # virtual_mailbox_domains is resolved by trivial-rewrite, which smtpd processes keep a
        # connection to: unlike smtpd and cleanup it never notices a replaced map (proven in
        # tests/test_loop_live.py, docs/mailstack-findings.md). A graceful reload restarts it;
        # this happens only when the set of domains changes.
        if not live_pid(self.paths.postfix_master_pid, "master"):
            return
        proc = subprocess.run(
            ["postfix", "-c", str(self.paths.postfix_dir), "reload"],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"postfix reload failed: {proc.stderr.strip()}")

    def _fragment(self, map_name: str, domain: str) -> Path:
        return self.paths.agent_dir / "maps" / map_name / domain

    def _write_postfix(self, domain: str, rendered: RenderedDomain) -> list[str]:
        written = []
        for map_name, text in rendered.postfix.items():
            # Always re-assemble: write_map skips an unchanged map, and a crash between the
            # fragment and the map must not leave the map stale.
            atomic_write(self._fragment(map_name, domain), text, mode=0o600, group=None)
            if write_map(
                self.paths.maps_dir, map_name, self._assemble(map_name), map_type=self.map_type
            ):
                written.append(f"postfix/maps/{map_name}")
        return written

    def _assemble(self, map_name: str) -> str:
        folder = self.paths.agent_dir / "maps" / map_name
        parts = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
        return "".join(p.read_text("utf-8") for p in parts)

    def ensure_maps(self) -> None:
        """Make every map exist (empty if no domain has lines yet), so Postfix can start."""
        for map_name in POSTFIX_MAPS:
            (self.paths.agent_dir / "maps" / map_name).mkdir(parents=True, exist_ok=True)
            write_map(
                self.paths.maps_dir, map_name, self._assemble(map_name), map_type=self.map_type
            )

    # --- the agent's memory --------------------------------------------------------------
    def _state_file(self, domain: str) -> Path:
        return self.paths.agent_dir / "domains" / f"{domain}.json"

    def _load_applied(self, domain: str) -> DomainState | None:
        path = self._state_file(domain)
        try:
            stamp = _stamp(path)
        except FileNotFoundError:
            return None
        cached = _APPLIED.get(str(path))
        if cached and cached[0] == stamp:
            return cached[1]  # parsing 100k accounts costs ~0.7 s; the worker lives long
        state = DomainState.from_json(json.loads(path.read_text("utf-8")))
        _APPLIED[str(path)] = (stamp, state)
        return state

    def _save_applied(self, state: DomainState) -> None:
        path = self._state_file(state.name)
        atomic_write(path, json.dumps(state.to_json()), mode=0o600, group=None)
        _APPLIED[str(path)] = (_stamp(path), state)

    @contextmanager
    def _node_lock(self) -> Iterator[None]:
        # Node-wide maps are assembled from every domain's fragment: one apply at a time.
        self.paths.agent_dir.mkdir(parents=True, exist_ok=True)
        with open(self.paths.agent_dir / "lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
