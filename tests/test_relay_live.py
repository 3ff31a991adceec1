"""Outbound mail through a smarthost, bounces, the queue and SRS, over the wire (issue 22).

A private node (its own Postfix, Dovecot, policy service and postsrsd) relays everything for
outside domains to the capture smarthost of tests/capture_smtp.py, with an AUTH login from a
password file, and its agent is a Celery worker of its own on the node's queue; the session's
worker serves the panel queue. The session's shared mail stack is not reconfigured.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import smtplib
import tempfile
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from domains.models import Domain
from domains.services import domain_create
from mailboxes import services
from mailboxes.models import Mailbox
from organizations.services import organization_create
from provisioning.mailstack.controller import MailStack
from provisioning.mailstack.relay import Relay
from provisioning.models import MailNode, QueuedMessage
from security.audit import Actor
from security.models import AuditEvent
from tests.bed import Worker
from tests.capture_smtp import CaptureSMTP
from tests.mailclient import HOST, INTERNET, fetch_messages, wait_until

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(
        os.geteuid() != 0 or not shutil.which("postfix") or not shutil.which("postsrsd"),
        reason="needs root, Postfix/Dovecot and postsrsd",
    ),
]

ACTOR = Actor(label="test")
PASSWORD = "relay-test-password-1"
RELAY_LOGIN = ("relayuser", "relay secret 42")
NODE = f"relay{os.getpid()}"


@pytest.fixture(scope="module")
def smarthost() -> Iterator[CaptureSMTP]:
    with CaptureSMTP(auth=dict([RELAY_LOGIN])) as capture:
        yield capture


@pytest.fixture(scope="module")
def relay_stack(smarthost: CaptureSMTP) -> Iterator[MailStack]:
    # Short and world-traversable: unix socket paths and the daemons' users.
    root = Path(tempfile.mkdtemp(prefix="tm-relay-"))
    root.chmod(0o755)
    secret = Path(tempfile.mkdtemp(prefix="tm-relay-pw-")) / "relay-password"
    secret.write_text(f"{RELAY_LOGIN[0]}:{RELAY_LOGIN[1]}\n")
    secret.chmod(0o600)
    stack = MailStack(
        root,
        map_type=settings.MAILNODE_MAP_TYPE,
        relay=Relay(f"[{HOST}]:{smarthost.port}", secret),
    )
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(secret.parent, ignore_errors=True)


@pytest.fixture(scope="module")
def node_agent(relay_stack: MailStack, worker: Worker, tmp_path_factory) -> Worker:
    env = {**worker.env, "MAILNODE_DIR": str(relay_stack.root), "MAILNODE_NAME": NODE}
    return Worker(env, tmp_path_factory.mktemp("relay-agent"), queues=f"node.{NODE}")


@pytest.fixture
def relay(live, relay_stack: MailStack, node_agent: Worker, smarthost: CaptureSMTP):
    smarthost.rules.clear()
    node_agent.start()
    try:
        yield relay_stack
    finally:
        node_agent.stop()


@pytest.fixture
def domain(relay, domain_name: str) -> Domain:
    node = MailNode.objects.create(name=NODE)
    org = organization_create(actor=ACTOR, name=f"Org {domain_name}")
    return domain_create(actor=ACTOR, name=domain_name, organization=org, node=node)


def _account(domain: Domain, local_part: str, **changes: object) -> Mailbox:
    mailbox = services.mailbox_create(
        actor=ACTOR, domain=domain, local_part=local_part, password=PASSWORD
    )
    if changes:
        services.mailbox_update(actor=ACTOR, mailbox=mailbox, changes=changes)
    call_command("provision", "wait", "--timeout", "20")
    return mailbox


def _submit(stack: MailStack, sender: str, to: str, subject: str) -> None:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, to, subject
    message.set_content("leaves through the smarthost\n")
    with smtplib.SMTP(HOST, stack.ports["submission"], timeout=15) as smtp:
        smtp.ehlo("client.test")
        assert wait_until(lambda: _login(smtp, sender), timeout=5), f"{sender} cannot log in"
        smtp.send_message(message, from_addr=sender, to_addrs=[to])


def _login(smtp: smtplib.SMTP, user: str) -> bool:
    try:
        smtp.login(user, PASSWORD)
        return True
    except smtplib.SMTPAuthenticationError:
        return False


def _queue(*args: str) -> list[dict]:
    out = io.StringIO()
    call_command("queue", "list", "--json", *args, stdout=out, stderr=io.StringIO())
    return json.loads(out.getvalue())


def test_submission_relays_and_a_refusal_returns_a_dsn(relay, domain, smarthost) -> None:
    alice = _account(domain, "alice")
    smarthost.refuse("gone@far.test")
    _submit(relay, alice.address, "friend@far.test", "to a customer elsewhere")
    got = smarthost.to("friend@far.test")
    assert got is not None and got.sender == alice.address
    assert got.login == RELAY_LOGIN[0]  # the login from the password file
    assert got.message["Subject"] == "to a customer elsewhere"

    _submit(relay, alice.address, "gone@far.test", "nobody home")

    def dsn() -> list:
        return [
            m
            for m in fetch_messages(relay.ports, alice.address, PASSWORD)
            if m.get_content_type() == "multipart/report"
        ]

    assert wait_until(lambda: bool(dsn()), timeout=20), "no DSN in the sender's inbox"
    report = dsn()[0].as_string()
    assert "gone@far.test" in report and "550" in report
    # The password never lands in what Postfix logs.
    assert RELAY_LOGIN[1] not in (relay.root / "log" / "postfix.log").read_text()


def test_unauthenticated_relay_is_refused(relay, smarthost) -> None:
    with smtplib.SMTP(HOST, relay.ports["smtp"], timeout=10, source_address=(INTERNET, 0)) as s:
        s.ehlo("mx.internet.test")
        s.mail("spammer@internet.test")
        code, text = s.rcpt("victim@far.test")
    assert code == 554 and b"Relay access denied" in text
    assert smarthost.to("victim@far.test", timeout=1) is None


def test_deferred_mail_is_listed_then_retried_or_deleted(relay, domain, smarthost) -> None:
    alice = _account(domain, "alice")
    smarthost.defer("*@slow.test")
    _submit(relay, alice.address, "late@slow.test", "deferred once")
    _submit(relay, alice.address, "never@slow.test", "deleted in the queue")
    assert wait_until(lambda: len(smarthost.attempts) >= 2, timeout=20)
    # Deferred once the smtp client's 451 is written back (the reason comes with it).
    rows: list[dict] = []

    def deferred() -> bool:
        rows[:] = _queue("--domain", domain.name)
        return len(rows) == 2 and all("451" in row["reason"] for row in rows)

    assert wait_until(deferred, timeout=20, every=0.5), rows
    assert {row["recipients"][0] for row in rows} == {"late@slow.test", "never@slow.test"}
    late = next(row for row in rows if row["recipients"] == ["late@slow.test"])
    assert late["node"] == NODE and late["domain"] == domain.name
    assert late["sender"] == alice.address and "451" in late["reason"]
    assert late["state"] in ("deferred", "active") and late["arrival"]

    # The Queue tab shows the same report.
    staff = get_user_model().objects.create_user(f"staff-{domain.pk}", is_staff=True)
    client = Client()
    client.force_login(staff)
    page = client.get(reverse("domain_queue", args=[domain.pk])).content.decode()
    assert late["id"] in page and "late@slow.test" in page and "451" in page

    smarthost.accept("late@slow.test")
    call_command("queue", "retry", late["id"], stdout=io.StringIO())
    assert smarthost.to("late@slow.test") is not None
    never = next(row for row in rows if row["recipients"] == ["never@slow.test"])
    call_command("queue", "delete", never["id"], stdout=io.StringIO())
    assert wait_until(lambda: _queue("--domain", domain.name) == [], timeout=20)
    assert smarthost.to("never@slow.test", timeout=1) is None
    actions = set(
        AuditEvent.objects.filter(domain=domain, action__startswith="queue.").values_list(
            "action", "changes__before__queue_id"
        )
    )
    assert actions == {("queue.retry", late["id"]), ("queue.delete", never["id"])}
    assert not QueuedMessage.objects.filter(domain=domain).exists()


def test_forward_leaves_with_srs_and_its_bounce_comes_back(relay, domain, smarthost) -> None:
    carol = _account(domain, "carol", forward_to=["carol@far.test"], forward_keep_copy=True)
    original = "writer@origin.test"
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = original, carol.address, "forwarded"
    message.set_content("to be forwarded\n")
    with smtplib.SMTP(HOST, relay.ports["smtp"], timeout=10, source_address=(INTERNET, 0)) as s:
        s.sendmail(original, [carol.address], message.as_bytes())

    forwarded = smarthost.to("carol@far.test")
    assert forwarded is not None
    srs = forwarded.sender
    assert srs.startswith("SRS0=") and srs.endswith("=writer@mx.tempusmail.test"), srs
    assert "origin.test" in srs
    assert wait_until(
        lambda: any(
            m["Subject"] == "forwarded"
            for m in fetch_messages(relay.ports, carol.address, PASSWORD)
        ),
        timeout=20,
    ), "the kept copy is not in carol's inbox"

    # The receiver bounces the forward: its DSN to the SRS address finds the original sender.
    bounce = EmailMessage()
    bounce["From"], bounce["To"], bounce["Subject"] = "MAILER-DAEMON@far.test", srs, "bounced"
    bounce.set_content("carol@far.test: no such user\n")
    with smtplib.SMTP(HOST, relay.ports["smtp"], timeout=10, source_address=(INTERNET, 0)) as s:
        s.sendmail("", [srs], bounce.as_bytes())
    returned = smarthost.to(original)
    assert returned is not None and returned.message["Subject"] == "bounced"
    # A forged SRS address is refused at RCPT (its reverse lookup fails), never relayed.
    with smtplib.SMTP(HOST, relay.ports["smtp"], timeout=10, source_address=(INTERNET, 0)) as s:
        s.mail("")
        code, text = s.rcpt("SRS0=xxxx=AB=origin.test=writer@mx.tempusmail.test")
    assert code == 550 and b"invalid SRS address" in text


def test_the_relay_benchmark_runs_in_its_smoke_size() -> None:
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "benchmarks/relay_throughput.py", "--smoke"],
        cwd=Path(__file__).resolve().parent.parent, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert any(line.startswith("through the node") and "messages/s" in line for line in lines)
    assert any(line.startswith("straight to smarthost") for line in lines), result.stdout
