"""Two providers on this machine, each a mail node in the production profile (issue 22).

Node A answers for provider-a.test on 127.0.0.2, node B for provider-b.test on 127.0.0.3, each
on the standard ports (25, 465, 587, 993, 995, 4190) of its own address, with a self-signed
certificate for its host name. A private NSD (tests/dns_server.py) is authoritative for both
domains; each node's Postfix runs in a mount namespace whose /etc/resolv.conf names it, so
mail between them goes by MX, over STARTTLS, exactly as between two providers on the internet.
Accounts are given to each node by its agent applying a DomainState, as the loop does.
"""

from __future__ import annotations

import imaplib
import json
import os
import poplib
import shutil
import smtplib
import socket
import ssl
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from email import message_from_bytes
from email.message import EmailMessage, Message
from pathlib import Path

import pytest
from django.conf import settings
from passlib.hash import sha512_crypt

from provisioning.mailstack.controller import MailStack
from provisioning.mailstack.profile import PRODUCTION, Profile
from provisioning.node.agent import NodeAgent
from provisioning.node.paths import NodePaths
from provisioning.node.state import AccountState, DomainState
from provisioning.node.usage import UsageStore
from provisioning.policy.daemon import CounterStore
from tests import dns_server
from tests.dns_server import DnsServer, mail_zone
from tests.mailclient import wait_until

ADDRESSES = ("127.0.0.2", "127.0.0.3")
# Node A listens on IPv6 loopback too: one node can show both families.
A_IPV6 = "::1"
PUBLIC_PORTS = (25, 465, 587, 993, 995, 4190)


def _public_ports_free() -> bool:
    for address in (*ADDRESSES, A_IPV6):
        for port in PUBLIC_PORTS:
            family = socket.AF_INET6 if ":" in address else socket.AF_INET
            with socket.socket(family) as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    sock.bind((address, port))
                except OSError:
                    return False
    return True


def _private_mount_namespaces() -> bool:
    """The nodes' Postfix runs under `unshare --mount` (a container needs CAP_SYS_ADMIN)."""
    unshare = shutil.which("unshare")
    return bool(unshare) and subprocess.run([unshare, "--mount", "true"]).returncode == 0


pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(
        os.geteuid() != 0 or not shutil.which("postfix") or not dns_server.available(),
        reason="needs root, Postfix/Dovecot and NSD (scripts/setup-system.sh)",
    ),
    pytest.mark.skipif(
        os.geteuid() == 0 and not _private_mount_namespaces(),
        reason="needs mount namespaces (unshare --mount) for the nodes' own resolv.conf",
    ),
]

PASSWORD = "internet-password-1"
HASH = sha512_crypt.using(rounds=5000).hash(PASSWORD)
# The nodes' certificates are self-signed: clients here encrypt without verifying, as MTAs do.
INSECURE = ssl.create_default_context()
INSECURE.check_hostname = False
INSECURE.verify_mode = ssl.CERT_NONE


@dataclass
class Provider:
    domain: str
    address: str
    stack: MailStack

    @property
    def hostname(self) -> str:
        return self.stack.profile.hostname

    def user(self, local: str) -> str:
        return f"{local}@{self.domain}"

    def postqueue(self, *args: str) -> str:
        cmd = ["postqueue", "-c", str(self.stack.paths.postfix_dir), *args]
        return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout

    def queued_to(self, recipient: str) -> list[dict]:
        entries = [json.loads(line) for line in self.postqueue("-j").splitlines() if line]
        return [e for e in entries if any(r["address"] == recipient for r in e["recipients"])]

    def log(self) -> str:
        return (self.stack.paths.log_dir / "postfix.log").read_text(errors="replace")


@pytest.fixture(scope="module")
def providers() -> Iterator[tuple[Provider, Provider]]:
    if not _public_ports_free():
        pytest.fail("a standard mail port on 127.0.0.2/127.0.0.3 is taken (another run?)")
    domains = ("provider-a.test", "provider-b.test")
    zones = {d: mail_zone(d, a) for d, a in zip(domains, ADDRESSES, strict=True)}
    run = f"tm-inet-{os.getpid()}-{int(time.time())}"
    counters = CounterStore(settings.SENDING_REDIS_URL, f"{run}/")
    stacks: list[MailStack] = []
    with DnsServer(zones) as dns:
        try:
            made = []
            for index, (domain, address) in enumerate(zip(domains, ADDRESSES, strict=True)):
                # Short and world-traversable: unix socket paths and the daemons' users.
                root = Path(tempfile.mkdtemp(prefix="tm-inet-"))
                root.chmod(0o755)
                profile = Profile(
                    name=PRODUCTION,
                    hostname=f"mx.{domain}",
                    listen=(address, A_IPV6) if index == 0 else (address,),
                    resolver=dns.address,
                    message_size_limit=1024 * 1024,
                    postscreen_greet_wait=1,  # the default 6 s would be paid per new client
                )
                usage = UsageStore(url=settings.MAILNODE_REDIS_URL, prefix=f"{run}/{index}/")
                stack = MailStack(
                    root,
                    map_type=settings.MAILNODE_MAP_TYPE,
                    usage=usage,
                    sending=counters,
                    relay=None,
                    profile=profile,
                )
                stacks.append(stack)
                stack.start()
                _give_accounts(stack, domain, first_id=(index + 1) * 1000)
                made.append(Provider(domain, address, stack))
            yield made[0], made[1]
        finally:
            for stack in stacks:
                stack.stop()
                shutil.rmtree(stack.root, ignore_errors=True)


