"""Sending limits over the wire: the submission port of the private test bed asks the policy
service at RCPT and at the end of DATA; the counters are in Redis.

Most tests give the node its limits through the node agent applying a DomainState, as the
loop does; one sets a limit with `mailbox update` and follows it through the whole loop. The
outage test stops a private redis-server started here, never the shared one, and restarts the
node's policy service while it is away.
"""

from __future__ import annotations

import os
import shutil
import signal
import smtplib
import socket
import subprocess
import tempfile
import time
import zlib
from collections.abc import Iterator
from dataclasses import replace
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import redis
from django.conf import settings
from django.urls import reverse
from passlib.hash import sha512_crypt

from provisioning.mailstack.controller import MailStack
from provisioning.node.agent import NodeAgent
from provisioning.node.paths import NodePaths
from provisioning.node.state import AccountState, DomainState
from provisioning.policy.daemon import CounterStore, policy_pid, start_policy
from provisioning.policy.status import read_status
from provisioning.sent_counter import member_recipients, sent_in_window, sent_key
from tests.mailclient import HOST, wait_until
from tests.personas import World, build_world

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(
        os.geteuid() != 0 or not shutil.which("postfix") or not shutil.which("redis-server"),
        reason="needs root, Postfix/Dovecot and redis-server",
    ),
]

PASSWORD = "limits-password-1"
HASH = sha512_crypt.using(rounds=5000).hash(PASSWORD)
RECIPIENTS = ("bob", "carol", "dave")


# --- helpers -------------------------------------------------------------------------------


def first_id(domain: str) -> int:
    """Mailbox ids of the domain's accounts start here: counters are keyed by id, and the
    tests share one Redis, so each domain gets ids of its own."""
    return zlib.crc32(domain.encode()) * 10


def domain_state(name: str, version: int, alice_id: int = 0, **alice_limits: int) -> DomainState:
    """alice, whose limits are given, and three recipients without limits."""
    base = first_id(name)
    alice = AccountState(alice_id or base, "alice", HASH, **alice_limits)
    others = [AccountState(base + i + 1, local, HASH) for i, local in enumerate(RECIPIENTS)]
    return DomainState(id=1, name=name, version=version, accounts=(alice, *others))


def apply(root: Path, state: DomainState) -> None:
    NodeAgent(NodePaths(root), map_type=settings.MAILNODE_MAP_TYPE).apply_domain(state)


def submission(ports: dict[str, int], user: str) -> smtplib.SMTP:
    smtp = smtplib.SMTP(HOST, ports["submission"], timeout=15)
    smtp.ehlo("client.test")
    # Dovecot re-reads a passwd-file the agent just wrote within a second.
    assert wait_until(lambda: _login(smtp, user), timeout=5), f"{user} cannot log in"
    return smtp


def _login(smtp: smtplib.SMTP, user: str) -> bool:
    try:
        smtp.login(user, PASSWORD)
        return True
    except smtplib.SMTPAuthenticationError:
        return False


def send(smtp: smtplib.SMTP, sender: str, to: list[str]) -> list[tuple[int, str]]:
    """One message: the RCPT replies, then DATA's (when a recipient was accepted)."""
    smtp.mail(sender)
    replies = [_decoded(smtp.rcpt(address)) for address in to]
    if not any(code == 250 for code, _ in replies):
        smtp.rset()
        return replies
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, ", ".join(to), "limits"
    message.set_content("counted\n")
    code, text = _decoded(smtp.data(message.as_bytes()))
    if code != 250:
        smtp.rset()
    return [*replies, (code, text)]


def _decoded(reply: tuple[int, bytes]) -> tuple[int, str]:
    return reply[0], reply[1].decode()


def accepted(replies: list[tuple[int, str]]) -> bool:
    return all(code == 250 for code, _ in replies)


def counter(store: CounterStore) -> redis.Redis:
    return redis.Redis.from_url(store.url)


def settings_store() -> CounterStore:
    return CounterStore(settings.SENDING_REDIS_URL, settings.SENDING_REDIS_PREFIX)


