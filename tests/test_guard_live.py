"""The password guard over the wire (issue 27): a node of this module's own, whose Dovecot asks
its policy service's guard before and after every password login, counting in a private
redis-server this module may stop. The rules are the test bed's small ones (2 free failures,
a 1 s delay, a ban at 5), so a run is seconds, not the minutes of the defaults. Each test logs
in from 127.0.0.x source addresses of its own.
"""

from __future__ import annotations

import contextlib
import imaplib
import json
import os
import poplib
import shutil
import smtplib
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command
from passlib.hash import sha512_crypt

from provisioning.mailstack.controller import MailStack
from provisioning.node.agent import NodeAgent
from provisioning.node.paths import NodePaths
from provisioning.node.state import AccountState, DomainState
from provisioning.policy.daemon import GuardConfig
from provisioning.policy.guard_rules import GuardRules
from tests.bed import RedisServer
from tests.mailclient import HOST, _BoundIMAP4, _BoundPOP3, wait_until

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(
        os.geteuid() != 0 or not shutil.which("postfix") or not shutil.which("redis-server"),
        reason="needs root, Postfix/Dovecot and redis-server",
    ),
]

PASSWORD = "guard-password-1"
HASH = sha512_crypt.using(rounds=5000).hash(PASSWORD)
DOMAIN = "guard.test"
# One account per test: a login name's failures count for the next test's too.
ACCOUNTS = ("alice", "bob", "carol", "dave", "erin", "frank")
ALICE, BOB, CAROL, DAVE, ERIN, FRANK = (f"{name}@{DOMAIN}" for name in ACCOUNTS)
PREFIX = "tm-guard-test/"
RULES = GuardRules(free_failures=2, ban_after=5, ban_seconds=600, max_delay=1,
                   account_free_failures=5)  # fmt: skip
DELAYED = 0.9  # the guard's delay is 1 s (max_delay); a login without it takes far less
# The free failures cost nothing (typos); the attempt after the last of them is the first to wait.
FREE = RULES.free_failures


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def node(redis_server: RedisServer) -> Iterator[MailStack]:
    root = Path(tempfile.mkdtemp(prefix="tm-guard-"))
    root.chmod(0o755)  # the daemons' users walk into it
    guard = GuardConfig(redis_server.url(), PREFIX, RULES, "guard-node")
    stack = MailStack(root, map_type=settings.MAILNODE_MAP_TYPE, guard=guard)
    try:
        stack.start()
        state = DomainState(id=1, name=DOMAIN, version=1,
                            accounts=tuple(AccountState(91001 + i, name, HASH)
                                           for i, name in enumerate(ACCOUNTS)))  # fmt: skip
        NodeAgent(NodePaths(root), map_type=settings.MAILNODE_MAP_TYPE).apply_domain(state)
        assert wait_until(lambda: imap_try(stack, ALICE, PASSWORD, "127.0.0.2")[0])
        yield stack
    finally:
        stack.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def guard_settings(settings: Any, redis_server: RedisServer) -> Any:
    """The panel's side (`manage.py ban`) reads the same Redis as the node."""
    settings.GUARD_REDIS_URL = redis_server.url()
    settings.GUARD_REDIS_PREFIX = PREFIX
    return settings


def _tls() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE  # who, not which cert
    return context


def imap_try(node: MailStack, user: str, password: str, source: str) -> tuple[bool, float, str]:
    """(logged in, seconds the LOGIN took, the server's answer)."""
    with _BoundIMAP4(HOST, node.ports["imap"], source, timeout=30) as imap:
        if "STARTTLS" in imap.capabilities:  # a password from afar needs TLS (issue 15)
            imap.starttls(_tls())
        started = time.monotonic()
        try:
            imap.login(user, password)
        except imaplib.IMAP4.error as exc:
            return False, time.monotonic() - started, str(exc)
        took = time.monotonic() - started
        imap.logout()
        return True, took, "OK"


def test_wrong_passwords_are_delayed_then_refused_and_other_addresses_log_in(
    node: MailStack,
) -> None:
    source = "127.0.0.7"
    took = [imap_try(node, ALICE, "wrong", source)[1] for _ in range(FREE + 1)]
    assert max(took) < DELAYED
    for _ in range(RULES.ban_after - FREE - 1):
        ok, seconds, _ = imap_try(node, ALICE, "wrong", source)
        assert not ok and seconds >= DELAYED  # then every guess waits first
    ok, _, answer = imap_try(node, ALICE, PASSWORD, source)
    assert not ok and "Authentication failed" in answer  # banned: the right password too
    ok, seconds, _ = imap_try(node, ALICE, PASSWORD, "127.0.0.8")
    assert ok and seconds < DELAYED
    # One guard for every protocol Dovecot checks passwords for.
    assert not pop3_try(node, ALICE, PASSWORD, source)
    assert pop3_try(node, ALICE, PASSWORD, "127.0.0.8")


def pop3_try(node: MailStack, user: str, password: str, source: str) -> bool:
    pop = _BoundPOP3(HOST, node.ports["pop3"], source, timeout=30)
    try:
        if "STLS" in pop.capa():
            pop.stls(_tls())
        pop.user(user)
        pop.pass_(password)
        return True
    except poplib.error_proto:
        return False
    finally:
        with contextlib.suppress(poplib.error_proto, OSError):
            pop.quit()