def _give_accounts(stack: MailStack, domain: str, first_id: int) -> None:
    accounts = tuple(
        AccountState(first_id + i, local, HASH) for i, local in enumerate(("alice", "bob"))
    )
    state = DomainState(id=first_id, name=domain, version=1, accounts=accounts)
    NodeAgent(NodePaths(stack.root), map_type=settings.MAILNODE_MAP_TYPE).apply_domain(state)


# --- clients -------------------------------------------------------------------------------


def submit(provider: Provider, sender: str, to: str, *, port: int = 587) -> str:
    """Send as sender through the provider's submission port (587 STARTTLS, 465 TLS)."""
    subject = f"inet {uuid.uuid4()}"
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, to, subject
    message.set_content("across providers\n")

    def once() -> bool:
        if port == 465:
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                provider.address, 465, timeout=15, context=INSECURE
            )
        else:
            smtp = smtplib.SMTP(provider.address, port, timeout=15)
            smtp.starttls(context=INSECURE)
        with smtp:
            try:
                smtp.login(sender, PASSWORD)
            except smtplib.SMTPAuthenticationError:
                return False  # Dovecot re-reads a passwd-file the agent just wrote within 1 s
            smtp.send_message(message)
            return True

    assert wait_until(once, timeout=5), f"{sender} cannot log in at {provider.address}:{port}"
    return subject


def inbox_message(provider: Provider, user: str, subject: str) -> Message | None:
    with imaplib.IMAP4_SSL(provider.address, 993, ssl_context=INSECURE, timeout=10) as imap:
        imap.login(user, PASSWORD)
        imap.select("INBOX", readonly=True)
        _, found = imap.search(None, "SUBJECT", f'"{subject}"')
        ids = found[0].split()
        if not ids:
            return None
        _, data = imap.fetch(ids[-1], "(RFC822)")
        return message_from_bytes(data[0][1])


def wait_for_message(provider: Provider, user: str, subject: str, timeout: float = 20) -> Message:
    found: list[Message] = []

    def arrived() -> bool:
        message = inbox_message(provider, user, subject)
        if message is not None:
            found.append(message)
        return bool(found)

    assert wait_until(arrived, timeout=timeout, every=0.3), f"{subject} never reached {user}"
    return found[0]


def relay_attempt(provider: Provider, source: str) -> tuple[int, str]:
    """An unauthenticated client at port 25 asking for an outside recipient: RCPT's reply."""
    with smtplib.SMTP(provider.address, 25, timeout=15, source_address=(source, 0)) as smtp:
        smtp.ehlo("client.example")
        smtp.mail("spammer@example.net")
        code, text = smtp.rcpt("victim@elsewhere.example")
        return code, text.decode()


# --- the proof -----------------------------------------------------------------------------


def test_listeners_on_the_standard_ports(providers: tuple[Provider, Provider]) -> None:
    a, _ = providers
    status = a.stack.status()
    assert status["running"] and status["profile"] == "production"
    ports = status["ports"]
    assert {ports[n] for n in ("smtp", "submissions", "submission")} == {25, 465, 587}
    assert {ports[n] for n in ("imaps", "pop3s", "managesieve")} == {993, 995, 4190}
    assert {"lmtp", "auth", "quota_status", "policy"} <= set(ports)
    with smtplib.SMTP(a.address, 25, timeout=15) as smtp:
        code, banner = smtp.ehlo("client.example")
        assert code == 250 and banner.decode().startswith(a.hostname)
        assert smtp.has_extn("starttls")
        assert smtp.has_extn("size") and smtp.esmtp_features["size"] == str(1024 * 1024)
    # The same listeners on A's IPv6 address.
    with smtplib.SMTP(A_IPV6, 25, timeout=15) as smtp:
        assert smtp.ehlo("client.example")[0] == 250
    with imaplib.IMAP4_SSL(A_IPV6, 993, ssl_context=INSECURE, timeout=10) as imap:
        assert imap.login(a.user("bob"), PASSWORD)[0] == "OK"
    # POP3 over TLS; ManageSieve offers STARTTLS and no login before it.
    with closing(poplib.POP3_SSL(a.address, 995, context=INSECURE, timeout=10)) as pop:
        pop.user(a.user("bob"))
        assert pop.pass_(PASSWORD).startswith(b"+OK")
    with socket.create_connection((a.address, 4190), timeout=10) as sieve:
        greeting = _read_until_ok(sieve)
    assert b'"STARTTLS"' in greeting and b'"SASL" ""' in greeting
    # No login before TLS at submission; the certificate names the host.
    with smtplib.SMTP(a.address, 587, timeout=15) as smtp:
        smtp.ehlo("client.example")
        assert not smtp.has_extn("auth")
        smtp.starttls(context=INSECURE)
        smtp.ehlo("client.example")
        assert smtp.has_extn("auth")
        cert = smtp.sock.getpeercert(binary_form=True)
    pem = ssl.DER_cert_to_PEM_cert(cert)
    subject = subprocess.run(
        ["openssl", "x509", "-noout", "-subject"], input=pem, capture_output=True, text=True
    ).stdout
    assert a.hostname in subject