@pytest.fixture
def domain(domain_name: str) -> Iterator[str]:
    yield domain_name
    client = counter(settings_store())
    for n in range(len(RECIPIENTS) + 1):
        client.delete(sent_key(settings.SENDING_REDIS_PREFIX, first_id(domain_name) + n))


# --- the test bed's own stack (counters in the tests' Redis database) ----------------------


def test_message_over_the_daily_limit_is_refused_at_rcpt(mailstack, domain: str) -> None:
    apply(mailstack.root, domain_state(domain, 1, daily_limit=3))
    alice, bob = f"alice@{domain}", f"bob@{domain}"
    with submission(mailstack.ports, alice) as smtp:
        for _ in range(3):
            assert accepted(send(smtp, alice, [bob]))
        [(code, text)] = send(smtp, alice, [bob])
    assert code == 550
    assert f"Daily sending limit reached: {alice} may send 3 messages in 24 hours" in text
    # The panel's reading of the same counters (keyed by her mailbox id).
    alice_id = first_id(domain)
    assert sent_in_window(counter(settings_store()), settings.SENDING_REDIS_PREFIX, [alice_id]) == {
        alice_id: 3
    }


def test_a_message_to_several_recipients_is_one_message(mailstack, domain: str) -> None:
    apply(mailstack.root, domain_state(domain, 1, daily_limit=2, max_recipients=2))
    alice = f"alice@{domain}"
    to = [f"{local}@{domain}" for local in RECIPIENTS]
    with submission(mailstack.ports, alice) as smtp:
        first = send(smtp, alice, to)
        assert [code for code, _ in first] == [250, 250, 550, 250]  # 2 recipients, then DATA
        assert "Too many recipients: " in first[2][1]
        assert f"{alice} may send a message to at most 2 recipients" in first[2][1]
        assert accepted(send(smtp, alice, to[:2]))
        [(code, text)] = send(smtp, alice, to[:1])
    assert code == 550 and "Daily sending limit reached" in text
    members = counter(settings_store()).zrange(
        sent_key(settings.SENDING_REDIS_PREFIX, first_id(domain)), 0, -1
    )
    assert sorted(member_recipients(m) for m in members) == [2, 2]


def test_an_hourly_limit_and_a_raised_limit_take_effect_at_once(mailstack, domain: str) -> None:
    apply(mailstack.root, domain_state(domain, 1, hourly_limit=1))
    alice, bob = f"alice@{domain}", f"bob@{domain}"
    with submission(mailstack.ports, alice) as smtp:
        assert accepted(send(smtp, alice, [bob]))
        [(code, text)] = send(smtp, alice, [bob])
        assert code == 550
        assert f"Hourly sending limit reached: {alice} may send 1 message per hour" in text
        apply(mailstack.root, domain_state(domain, 2, hourly_limit=2))
        # The service re-reads a changed limits file within 0.2 s of a request.
        assert wait_until(lambda: accepted(send(smtp, alice, [bob])), timeout=2)


def test_accounts_without_limits_are_counted_too(mailstack, domain: str) -> None:
    apply(mailstack.root, domain_state(domain, 1))
    bob, carol = f"bob@{domain}", f"carol@{domain}"
    with submission(mailstack.ports, bob) as smtp:
        for _ in range(3):
            assert accepted(send(smtp, bob, [carol]))
    bob_id = first_id(domain) + 1
    assert sent_in_window(counter(settings_store()), settings.SENDING_REDIS_PREFIX, [bob_id]) == {
        bob_id: 3
    }