def smtp_plain(node: MailStack, user: str, password: str, source: str) -> bool:
    """One AUTH PLAIN on the submission port (smtplib's login() would try every mechanism
    the server offers, each a failure of its own)."""
    with smtplib.SMTP(HOST, node.ports["submission"], timeout=30,
                      source_address=(source, 0)) as smtp:  # fmt: skip
        smtp.ehlo("client.test")
        if smtp.has_extn("starttls"):
            smtp.starttls(context=_tls())
            smtp.ehlo("client.test")
        smtp.user, smtp.password = user, password
        try:
            smtp.auth("PLAIN", smtp.auth_plain)
            return True
        except smtplib.SMTPAuthenticationError:
            return False


def test_smtp_auth_failures_count_for_imap(node: MailStack) -> None:
    source = "127.0.0.10"
    for _ in range(FREE + 1):
        assert not smtp_plain(node, BOB, "wrong", source)
    ok, seconds, _ = imap_try(node, BOB, PASSWORD, source)
    assert ok and seconds >= DELAYED  # the next attempt, whatever the protocol, waits
    for _ in range(RULES.ban_after - FREE - 1):
        assert not smtp_plain(node, BOB, "wrong", source)
    assert not imap_try(node, BOB, PASSWORD, source)[0]


def test_known_and_unknown_accounts_answer_alike(node: MailStack) -> None:
    known = [imap_try(node, CAROL, "wrong", "127.0.0.11") for _ in range(FREE + 2)]
    unknown = [imap_try(node, f"nobody@{DOMAIN}", "wrong", "127.0.0.12") for _ in range(FREE + 2)]
    assert [(ok, answer) for ok, _, answer in known] == [(ok, a) for ok, _, a in unknown]
    # Both names are counted: the guess after the free ones waits for either.
    assert known[-1][1] >= DELAYED and unknown[-1][1] >= DELAYED
    assert known[0][1] < DELAYED and unknown[0][1] < DELAYED


def test_a_run_from_many_addresses_does_not_lock_out_the_owner(node: MailStack) -> None:
    owner = "127.0.0.30"
    assert imap_try(node, DAVE, PASSWORD, owner)[0]  # the owner's address, now known
    sources = [f"127.0.0.{40 + n}" for n in range(20)]  # a distributed run, all at once
    with ThreadPoolExecutor(len(sources)) as pool:
        tried = list(pool.map(lambda source: imap_try(node, DAVE, "wrong", source), sources))
    assert not any(ok for ok, _, _ in tried)
    ok, seconds, _ = imap_try(node, DAVE, PASSWORD, owner)
    assert ok and seconds < DELAYED  # at once
    ok, seconds, _ = imap_try(node, DAVE, "wrong", "127.0.0.61")
    assert not ok and seconds >= DELAYED  # a new address is slowed by the run


@pytest.mark.django_db
def test_ban_remove_lets_the_address_in_at_once(node: MailStack, guard_settings: Any) -> None:
    source = "127.0.0.13"
    call_command("ban", "add", source, "--minutes", "30", "--reason", "seen in the logs")
    out = StringIO()
    call_command("ban", "list", "--json", stdout=out)
    [row] = [b for b in json.loads(out.getvalue()) if b["address"] == source]
    assert row["reason"] == "seen in the logs" and row["until"] > row["since"]
    assert set(row) == {"address", "reason", "since", "until", "failures"}
    assert not imap_try(node, ERIN, PASSWORD, source)[0]
    call_command("ban", "remove", source)
    ok, seconds, _ = imap_try(node, ERIN, PASSWORD, source)
    assert ok and seconds < DELAYED


def test_with_redis_stopped_logins_work_and_the_guard_still_counts(
    node: MailStack, redis_server: RedisServer
) -> None:
    metrics = node.paths.policy_state_dir / "guard.prom"
    time.sleep(5.5)  # the metrics are rewritten every 5 s: now they hold the earlier tests' bans
    bans_before = _metric(metrics, "tempusmail_guard_bans_total")
    redis_server.stop()
    try:
        ok, _, _ = imap_try(node, FRANK, PASSWORD, "127.0.0.14")
        assert ok
        source = "127.0.0.15"
        for _ in range(RULES.ban_after):
            assert not imap_try(node, FRANK, "wrong", source)[0]
        assert not imap_try(node, FRANK, PASSWORD, source)[0]  # banned on the node's count
        assert imap_try(node, FRANK, PASSWORD, "127.0.0.16")[0]
        # The metrics node_exporter reads say so.
        assert wait_until(lambda: _metric(metrics, "tempusmail_guard_fallback") == 1
                          and _metric(metrics, "tempusmail_guard_bans_total") > bans_before,
                          timeout=8)  # fmt: skip
    finally:
        redis_server.start()


def _metric(path: Path, name: str) -> int:
    """A value of the guard's Prometheus textfile (-1: not there yet)."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return -1
    return next((int(line.split()[1]) for line in lines if line.startswith(f"{name} ")), -1)


def test_benchmark_smoke() -> None:
    """benchmarks/password_guessing.py at its --smoke size keeps working (figures unchecked)."""
    run = subprocess.run(
        [sys.executable, "benchmarks/password_guessing.py", "--smoke"],
        cwd=Path(__file__).resolve().parent.parent, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    for line in ("baseline, no guard:", "with the guard:", "the guard adds"):
        assert line in run.stdout, run.stdout
