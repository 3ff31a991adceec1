"""Password guessing against a node, with the guard (issue 27) and without it, in one run.

A private mail node (its own Postfix, Dovecot and policy service, the guard's default rules,
counting in a private redis-server) and one account. Two figures, each measured first with the
guard switched off (Dovecot's auth_policy_server_url removed and Dovecot reloaded: the
baseline) and then on:
- wrong IMAP passwords *checked* from one address by N parallel connections in D seconds
  (without the guard: every attempt; with it: the failures the guard counted, which are the
  passwords Dovecot checked: refused attempts check none), and what that makes in 10 minutes
  (the ban outlasts 10 minutes, so with the guard the count does not grow with time).
  Target: <= 20 per 10 minutes (issue 27; without a guard about 61,000 were measured);
- the time of a correct IMAP LOGIN from another address (p50/p95), so the difference is what
  the guard adds. Target: <= 5 ms at p95.

    .venv/bin/python benchmarks/password_guessing.py [--connections 64] [--seconds 10]
        [--logins 200] [--smoke]
Needs root, Postfix, Dovecot and redis-server (as the live test bed).
"""

from __future__ import annotations

import argparse
import imaplib
import shutil
import socket
import ssl
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench_bed import REPO, percentile

sys.path.insert(0, str(REPO))

PASSWORD = "bench-guard-password-1"
DOMAIN = "guard-bench.test"
USER = f"alice@{DOMAIN}"
PREFIX = "tm-guard-bench/"


class SourceIMAP(imaplib.IMAP4):
    def __init__(self, port: int, source: str) -> None:
        self._source = source
        super().__init__("127.0.0.1", port, timeout=60)

    def _create_socket(self, timeout: float | None) -> socket.socket:
        return socket.create_connection((self.host, self.port), timeout,
                                        source_address=(self._source, 0))  # fmt: skip


def _tls() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    return context


def login(port: int, source: str, password: str) -> tuple[bool, float]:
    """(logged in, seconds the LOGIN command took)."""
    with SourceIMAP(port, source) as imap:
        if "STARTTLS" in imap.capabilities:
            imap.starttls(_tls())
        started = time.perf_counter()
        try:
            imap.login(USER, password)
            ok = True
        except imaplib.IMAP4.error:
            ok = False
        took = time.perf_counter() - started
        if ok:
            imap.logout()
        return ok, took


def guess(port: int, source: str, connections: int, seconds: float) -> int:
    """Wrong passwords sent from source by parallel connections until seconds have passed."""
    deadline, attempts, lock = time.monotonic() + seconds, [0], threading.Lock()

    def worker() -> None:
        while time.monotonic() < deadline:
            try:
                login(port, source, "wrong-password")
            except (OSError, imaplib.IMAP4.abort):
                continue
            with lock:
                attempts[0] += 1

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return attempts[0]


def correct_logins(port: int, source: str, count: int) -> list[float]:
    times = []
    for _ in range(count):
        ok, took = login(port, source, PASSWORD)
        assert ok, f"{USER} could not log in from {source}"
        times.append(took)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--logins", type=int, default=200)
    parser.add_argument("--smoke", action="store_true", help="4 connections, 2 s, 20 logins")
    args = parser.parse_args()
    if args.smoke:
        args.connections, args.seconds, args.logins = 4, 2.0, 20

    import os

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tempusmail.settings")
    import django

    django.setup()
    import redis
    from django.conf import settings
    from passlib.hash import sha512_crypt

    from provisioning.mailstack.controller import MailStack
    from provisioning.node.agent import NodeAgent
    from provisioning.node.paths import NodePaths
    from provisioning.node.state import AccountState, DomainState
    from provisioning.policy import guard_keys as keys
    from provisioning.policy.daemon import GuardConfig
    from provisioning.policy.guard_rules import GuardRules
    from tests.bed import RedisServer

    server = RedisServer()
    server.start()
    root = Path(tempfile.mkdtemp(prefix="tm-gbench-"))
    root.chmod(0o755)
    # The defaults, as in production; the smoke run (in the suite) waits at most 1 s a guess.
    rules = GuardRules(max_delay=1) if args.smoke else GuardRules()
    stack = MailStack(root, map_type=settings.MAILNODE_MAP_TYPE,
                      guard=GuardConfig(server.url(), PREFIX, rules, "bench"))  # fmt: skip
    try:
        port = stack.start()["imap"]
        hashed = sha512_crypt.using(rounds=5000).hash(PASSWORD)
        state = DomainState(id=1, name=DOMAIN, version=1,
                            accounts=(AccountState(1, "alice", hashed),))  # fmt: skip
        NodeAgent(NodePaths(root), map_type=settings.MAILNODE_MAP_TYPE).apply_domain(state)
        time.sleep(1.1)  # Dovecot re-reads a passwd-file at most once a second
        conf = stack.paths.dovecot_conf
        with_guard = conf.read_text()

        def reload(text: str) -> None:
            conf.write_text(text)
            stack.doveadm("reload", check=True)
            time.sleep(1.0)

        reload("".join(line for line in with_guard.splitlines(keepends=True)
                       if not line.startswith("auth_policy_server_url")))  # fmt: skip
        base_attempts = guess(port, "127.0.0.7", args.connections, args.seconds)
        base_logins = correct_logins(port, "127.0.0.8", args.logins)

        reload(with_guard)
        correct_logins(port, "127.0.0.10", 1)  # the address logged in before: a known one
        attempts = guess(port, "127.0.0.9", args.connections, args.seconds)
        checked = redis.Redis.from_url(server.url()).zcard(keys.login_failures_key(PREFIX, USER))
        guard_logins = correct_logins(port, "127.0.0.10", args.logins)
    finally:
        stack.stop()
        server.stop()
        shutil.rmtree(root, ignore_errors=True)

    ten_minutes = 600 / args.seconds
    print(f"wrong IMAP passwords from one address, {args.connections} parallel connections, "
          f"{args.seconds:.0f} s (ban after {rules.ban_after} in {rules.window} s)")  # fmt: skip
    print(f"  baseline, no guard: {base_attempts} checked   "
          f"-> {base_attempts * ten_minutes:,.0f} per 10 min")  # fmt: skip
    print(f"  with the guard:     {checked} checked ({attempts} attempts answered)   "
          f"-> {checked} per 10 min (banned for {rules.ban_seconds} s)")  # fmt: skip
    print(f"correct IMAP LOGIN, {args.logins} logins from one address")
    print(_times("  baseline, no guard", base_logins))
    print(_times("  with the guard", guard_logins))
    added = percentile(guard_logins, 95) - percentile(base_logins, 95)
    print(f"  the guard adds {added * 1000:.2f} ms at p95")


def _times(name: str, values: list[float]) -> str:
    import statistics

    return (f"{name:<22} p50 {statistics.median(values) * 1000:7.2f} ms   "
            f"p95 {percentile(values, 95) * 1000:7.2f} ms")  # fmt: skip


if __name__ == "__main__":
    main()
