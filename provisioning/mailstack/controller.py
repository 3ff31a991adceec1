"""Start, stop and inspect a private Postfix + Dovecot pair under one mail node's state folder,
with the sending-limits policy service their submission port asks (provisioning/policy).

Everything (configuration, queue, mailboxes, sockets, logs) lives under the root given, in the
layout of provisioning.node.paths; every listener is on 127.0.0.1 at a port picked at the first
start and remembered in ports.json, so several roots (the test suite's and a developer's) can
run side by side. The data files (users.d/, refusals.sqlite, maps/ ...) belong to the node
agent: this module only creates them empty when they are missing and never rewrites them.
"""

from __future__ import annotations

import contextlib
import fcntl
import grp
import ipaddress
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from provisioning.mailstack import rspamd, srs
from provisioning.mailstack.profile import (
    TESTBED_PUBLIC_PORT_NAMES,
    Profile,
    ProfileError,
    postfix_address,
)
from provisioning.mailstack.profile import from_settings as profile_from_settings
from provisioning.mailstack.relay import (
    Relay,
    RelayConfigError,
    outbound_settings,
    relay_from_settings,
    write_password_map,
)
from provisioning.mailstack.tls import CertificateError, certificate, sni_certificates
from provisioning.node.files import MAP_SUFFIX, atomic_write, postmap, write_map
from provisioning.node.paths import DOVECOT_DOMAIN_FILES, POSTFIX_MAPS, NodePaths
from provisioning.node.processes import live_pid
from provisioning.node.refusals import ensure_database as ensure_refusals_db
from provisioning.node.refusals import sql_config as refusals_sql_config
from provisioning.node.usage import UsageConfigError, UsageStore
from provisioning.policy.daemon import CounterStore, GuardConfig, policy_pid, start_policy

# The node's own services: on 127.0.0.1 at picked ports in both profiles.
LOOPBACK_PORT_NAMES = (
    "lmtp",
    "auth",
    "quota_status",
    "policy",  # the sending-limits policy service (provisioning/policy)
    "guard",  # its password guard, which Dovecot asks (auth_policy_server_url)
    "srs_forward",  # postsrsd's two lookup tables (provisioning/mailstack/srs.py)
    "srs_reverse",
    "reinject",  # Postfix's listener for the node's own Sieve redirects and vacation replies
    *rspamd.PORT_NAMES,  # the rspamd milter and its controller (provisioning/mailstack/rspamd.py)
)
# The test bed's listeners (ports.json); production's public ones are in profile.py.
PORT_NAMES = (*TESTBED_PUBLIC_PORT_NAMES, *LOOPBACK_PORT_NAMES)
HOST = "127.0.0.1"  # where the node's own services listen, in both profiles
# Dovecot's SASL refuses PLAIN/LOGIN unless TLS is on ("secured") or the client is at the
# address it connected to (the node itself); see dovecot.conf. No table: a row means "deny".
CLEARTEXT_QUERY = (
    "SELECT NULL AS password, 'Y' AS nopassword, "
    "'Plaintext authentication requires TLS' AS reason "
    "WHERE '%{secured}' = '' AND '%{rip}' <> '%{lip}' AND '%{mech}' IN ('PLAIN', 'LOGIN')"
)
START_TIMEOUT = 15.0
STOP_TIMEOUT = 15.0
TEMPLATES = Path(__file__).resolve().parent / "templates"
DOVECOT_SQLITE_DRIVER = Path("/usr/lib/dovecot/modules/auth/libdriver_sqlite.so")
SYSTEM_POSTFIX_DIR = Path("/etc/postfix")
# Unix sockets live under the root (run/dovecot/..., postfix/queue/private/...); their paths
# must fit sockaddr_un's 108 bytes, and Dovecot's longest name adds about 35 characters.
MAX_ROOT_LENGTH = 64
SAFE_PATH = re.compile(r"/[A-Za-z0-9._/-]*")
# Postfix and Dovecot report why they could not start only in their logs (there is no syslog).
FATAL_LINE = re.compile(r"\b(fatal|Fatal|panic|Panic):")
# `postfix start` warns at every start that the queue (inside the config directory, where the
# shared layout puts it) is not root-owned; those lines would hide the real error in a tail.
LAYOUT_NOISE = re.compile(r"postfix-script\[\d+\]: warning: (not owned by|group or other writable)")


class MailStackError(RuntimeError):
    """The mail stack could not be started or stopped.

    summary is one line for people; details (the tail of the daemons' logs) says why.
    """

    def __init__(self, summary: str, details: str = "") -> None:
        super().__init__(f"{summary}\n{details}" if details else summary)
        self.summary = summary
        self.details = details