def test_a_limit_set_with_the_panel_reaches_the_policy_service(live, domain: str) -> None:
    # The whole loop: the CLI's service call -> Celery -> the node agent's limits file -> the
    # policy service; and the panel's usage report reads the counters the service wrote.
    import json
    from io import StringIO

    from django.core.management import call_command

    from domains.services import domain_create
    from mailboxes.services import mailbox_create
    from organizations.services import organization_create
    from security.audit import Actor

    actor = Actor(label="test")
    org = organization_create(actor=actor, name=f"Limits {domain}")
    panel_domain = domain_create(actor=actor, name=domain, organization=org)
    for local in ("alice", "bob"):
        mailbox_create(actor=actor, domain=panel_domain, local_part=local, password=PASSWORD)
    alice, bob = f"alice@{domain}", f"bob@{domain}"
    call_command("mailbox", "update", alice, "--daily-limit", "2", stdout=StringIO())
    call_command("provision", "wait", "--timeout", "15", stdout=StringIO())

    with submission(live.ports, alice) as smtp:
        assert accepted(send(smtp, alice, [bob]))
        assert accepted(send(smtp, alice, [bob]))
        [(code, text)] = send(smtp, alice, [bob])
    assert code == 550 and f"{alice} may send 2 messages in 24 hours" in text
    out = StringIO()
    call_command("mailbox", "usage", alice, "--json", stdout=out)
    report = json.loads(out.getvalue())
    assert report["sent_24h"] == 2 and report["daily_limit"] == 2


# --- two more nodes on a private Redis -----------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


