"""Inbound spam scoring over the wire (issue 15): the node's rspamd refuses GTUBE at end of data,
files a message scored between the domain's junk and reject scores into Junk (X-Spam-Flag and
Dovecot's global Sieve rule), or into the inbox for an account with "deliver spam to inbox";
the domain's own scores decide. A test-bed-only rule adds the points a header names
(X-TempusMail-Test-Score) so a message lands between the scores deterministically."""

from __future__ import annotations

import smtplib
import socket
import uuid
from email.message import EmailMessage

import pytest
from django.core.management import call_command

from domains.services import domain_create
from domains.spam_services import domain_set_spam_scores
from mailboxes import services
from organizations.services import organization_create
from security.audit import Actor
from tests.mailclient import HOST, INTERNET, fetch_messages, wait_until

pytestmark = pytest.mark.live
ACTOR = Actor(label="test")
PASSWORD = "correct horse 1"
GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"


def _send(ports: dict[str, int], to: str, subject: str, body: str, points: int = 0):
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "someone@internet.test", to, subject
    msg["Message-ID"] = f"<{uuid.uuid4()}@internet.test>"
    if points:
        msg["X-TempusMail-Test-Score"] = str(points)
    msg.set_content(body)
    with smtplib.SMTP(HOST, ports["smtp"], timeout=60, source_address=(INTERNET, 0)) as smtp:
        smtp.ehlo("mx.internet.test")
        smtp.mail("someone@internet.test")
        smtp.rcpt(to)
        return smtp.data(msg.as_bytes())


def _subjects(ports, address: str, folder: str) -> list[str]:
    try:
        return [m["Subject"] for m in fetch_messages(ports, address, PASSWORD, folder)]
    except Exception:  # the Junk folder exists once Sieve created it
        return []


def test_spam_is_refused_junked_or_delivered_by_the_domains_scores(live, domain_name) -> None:
    org = organization_create(actor=ACTOR, name=f"Org {domain_name}")
    domain = domain_create(actor=ACTOR, name=domain_name, organization=org)
    alice = services.mailbox_create(
        actor=ACTOR, domain=domain, local_part="alice", password=PASSWORD
    )
    bob = services.mailbox_create(actor=ACTOR, domain=domain, local_part="bob", password=PASSWORD)
    services.mailbox_update(actor=ACTOR, mailbox=bob, changes={"spam_to_inbox": True})
    domain_set_spam_scores(actor=ACTOR, domain=domain, junk=5, reject=12)
    call_command("provision", "wait", "--timeout", "20")
    ports = live.ports

    def milter_up() -> bool:
        try:
            socket.create_connection((HOST, ports["rspamd_milter"]), timeout=1).close()
            return True
        except OSError:
            return False

    assert wait_until(milter_up, timeout=60)
    # rspamd reads the scores map within seconds of the agent writing it.
    assert wait_until(
        lambda: f"{domain.name} 5:12" in live.root.joinpath("rspamd/spam_scores.map").read_text(),
        timeout=10,
    )

    code, text = _send(ports, alice.address, "gtube", f"{GTUBE}\n")
    assert code == 554 or 500 <= code < 600, (code, text)

    for address in (alice.address, bob.address):
        code, _ = _send(ports, address, "middling", "between the scores\n", points=8)
        assert code == 250
        code, _ = _send(ports, address, "clean", "hello\n")
        assert code == 250
    assert wait_until(lambda: "middling" in _subjects(ports, alice.address, "Junk"), timeout=20)
    assert "clean" in _subjects(ports, alice.address, "INBOX")
    assert "middling" not in _subjects(ports, alice.address, "INBOX")
    assert wait_until(lambda: {"middling", "clean"} <= set(_subjects(ports, bob.address, "INBOX")))
    [junked] = [m for m in fetch_messages(ports, alice.address, PASSWORD, "Junk")]
    assert str(junked["X-Spam-Flag"]).lower() == "yes"

    # The domain's own reject score: 8 points are refused once it is 7.
    domain_set_spam_scores(actor=ACTOR, domain=domain, junk=5, reject=7)
    call_command("provision", "wait", "--timeout", "20")

    def refused() -> bool:
        code, _ = _send(ports, bob.address, f"refused {uuid.uuid4()}", "x\n", points=8)
        return 500 <= code < 600

    assert wait_until(refused, timeout=15, every=1)