class MailStack:
    def __init__(
        self,
        root: Path | str,
        map_type: str = "cdb",
        usage: UsageStore | None = None,
        sending: CounterStore | None = None,
        relay: Relay | str | None = "settings",
        profile: Profile | None = None,
        guard: GuardConfig | None = None,
    ) -> None:
        if map_type not in MAP_SUFFIX:
            raise MailStackError(f"unknown map type {map_type!r}: use one of {sorted(MAP_SUFFIX)}")
        # Where Dovecot writes usage (quota_clone, last_login); default: the node's settings.
        self.usage = usage
        # Where the policy service keeps the sent counters; default: the settings.
        self.sending = sending
        # The password guard's Redis and rules; default: the settings.
        self.guard = guard
        # The smarthost outside mail leaves through (None: none); default: the settings.
        self._relay = relay
        # Test bed or production, host name, addresses ...; default: the settings.
        self._profile = profile
        # Postfix compares the -c directory with alternate_config_directories as a string,
        # so always use one canonical spelling of the root.
        self.root = Path(root).resolve()
        self.map_type = map_type
        self.paths = NodePaths(self.root)

    # ----- public API ----------------------------------------------------------------------

    def start(self) -> dict[str, int]:
        """Start both daemons (or leave them running) and return the ports they listen on."""
        if self._running():
            return self._saved_ports()
        self._check_prerequisites()
        self.root.mkdir(parents=True, exist_ok=True)
        with _locked(self.root):
            if self._running():  # another `mailstack start` on this root won the race
                return self._saved_ports()
            if self._postfix_pid() or self._dovecot_pid() or self._policy_pid() or self._srs_pid():
                self._stop()  # half a stack (one daemon died): restart cleanly, do not guess
            return self._start()

    def stop(self) -> None:
        """Stop this root's daemons (only those) and forget its Postfix config directory."""
        if not self.root.exists():
            _edit_alternate_config_dirs(self.paths.postfix_dir, add=False)
            return
        with _locked(self.root):
            self._stop()

    @property
    def profile(self) -> Profile:
        if self._profile is None:
            try:
                self._profile = profile_from_settings()
            except ProfileError as exc:
                raise MailStackError(str(exc)) from None
        return self._profile

    def status(self) -> dict[str, Any]:
        postfix = self._postfix_pid() is not None
        dovecot = self._dovecot_pid() is not None
        policy = self._policy_pid() is not None
        srsd = self._srs_pid() is not None
        running = postfix and dovecot and policy and srsd
        return {
            "root": str(self.root),
            "profile": self.profile.name,
            "hostname": self.profile.hostname,
            "running": running,
            "postfix": postfix,
            "dovecot": dovecot,
            "policy": policy,
            "srs": srsd,
            # DKIM signing and spam scoring; rspamd_missing says why a node cannot run it.
            "rspamd": self._rspamd_pid() is not None,
            "rspamd_missing": rspamd.missing(),
            "ports": self._saved_ports() if running else {},
        }

    def doveadm(self, *args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
        """Run doveadm against this root's Dovecot (e.g. doveadm("kick", "alice@example.test"))."""
        return subprocess.run(
            [_binary("doveadm"), "-c", str(self.paths.dovecot_conf), *args],
            capture_output=True,
            text=True,
            check=check,
        )

    @property
    def ports(self) -> dict[str, int]:
        """The ports remembered in ports.json (empty before the first start)."""
        return self._saved_ports()

    # ----- processes -----------------------------------------------------------------------

    def _running(self) -> bool:
        return bool(
            self._saved_ports()
            and self._postfix_pid()
            and self._dovecot_pid()
            and self._policy_pid()
            and self._srs_pid()
        )

    def _start(self) -> dict[str, int]:
        ports = self._choose_ports(self._saved_ports())
        self._make_layout()
        # Before any postmap: Postfix tools refuse to run without /etc/postfix/main.cf.
        _edit_alternate_config_dirs(self.paths.postfix_dir, add=True)
        self._ensure_data_files()
        self._render_configs(ports)
        marks = self._log_sizes()
        try:
            self._start_daemons()
            self._wait_for_ports(ports, listening=True, timeout=START_TIMEOUT)
        except MailStackError as exc:
            with contextlib.suppress(MailStackError):
                self._stop()
            raise MailStackError(self._explain(exc.summary, marks), self._log_tails()) from None
        return ports

    def _stop(self) -> None:
        stopped = False
        # Postfix first, so nothing is accepted that Dovecot could no longer deliver, nor
        # submitted without the policy service's count.
        for name, pid_of in (
            ("postfix", self._postfix_pid),
            ("policy service", self._policy_pid),
            ("postsrsd", self._srs_pid),
            ("rspamd", self._rspamd_pid),
            ("dovecot", self._dovecot_pid),
        ):
            pid = pid_of()
            if pid:
                _terminate(pid)
                self._wait_for_exit(name, pid_of, timeout=STOP_TIMEOUT)
                stopped = True
        if stopped:
            # Children may hold a listening socket a moment longer than their master. Only
            # after a real stop: a stopped root's old port may belong to someone else by now.
            self._wait_for_ports(self._saved_ports(), listening=False, timeout=STOP_TIMEOUT)
        _edit_alternate_config_dirs(self.paths.postfix_dir, add=False)

    def _postfix_pid(self) -> int | None:
        return live_pid(self.paths.postfix_master_pid, "master")

    def _dovecot_pid(self) -> int | None:
        return live_pid(self.paths.dovecot_master_pid, "dovecot")

    def _policy_pid(self) -> int | None:
        return policy_pid(self.paths)

    def _srs_pid(self) -> int | None:
        return srs.srs_pid(self.paths)

    def _rspamd_pid(self) -> int | None:
        return rspamd.rspamd_pid(self.paths)

    def _start_rspamd(self) -> None:
        # Optional: without rspamd mail flows unsigned and unscored (milter_default_action =
        # accept), and `status` says why. Not waited for: its first start compiles its rules
        # for ~15 s, and Postfix does not need it to start.
        if rspamd.missing():
            return
        old = self._rspamd_pid()
        if old:  # left from a stack that half died: its ports may have moved
            _terminate(old)
            self._wait_for_exit("rspamd", self._rspamd_pid, timeout=STOP_TIMEOUT)
        try:
            rspamd.start_rspamd(
                self.paths, self._saved_ports(), testbed=not self.profile.production
            )
        except rspamd.RspamdError as exc:
            raise MailStackError(str(exc)) from None

    def relay(self) -> Relay | None:
        if self._relay == "settings":
            try:
                return relay_from_settings()
            except RelayConfigError as exc:
                raise MailStackError(str(exc)) from None
        return self._relay  # type: ignore[return-value]

    def _start_daemons(self) -> None:
        # Dovecot's base_dir holds only runtime state. Left over from a killed run, its pid file
        # may name an unrelated live process ("already running"), and the socket of a listener
        # disabled with mode 0 (anvil-auth-penalty) would stay behind and refuse connections.
        shutil.rmtree(self.paths.run_dir / "dovecot", ignore_errors=True)
        # The policy service first: it takes longest to come up (Python, Django's settings),
        # and start() waits for every port before Postfix is used.
        start_policy(
            self.paths,
            self._saved_ports()["policy"],
            self.sending or _sending_from_settings(),
            self.guard or _guard_from_settings(),
            self._saved_ports()["guard"],
        )
        ports = self._saved_ports()
        try:
            srs.start_srs(
                self.paths,
                domain=self.profile.hostname,
                forward_port=ports["srs_forward"],
                reverse_port=ports["srs_reverse"],
            )
        except srs.SrsError as exc:
            raise MailStackError(str(exc)) from None
        self._start_rspamd()
        # Dovecot first: Postfix must never accept mail that LMTP or SASL cannot serve.
        _run([_binary("dovecot"), "-c", str(self.paths.dovecot_conf)], "dovecot")
        _run(self._postfix_start_command(), "postfix")

    def _postfix_start_command(self) -> list[str]:
        postfix = [_binary("postfix"), "-c", str(self.paths.postfix_dir), "start"]
        if not self.profile.resolver:
            return postfix
        # Postfix resolves through /etc/resolv.conf only (port 53): its master, and every
        # daemon it forks, run in a private mount namespace where that file names our resolver.
        resolv = self.paths.run_dir / "resolv.conf"
        atomic_write(resolv, resolv_conf(self.profile.resolver), mode=0o644, group="root")
        script = 'mount --bind "$1" /etc/resolv.conf && shift && exec "$@"'
        return [_binary("unshare"), "--mount", "--propagation", "private", "--",
                "/bin/sh", "-c", script, "sh", str(resolv), *postfix]  # fmt: skip

    def _wait_for_exit(
        self, name: str, pid_of: Callable[[], int | None], *, timeout: float
    ) -> None:
        deadline = time.monotonic() + timeout
        while pid_of():
            if time.monotonic() > deadline:
                raise MailStackError(f"{name} under {self.root} did not stop in {timeout:.0f} s")
            time.sleep(0.05)

    def _wait_for_ports(self, ports: dict[str, int], *, listening: bool, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        if rspamd.missing():  # a node without rspamd: mail flows unsigned, nothing to wait for
            ports = {n: p for n, p in ports.items() if n not in rspamd.PORT_NAMES}
        pending = self.profile.listeners(ports)
        while pending:
            sockets = _listening_sockets()
            pending = [s for s in pending if _is_listening(sockets, s[1], s[2]) != listening]
            if not pending:
                return
            if time.monotonic() > deadline:
                state = "accept connections" if listening else "close"
                names = ", ".join(f"{n} {postfix_address(a, p)}" for n, a, p in pending)
                raise MailStackError(f"ports did not {state} within {timeout:.0f} s: {names}")
            time.sleep(0.05)

    # ----- ports ---------------------------------------------------------------------------

    def _saved_ports(self) -> dict[str, int]:
        try:
            saved = json.loads(self.paths.ports_file.read_text("utf-8"))
        except (FileNotFoundError, ValueError):
            return {}
        names = self._port_names()
        if not isinstance(saved, dict) or set(saved) != set(names):
            return {}  # none yet, or another profile's
        if not all(isinstance(saved[name], int) for name in names):
            return {}
        return {name: saved[name] for name in names}

    def _port_names(self) -> tuple[str, ...]:
        return (*self.profile.public_port_names, *LOOPBACK_PORT_NAMES)

    def _choose_ports(self, saved: dict[str, int]) -> dict[str, int]:
        """Production's standard ports; for the others, keep the remembered ports that are
        still free and pick fresh ones for the rest."""
        fixed = self.profile.fixed_ports
        picked = [name for name in self._port_names() if name not in fixed]
        keep = {n: p for n, p in saved.items() if n in picked and _port_is_free(p)}
        fresh = _free_ports(len(picked) - len(keep), exclude={*keep.values(), *fixed.values()})
        chosen = {name: keep[name] if name in keep else fresh.pop() for name in picked}
        chosen = {**fixed, **chosen}
        text = json.dumps(chosen, indent=2) + "\n"
        atomic_write(self.paths.ports_file, text, mode=0o644, group="root")
        return chosen

    # ----- files ---------------------------------------------------------------------------

    def _check_prerequisites(self) -> None:
        if os.geteuid() != 0:
            raise MailStackError(
                "mailstack must run as root: it starts the Postfix and Dovecot masters"
            )
        for name in ("postfix", "dovecot", "doveadm", "postmap", "postconf"):
            _binary(name)
        try:
            srs.binary()
        except srs.SrsError as exc:
            raise MailStackError(str(exc)) from None
        if not DOVECOT_SQLITE_DRIVER.exists():
            raise MailStackError(
                "Dovecot's SQLite driver is missing (the login refusals are an SQLite table): "
                "apt-get install dovecot-sqlite"
            )
        if not SAFE_PATH.fullmatch(str(self.root)):
            # The root is pasted into main.cf and dovecot.conf, where a space splits a value.
            raise MailStackError(f"state dir {self.root} may only contain A-Z a-z 0-9 . _ - /")
        if len(str(self.root)) > MAX_ROOT_LENGTH:
            raise MailStackError(
                f"state dir {self.root} is too long for unix socket paths; "
                f"use at most {MAX_ROOT_LENGTH} characters"
            )
        _check_traversable(self.root.parent)
        _ensure_vmail_user()

    def _make_layout(self) -> None:
        p = self.paths
        # (path, owner, group, mode). Postfix daemons run as "postfix", LMTP and IMAP as
        # "vmail" and Dovecot's auth process as "dovecot": each must reach its files.
        layout = [
            (p.root, "root", "root", 0o755),
            (p.dovecot_dir, "root", "dovecot", 0o750),
            *(
                (p.dovecot_domain_dir(kind), "root", "dovecot", 0o750)
                for kind in DOVECOT_DOMAIN_FILES
            ),
            (p.postfix_dir, "root", "root", 0o755),
            (p.maps_dir, "root", "root", 0o755),
            (p.postfix_dir / "queue", "root", "root", 0o755),  # post-install fills it in
            (p.mail_dir, "vmail", "vmail", 0o750),
            (p.trash_dir, "vmail", "vmail", 0o750),
            (p.sieve_admin_dir, "vmail", "vmail", 0o750),
            (p.agent_dir, "root", "root", 0o700),
            (p.run_dir, "root", "root", 0o755),
            (p.log_dir, "root", "root", 0o755),
            (p.policy_dir, "root", "root", 0o755),
            (p.policy_limits_dir, "root", "root", 0o755),  # the agent's; the service reads
        ]
        for path, owner, group, mode in layout:
            _make_dir(path, owner, group, mode)

    def _ensure_data_files(self) -> None:
        """Empty maps and masters file where missing; existing data is the agent's, untouched."""
        p = self.paths
        for name in POSTFIX_MAPS:
            source = p.maps_dir / name
            if (p.maps_dir / f"{name}{MAP_SUFFIX[self.map_type]}").exists():
                continue
            if source.exists():
                # The agent's source without an index of this type (MAILNODE_MAP_TYPE was
                # changed): index it in place; postmap leaves the source alone.
                postmap(f"{self.map_type}:{source}", p.maps_dir)
            else:
                write_map(p.maps_dir, name, "", map_type=self.map_type)
        if not p.dovecot_masters.exists():
            atomic_write(p.dovecot_masters, "")
        ensure_refusals_db(p.dovecot_refusals_db)

    def _render_configs(self, ports: dict[str, int]) -> None:
        usage = self.usage or _usage_from_settings()
        try:
            usage_dict = usage.dovecot_dict()
        except UsageConfigError as exc:
            raise MailStackError(str(exc)) from None
        relay = self.relay()
        try:
            password_map = write_password_map(relay, self.paths.postfix_dir, self.map_type)
        except RelayConfigError as exc:
            raise MailStackError(str(exc)) from None
        profile = self.profile
        if profile.production and relay is None:
            outbound = _render("outbound-direct.cf", {"bind_addresses": _bind_addresses(profile)})
        else:
            outbound = outbound_settings(relay, password_map=password_map)
        values = {
            "outbound": outbound,
            "root": str(self.root),
            "hostname": profile.hostname,
            "map_type": self.map_type,
            "maps": str(self.paths.maps_dir),
            "usage_dict": usage_dict,
            **{name: str(port) for name, port in ports.items()},
        }
        values.update(self._profile_values(ports))
        self._write_tls_files()
        dovecot_conf = _render_with_profile("dovecot", values, profile)
        main_cf = _render_with_profile("main", values, profile)
        master_cf = _master_cf(_master_listeners(values, profile))
        # dovecot.conf may hold the Redis password (usage dict); Dovecot reads it as root and
        # hands settings to its unprivileged processes itself. main.cf/master.cf hold no secret.
        atomic_write(self.paths.dovecot_conf, dovecot_conf, mode=0o640, group="dovecot")
        atomic_write(
            self.paths.dovecot_refusals_conf,
            refusals_sql_config(self.paths.dovecot_refusals_db),
            mode=0o640,
            group="dovecot",
        )
        usage.save(self.paths)  # what the agent reads usage back from
        _write_postfix_config(self.paths.postfix_dir / "main.cf", main_cf)
        _write_postfix_config(self.paths.postfix_dir / "master.cf", master_cf)

    def _profile_values(self, ports: dict[str, int]) -> dict[str, str]:
        """The placeholders that depend on the profile (addresses, TLS, limits)."""
        profile = self.profile
        public = list(profile.public_addresses)
        wildcard = any(ipaddress.ip_address(a).is_unspecified for a in public)
        values = {
            # master.cf binds each public listener to its address itself; Postfix would refuse
            # an inet_interfaces address that is no interface's own (127.0.0.2 is only part of
            # lo's 127.0.0.0/8), so the listen addresses are named as proxy_interfaces: what
            # Postfix counts as itself when it checks an MX for a mail loop.
            "inet_interfaces": "all" if wildcard else HOST,
            "proxy_interfaces": "" if wildcard else ", ".join(a for a in public if a != HOST),
            "inet_protocols": "ipv4, ipv6" if any(":" in a for a in public) else "ipv4",
            "mynetworks": " ".join(_postfix_network(n) for n in profile.mynetworks),
            "message_size_limit": str(profile.message_size_limit),
            "listen": ", ".join(public),
            "client_connections": str(profile.client_connections),
            "client_connection_rate": str(profile.client_connection_rate),
            "client_message_rate": str(profile.client_message_rate),
            "postscreen_greet_wait": str(profile.postscreen_greet_wait),
        }
        try:
            cert, key = certificate(profile, self.tls_dir)
        except CertificateError as exc:
            raise MailStackError(str(exc)) from None
        sni = sni_certificates(self.tls_dir)
        values |= {
            "tls_cert": str(cert),
            "tls_key": str(key),
            "sni_map": f"{self.map_type}:{self.tls_dir / 'sni_map'}" if sni else "",
            "sni_dovecot": "".join(
                f"local_name {name} {{\n  ssl_cert = <{chain}\n  ssl_key = <{k}\n}}\n"
                for name, (chain, k) in sni.items()
            ),
        }
        return values

    @property
    def tls_dir(self) -> Path:
        """The node's certificates (tls.py): the test bed CA, made ones, sni/ the operator's."""
        return self.root / "tls"

    def reload_certs(self) -> list[str]:
        """Pick up new or renewed certificate files (the node's, and sni/) without dropping a
        session: rewrite the configuration naming them, then `doveadm reload` and `postfix
        reload` (new logins and new smtpd processes read the files; open ones keep theirs).
        Returns the SNI host names now served."""
        if not self._running():
            raise MailStackError(f"the mail stack under {self.root} is not running")
        with _locked(self.root):
            self._render_configs(self._saved_ports())
            reloaded = self.doveadm("reload")
            if reloaded.returncode != 0:
                raise MailStackError(f"doveadm reload failed: {reloaded.stderr.strip()}")
            postfix = [_binary("postfix"), "-c", str(self.paths.postfix_dir), "reload"]
            result = subprocess.run(postfix, capture_output=True, text=True)
            if result.returncode != 0:
                raise MailStackError(f"postfix reload failed: {result.stderr.strip()}")
        return sorted(sni_certificates(self.tls_dir))

    def _write_tls_files(self) -> None:
        """The cleartext-password rule for Dovecot's SASL (dovecot.conf) and the SNI map
        Postfix reads (postmap -F stores the files' contents: root-only, like the keys)."""
        atomic_write(
            self.paths.dovecot_dir / "cleartext-sql.conf.ext",
            f"driver = sqlite\nconnect = {self.paths.dovecot_refusals_db}\n"
            f"password_query = {CLEARTEXT_QUERY}\n",
            mode=0o640,
            group="dovecot",
        )
        sni = sni_certificates(self.tls_dir)
        if not sni:
            return
        source = self.tls_dir / "sni_map"
        lines = "".join(f"{name} {key} {chain}\n" for name, (chain, key) in sni.items())
        atomic_write(source, lines, mode=0o600, group="root")
        command = [_binary("postmap"), "-F", "-c", str(self.paths.postfix_dir),
                   f"{self.map_type}:{source}"]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            raise MailStackError(f"postmap -F {source} failed: {result.stderr.strip()}")
        os.chmod(f"{source}{MAP_SUFFIX[self.map_type]}", 0o600)

    def _log_sizes(self) -> dict[Path, int]:
        logs = (self.paths.log_dir / "dovecot.log", self.paths.log_dir / "postfix.log")
        return {path: path.stat().st_size if path.exists() else 0 for path in logs}

    def _explain(self, summary: str, marks: dict[Path, int]) -> str:
        """Add the daemons' own reason (a fatal line they logged since marks) to summary."""
        if FATAL_LINE.search(summary):
            return summary  # the command's output already said it (Dovecot prints, Postfix logs)
        for path, offset in marks.items():
            with contextlib.suppress(FileNotFoundError), path.open("rb") as log:
                log.seek(offset)
                new = log.read().decode("utf-8", errors="replace").splitlines()
                fatal = [line for line in new if FATAL_LINE.search(line)]
                if fatal:
                    return f"{summary}: {fatal[0].strip()}"
        return summary

    def _log_tails(self, lines: int = 15) -> str:
        parts = []
        for name in ("dovecot.log", "postfix.log", "policyd.log", "postsrsd.log"):
            path = self.paths.log_dir / name
            with contextlib.suppress(FileNotFoundError):
                text = path.read_text("utf-8", errors="replace").splitlines()
                tail = [line for line in text if not LAYOUT_NOISE.search(line)][-lines:]
                parts.append(f"--- {path} (last {len(tail)} lines)\n" + "\n".join(tail))
        return "\n".join(parts) or "(no logs written yet)"


# ----- helpers without state ---------------------------------------------------------------


def _usage_from_settings() -> UsageStore:
    from django.conf import settings

    try:
        return UsageStore(url=settings.MAILNODE_REDIS_URL, prefix=settings.MAILNODE_REDIS_PREFIX)
    except UsageConfigError as exc:
        raise MailStackError(str(exc)) from None


def _sending_from_settings() -> CounterStore:
    from django.conf import settings

    return CounterStore(url=settings.SENDING_REDIS_URL, prefix=settings.SENDING_REDIS_PREFIX)


def _guard_from_settings() -> GuardConfig:
    from django.conf import settings

    from provisioning.policy.guard_rules import rules_from_settings

    try:
        rules = rules_from_settings()
    except ValueError as exc:
        raise MailStackError(f"GUARD_* settings: {exc}") from None
    return GuardConfig(
        url=settings.GUARD_REDIS_URL,
        prefix=settings.GUARD_REDIS_PREFIX,
        rules=rules,
        node=settings.DEFAULT_MAIL_NODE,
    )


def _binary(name: str) -> str:
    for candidate in (shutil.which(name), f"/usr/sbin/{name}", f"/usr/bin/{name}"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise MailStackError(f"{name} not found: install Postfix and Dovecot (see MAILSTACK.md)")


def _run(cmd: list[str], what: str) -> None:
    # Output goes to a file, not a pipe: the daemons keep inherited descriptors open, and
    # reading a pipe until EOF would wait for as long as they run.
    with tempfile.TemporaryFile("w+") as out:
        code = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=out).returncode
        out.seek(0)
        output = out.read().strip()
    if code != 0:
        # One line; Postfix prints nothing here (it logs), start() then adds its log's reason.
        reason = "; ".join(line.strip() for line in output.splitlines() if line.strip())
        summary = f"{what} failed to start (exit {code})"
        raise MailStackError(f"{summary}: {reason}" if reason else summary)


def _terminate(pid: int) -> None:
    # SIGTERM is what `postfix stop` and `doveadm stop` send; doing it directly avoids
    # postfix-script's one-second polling and works even if the config became invalid.
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)


def _listening_sockets() -> set[tuple[str, int]]:
    """(address, port) of every TCP socket in LISTEN state, i.e. where a connect() would succeed.

    Asked of the kernel rather than by connecting: a probe connection makes Dovecot fork a
    login process, and one forked just before a stop held Dovecot's shutdown up by 5 s.
    """
    sockets = set()
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(FileNotFoundError):
            for line in Path(name).read_text().splitlines()[1:]:
                fields = line.split()
                if fields[3] == "0A":  # TCP_LISTEN
                    address, port = fields[1].rsplit(":", 1)
                    sockets.add((_kernel_address(address), int(port, 16)))
    return sockets


def _kernel_address(hex_address: str) -> str:
    """/proc/net/tcp{,6} spell addresses as hex of host-order 32-bit words."""
    raw = b"".join(
        int(hex_address[i : i + 8], 16).to_bytes(4, "little") for i in range(0, len(hex_address), 8)
    )
    return str(ipaddress.ip_address(raw))


def _is_listening(sockets: set[tuple[str, int]], address: str, port: int) -> bool:
    wildcard = "::" if ":" in address else "0.0.0.0"  # noqa: S104 (a kernel answer, not a bind)
    return (address, port) in sockets or (wildcard, port) in sockets


def _bind_addresses(profile: Profile) -> str:
    """Outbound mail leaves from the node's listening address (its PTR and SPF record's)."""
    lines = []
    for parameter, family in (("smtp_bind_address", 4), ("smtp_bind_address6", 6)):
        specific = [
            a
            for a in profile.listen
            if ipaddress.ip_address(a).version == family
            and not ipaddress.ip_address(a).is_unspecified
        ]
        if specific:
            lines.append(f"{parameter} = {specific[0]}")
    return "\n".join(lines)


def _postfix_network(network: str) -> str:
    net = ipaddress.ip_network(network, strict=False)
    return f"[{net.network_address}]/{net.prefixlen}" if net.version == 6 else str(net)


def resolv_conf(nameserver: str) -> str:
    # trust-ad: glibc passes the resolver's "authenticated data" bit on, which DANE needs.
    return f"nameserver {nameserver}\noptions edns0 trust-ad\n"


def _render_with_profile(config: str, values: dict[str, str], profile: Profile) -> str:
    """main.cf or dovecot.conf with its profile's part ("main-production.cf" ...) inside."""
    suffix = "cf" if config == "main" else "conf"
    part = _render(f"{config}-{profile.name}.{suffix}", values)
    return _render(f"{config}.{suffix}", {**values, "profile_settings": part})


def _master_listeners(values: dict[str, str], profile: Profile) -> str:
    """The services that replace master.cf's `smtp inet` line."""
    if not profile.production:
        listeners = _render("master-listeners.cf", values)
    else:
        wildcard = any(ipaddress.ip_address(a).is_unspecified for a in profile.listen)
        # With a wildcard, inet_interfaces is "all" and a service without address binds all.
        hosts = [""] if wildcard else [postfix_address(a, 0)[:-1] for a in profile.listen]
        listeners = "".join(
            _render("master-production.cf", {**values, "at": host}) for host in hosts
        ) + _render("master-production-services.cf", values)
    return listeners + _render("master-services.cf", values)


def _port_is_free(port: int) -> bool:
    # SO_REUSEADDR like the daemons themselves, so leftover TIME_WAIT connections from the
    # previous run do not count as "taken".
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_ports(count: int, exclude: set[int]) -> list[int]:
    """count distinct free loopback ports, picked by the kernel (bind to port 0)."""
    socks: list[socket.socket] = []
    ports: list[int] = []
    try:
        while len(ports) < count:
            sock = socket.socket()
            socks.append(sock)  # kept open until all are picked, so the kernel repeats none
            sock.bind(("127.0.0.1", 0))
            if sock.getsockname()[1] not in exclude:
                ports.append(sock.getsockname()[1])
    finally:
        for sock in socks:
            sock.close()
    return ports


def _check_traversable(directory: Path) -> None:
    """Postfix, vmail and Dovecot's auth process must be able to walk down to the root."""
    for path in (directory, *directory.parents):
        if path.exists() and not path.stat().st_mode & 0o001:
            raise MailStackError(
                f"{path} is not searchable by other users (postfix, dovecot, vmail need it): "
                "pick a state dir elsewhere or chmod o+x it"
            )


def _ensure_vmail_user() -> None:
    try:
        pwd.getpwnam("vmail")
    except KeyError:
        cmd = ["useradd", "-r", "-M", "-s", "/usr/sbin/nologin", "vmail"]
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            raise MailStackError(f"cannot create user vmail: {result.stderr.strip()}") from None


def _make_dir(path: Path, owner: str, group: str, mode: int) -> None:
    path.mkdir(parents=True, exist_ok=True)
    os.chown(path, pwd.getpwnam(owner).pw_uid, grp.getgrnam(group).gr_gid)
    os.chmod(path, mode)


def _render(template: str, values: dict[str, str]) -> str:
    """Fill {{name}} placeholders; both config languages use $ and { } themselves."""
    text = (TEMPLATES / template).read_text("utf-8")

    def value(match: re.Match[str]) -> str:
        return values[match.group(1)]

    return re.sub(r"\{\{(\w+)\}\}", value, text)


def _master_cf(listeners: str) -> str:
    """Debian's default master.cf, without chroot, with our two smtpd listeners for `smtp inet`.

    Reading the installed prototype keeps the service list in step with the installed Postfix.
    No chroot: the daemons must see the maps and sockets under the state folder.
    """
    proto = SYSTEM_POSTFIX_DIR / "master.cf.proto"
    if not proto.exists():
        proto = SYSTEM_POSTFIX_DIR / "master.cf"
    out: list[str] = [f"# Rendered by provisioning/mailstack from {proto}; do not edit."]
    replacing = False
    for line in proto.read_text("utf-8").splitlines():
        if line[:1] in (" ", "\t") and line.strip():
            if not replacing:  # continuation of the previous service entry
                out.append(line)
            continue
        fields = line.split()
        replacing = len(fields) >= 8 and not line.startswith("#") and fields[:2] == ["smtp", "inet"]
        if replacing:
            out.append(listeners.rstrip("\n"))
        elif len(fields) >= 8 and not line.startswith("#"):
            parts = re.split(r"(\s+)", line)
            parts[8] = "n"  # field 5, chroot
            out.append("".join(parts))
        else:
            out.append(line)
    return "\n".join(out) + "\n"


def _write_postfix_config(path: Path, text: str) -> None:
    if atomic_write(path, text, mode=0o644, group="root"):
        _cool_down(path)


def _cool_down(path: Path) -> None:
    """Backdate a Postfix config file we just replaced whole (by rename).

    Postfix re-reads main.cf and master.cf while their mtime is under a second old, pausing
    300 ms each time, because an editor might still be writing them (dict_load_file_xt,
    load_file). Ours are never half-written, and the pause cost ~2 s at every start.
    """
    past = time.time() - 2
    os.utime(path, (past, past))


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """An exclusive flock on a directory: one start/stop per root, one main.cf edit at a time.

    Locks belong to the open file, so the same process must not nest two on one directory.
    """
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _edit_alternate_config_dirs(config_dir: Path, *, add: bool) -> None:
    """`postfix -c DIR` refuses to run unless the default main.cf lists DIR."""
    main_cf = SYSTEM_POSTFIX_DIR / "main.cf"
    with _locked(SYSTEM_POSTFIX_DIR):
        if not main_cf.exists():
            # Debian's "No configuration" install leaves none; the tools need one to exist.
            text = f"compatibility_level = 3.7\nalternate_config_directories = {config_dir}\n"
            if add:
                _write_postfix_config(main_cf, text)
            return
        current = _postconf("-h", "alternate_config_directories")
        dirs = [d for d in re.split(r"[\s,]+", current) if d]
        if add:
            wanted = dirs if str(config_dir) in dirs else [*dirs, str(config_dir)]
        else:
            wanted = [d for d in dirs if d != str(config_dir)]
        if wanted == dirs:
            return
        if wanted:
            _postconf("-e", f"alternate_config_directories = {' '.join(wanted)}")
        else:
            _postconf("-X", "alternate_config_directories")
        _cool_down(main_cf)


def _postconf(*args: str) -> str:
    """postconf on the default instance; postconf -e/-X rewrite main.cf via a temp file."""
    cmd = [_binary("postconf"), "-c", str(SYSTEM_POSTFIX_DIR), *args]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise MailStackError(f"{' '.join(cmd)} failed: {result.stderr.strip()}")
    return result.stdout