class PrivateRedis:
    """A redis-server of this module's own, on a free loopback port, that may be stopped; it
    saves its data when stopped and loads it when started again, as a production Redis does."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.dir = tempfile.mkdtemp(prefix="tm-redis-")

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", HOST, "--dir", self.dir,
             "--save", "3600 1", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        assert wait_until(self._answers, timeout=10), "private redis-server did not start"

    def _answers(self) -> bool:
        try:
            return bool(redis.Redis.from_url(self.url, socket_timeout=1).ping())
        except redis.ConnectionError:
            return False

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None


@pytest.fixture(scope="module")
def private_redis() -> Iterator[PrivateRedis]:
    server = PrivateRedis()
    server.start()
    yield server
    server.stop()
    shutil.rmtree(server.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def nodes(private_redis: PrivateRedis) -> Iterator[list[MailStack]]:
    """Two mail nodes, each with its own Postfix, Dovecot and policy service, one Redis."""
    store = CounterStore(private_redis.url, "tm-nodes/")
    stacks = []
    try:
        for _ in range(2):
            # Short and world-traversable: unix socket paths and the daemons' users.
            root = Path(tempfile.mkdtemp(prefix="tm-pol-"))
            root.chmod(0o755)
            stack = MailStack(root, map_type=settings.MAILNODE_MAP_TYPE, sending=store)
            stacks.append(stack)
            stack.start()
        yield stacks
    finally:
        for stack in stacks:
            stack.stop()
            shutil.rmtree(stack.root, ignore_errors=True)


def test_two_nodes_and_two_connections_share_one_counter(
    nodes: list[MailStack], domain_name: str
) -> None:
    for stack in nodes:
        apply(stack.root, domain_state(domain_name, 1, daily_limit=3))
    alice, bob = f"alice@{domain_name}", f"bob@{domain_name}"
    one, two = (submission(stack.ports, alice) for stack in nodes)
    with one, two:
        assert accepted(send(one, alice, [bob]))
        assert accepted(send(two, alice, [bob]))
        assert accepted(send(one, alice, [bob]))
        # Each node's service has counted some of the three: both refuse the fourth.
        for smtp in (two, one):
            [(code, text)] = send(smtp, alice, [bob])
            assert code == 550 and "Daily sending limit reached" in text
    assert {policy_pid(stack.paths) for stack in nodes} != {None}
    assert len({policy_pid(stack.paths) for stack in nodes}) == 2


def restart_policy_service(stack: MailStack, store: CounterStore) -> None:
    pid = policy_pid(stack.paths)
    assert pid is not None
    os.kill(pid, signal.SIGTERM)
    assert wait_until(lambda: policy_pid(stack.paths) is None, timeout=10)
    start_policy(stack.paths, stack.ports["policy"], store)
    assert wait_until(lambda: policy_pid(stack.paths) not in (None, pid), timeout=20)


def report_and_look(stack: MailStack, world: World, settings_: Any) -> str:
    """The node's usage report (the real task, eager here) and the domain's provisioning tab."""
    from provisioning import tasks

    settings_.MAILNODE_DIR = stack.root
    tasks.report_usage(world.acme_domain.node.name)
    page = world.client("alice").get(reverse("domain_provisioning", args=[world.acme_domain.pk]))
    return page.content.decode()


@pytest.mark.django_db
def test_without_redis_mail_is_sent_and_the_limits_hold(
    nodes: list[MailStack], private_redis: PrivateRedis, domain_name: str, settings: Any
) -> None:
    stack, store = nodes[0], CounterStore(private_redis.url, "tm-nodes/")
    apply(stack.root, domain_state(domain_name, 1, daily_limit=3))
    alice_id, bob_id = first_id(domain_name), first_id(domain_name) + 1
    alice, bob, carol = (f"{local}@{domain_name}" for local in ("alice", "bob", "carol"))
    world = build_world(domain_name.split(".")[0])
    limit_reached = f"Daily sending limit reached: {alice} may send 3 messages in 24 hours"
    with submission(stack.ports, alice) as limited, submission(stack.ports, bob) as unlimited:
        assert accepted(send(limited, alice, [carol]))
        assert accepted(send(limited, alice, [carol]))
        private_redis.stop()
        try:
            assert accepted(send(limited, alice, [carol]))  # 2 known + 0 on the node
            assert accepted(send(unlimited, bob, [carol]))  # no limit: as usual
            status = read_status(stack.paths.policy_state_dir)
            assert status is not None and status.fallback_since is not None
            page = report_and_look(stack, world, settings)
            since = time.strftime("%Y-%m-%d %H:%M", time.gmtime(status.fallback_since))
            assert "Node's own count</span> since " + since in page
            # The service stops and starts again while Redis is away: it keeps its count.
            restart_policy_service(stack, store)
            [(code, text)] = send(limited, alice, [carol])
            assert code == 550 and limit_reached in text  # the real reason, not Redis
            assert accepted(send(unlimited, bob, [carol]))
        finally:
            private_redis.start()
        client = redis.Redis.from_url(private_redis.url)

        def merged() -> bool:
            counts = sent_in_window(client, store.prefix, [alice_id, bob_id])
            return counts == {alice_id: 3, bob_id: 2}

        assert wait_until(merged, timeout=15), "the node's count was not merged into Redis"
        [(code, text)] = send(limited, alice, [carol])
        assert code == 550 and limit_reached in text
        assert accepted(send(unlimited, bob, [carol]))
    assert sent_in_window(client, store.prefix, [alice_id, bob_id]) == {alice_id: 3, bob_id: 3}
    status = read_status(stack.paths.policy_state_dir)
    assert status is not None and status.fallback_since is None and status.unmerged == 0
    assert '<span class="badge online">Shared</span>' in report_and_look(stack, world, settings)


def test_a_recreated_address_starts_at_zero(nodes: list[MailStack], domain_name: str) -> None:
    stack = nodes[1]
    apply(stack.root, domain_state(domain_name, 1, daily_limit=1))
    alice, bob = f"alice@{domain_name}", f"bob@{domain_name}"
    with submission(stack.ports, alice) as smtp:
        assert accepted(send(smtp, alice, [bob]))
        [(code, _)] = send(smtp, alice, [bob])
        assert code == 550
    # Deleted, then created again: a new account (a new mailbox id) under the same address.
    gone = domain_state(domain_name, 2)
    apply(stack.root, replace(gone, accounts=gone.accounts[1:]))
    apply(stack.root, domain_state(domain_name, 3, alice_id=first_id(domain_name) + 9,
                                   daily_limit=1))  # fmt: skip
    with submission(stack.ports, alice) as smtp:
        assert accepted(send(smtp, alice, [bob]))
        [(code, _)] = send(smtp, alice, [bob])
        assert code == 550
