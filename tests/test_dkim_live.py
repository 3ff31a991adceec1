"""DKIM over the wire (issue 15): mail submitted with SMTP AUTH is signed by the node's rspamd
with the domain's active key, and the signature verifies against the TXT record the panel
publishes (dkimpy, with that record as the DNS answer); a domain without a key sends unsigned.
(Domain aliases and send-as addresses do not exist yet: their signing is not tested.)"""

from __future__ import annotations

import smtplib
import socket
import time
from email.message import EmailMessage

import dkim
import pytest
from django.core.management import call_command

from domains.dkim_services import dkim_activate, dkim_generate, dkim_records, dkim_rotate
from domains.services import domain_create
from mailboxes import services
from organizations.services import organization_create
from security.audit import Actor
from tests.mailclient import HOST, fetch_messages, wait_until

pytestmark = pytest.mark.live
ACTOR = Actor(label="test")
PASSWORD = "correct horse 1"
# rspamd's first start in a fresh node folder compiles its rules (Hyperscan) for ~15 s.
RSPAMD_READY_TIMEOUT = 60


def _milter_listening(port: int) -> bool:
    try:
        socket.create_connection((HOST, port), timeout=1).close()
        return True
    except OSError:
        return False


def _submit(ports: dict[str, int], sender: str, to: str, subject: str) -> None:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, to, subject
    msg["Message-ID"] = f"<{time.time_ns()}@{sender.split('@')[1]}>"
    msg.set_content("signed over the wire\n")
    with smtplib.SMTP(HOST, ports["submission"], timeout=30) as smtp:
        smtp.login(sender, PASSWORD)
        smtp.send_message(msg)


def _arrived(ports: dict[str, int], to: str, subject: str):
    found = []

    def check() -> bool:
        found[:] = [m for m in fetch_messages(ports, to, PASSWORD) if m["Subject"] == subject]
        return bool(found)

    assert wait_until(check, timeout=20), f"{subject} did not arrive"
    return found[0]


def test_submitted_mail_is_signed_with_the_published_key(live, domain_name: str) -> None:
    org = organization_create(actor=ACTOR, name=f"Org {domain_name}")
    signed = domain_create(actor=ACTOR, name=domain_name, organization=org)
    unsigned = domain_create(actor=ACTOR, name=f"plain-{domain_name}", organization=org)
    alice = services.mailbox_create(
        actor=ACTOR, domain=signed, local_part="alice", password=PASSWORD
    )
    carol = services.mailbox_create(
        actor=ACTOR, domain=unsigned, local_part="carol", password=PASSWORD
    )
    key = dkim_generate(actor=ACTOR, domain=signed)
    dkim_activate(actor=ACTOR, domain=signed, selector=key.selector)
    call_command("provision", "wait", "--timeout", "20")
    ports = live.ports
    assert wait_until(lambda: _milter_listening(ports["rspamd_milter"]), RSPAMD_READY_TIMEOUT)

    [record] = dkim_records(signed)
    published = "".join(record.strings).encode()  # what a resolver returns for the TXT
    asked = []

    def dns(name: bytes, timeout: int = 5) -> bytes:
        asked.append(name)
        return published if name == f"{record.name}.".encode() else b""

    _submit(ports, alice.address, alice.address, "dkim signed")
    message = _arrived(ports, alice.address, "dkim signed")
    raw = message.as_bytes()
    assert f"s={key.selector}" in str(message["DKIM-Signature"])
    assert f"d={signed.name}" in str(message["DKIM-Signature"])
    assert dkim.verify(raw, dnsfunc=dns), raw.decode(errors="replace")[:2000]
    assert asked == [f"{record.name}.".encode()]

    # Rotation: the new key signs once activated and applied, with no reload of rspamd (it
    # re-reads its selector map within seconds); every message in between is signed.
    new = dkim_rotate(actor=ACTOR, domain=signed)
    dkim_activate(actor=ACTOR, domain=signed, selector=new.selector)
    call_command("provision", "wait", "--timeout", "20")
    records = {r.selector: "".join(r.strings).encode() for r in dkim_records(signed)}
    assert set(records) == {key.selector, new.selector}  # the old record stays published
    applied, selectors = time.monotonic(), []
    while new.selector not in selectors and time.monotonic() - applied < 30:
        subject = f"rotation {len(selectors)}"
        _submit(ports, alice.address, alice.address, subject)
        message = _arrived(ports, alice.address, subject)
        selector = str(message["DKIM-Signature"]).split("s=")[1].split(";")[0].strip()
        selectors.append(selector)
        record = records[selector]
        assert dkim.verify(message.as_bytes(), dnsfunc=lambda name, timeout=5, r=record: r)
    assert selectors[-1] == new.selector and set(selectors) <= {key.selector, new.selector}
    print(f"new key signing {time.monotonic() - applied:.1f} s after the apply, no reload")

    _submit(ports, carol.address, alice.address, "no key no signature")
    message = _arrived(ports, alice.address, "no key no signature")
    assert message["DKIM-Signature"] is None