def test_mail_goes_by_mx_over_starttls_and_the_reply_comes_back(
    providers: tuple[Provider, Provider],
) -> None:
    a, b = providers
    subject = submit(a, a.user("alice"), b.user("bob"))
    message = wait_for_message(b, b.user("bob"), subject)
    # B received it from A's MTA (its host name and address), encrypted.
    hop = _postfix_hop(message, b)
    assert hop.startswith(f"from {a.hostname} (") and f"[{a.address}])" in hop
    assert "with ESMTPS" in hop and "using TLS" in hop
    assert f"TLS connection established to {b.hostname}[{b.address}]:25" in a.log()

    reply = submit(b, b.user("bob"), a.user("alice"), port=465)
    back = wait_for_message(a, a.user("alice"), reply)
    assert "with ESMTPS" in _postfix_hop(back, a)


def _postfix_hop(message: Message, receiver: Provider) -> str:
    """The Received header the receiving node's Postfix added (Dovecot LMTP adds its own)."""
    hops = [" ".join(h.split()) for h in message.get_all("Received")]
    return next(h for h in hops if f"by {receiver.hostname} (Postfix)" in h)


def test_mail_waits_in_the_queue_while_the_other_provider_is_down(
    providers: tuple[Provider, Provider],
) -> None:
    a, b = providers
    b.stack.stop()
    try:
        subject = submit(a, a.user("alice"), b.user("bob"))
        # A tried B's MX, found it closed and keeps the message, with the reason.
        assert wait_until(lambda: bool(a.queued_to(b.user("bob"))), timeout=10)
        assert wait_until(
            lambda: (
                "connect to"
                in a.queued_to(b.user("bob"))[0]["recipients"][0].get("delay_reason", "")
            ),
            timeout=10,
        ), a.queued_to(b.user("bob"))
    finally:
        b.stack.start()
    a.postqueue("-f")  # a retry now rather than at Postfix's next scheduled one
    wait_for_message(b, b.user("bob"), subject)
    assert wait_until(lambda: not a.queued_to(b.user("bob")), timeout=10)


@pytest.mark.parametrize("source", ["127.0.0.1", "own address"])
def test_no_open_relay_at_port_25(providers: tuple[Provider, Provider], source: str) -> None:
    a, _ = providers
    code, text = relay_attempt(a, a.address if source == "own address" else source)
    assert code == 554 and "Relay access denied" in text


def test_inbound_hygiene_at_port_25(providers: tuple[Provider, Provider]) -> None:
    a, _ = providers
    # Too big for the node's limit: refused at MAIL FROM, before any data is sent.
    with smtplib.SMTP(a.address, 25, timeout=15) as smtp:
        smtp.ehlo("client.example")
        code, text = smtp.mail("someone@example.net", ["SIZE=2000000"])
        assert code == 552 and "size exceeds" in text.decode().lower()
    # A client that talks before the greeting (a bot) is refused by postscreen.
    bot = ("127.0.0.9", 0)
    with socket.create_connection((a.address, 25), timeout=15, source_address=bot) as raw:
        raw.sendall(b"EHLO bot.example\r\n")
        time.sleep(a.stack.profile.postscreen_greet_wait + 0.5)
        recipient = a.user("alice").encode()
        raw.sendall(b"MAIL FROM:<bot@example.net>\r\nRCPT TO:<" + recipient + b">\r\nQUIT\r\n")
        replies = _read_to_end(raw)
    assert b"550 5.5.1 Protocol error" in replies, replies
    assert "PREGREET" in a.log()


def _read_until_ok(sock: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\r\n") or b"\r\nOK" not in b"\r\n" + data:
        chunk = sock.recv(4096)
        assert chunk, data
        data += chunk
    return data


def _read_to_end(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(4096):
        data += chunk
    return data
