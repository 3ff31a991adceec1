"""TLS over the wire (issue 15): every listener of the test bed hands out a certificate from the
test bed's own CA for the node's host name (STARTTLS and TLS from the first byte), a customer
host name gets its own certificate by SNI once its files are in <state>/tls/sni and
`reload-certs` ran (an open session survives the reload), and a password in the clear is
refused from any address but the node's own (127.0.0.2 stands for a remote client).
"""

from __future__ import annotations

import base64
import imaplib
import io
import json
import os
import poplib
import shutil
import smtplib
import socket
import ssl
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from passlib.hash import sha512_crypt

from provisioning.mailstack import tls
from provisioning.mailstack.controller import MailStack
from provisioning.node.agent import NodeAgent
from provisioning.node.paths import NodePaths
from provisioning.node.state import AccountState, DomainState
from tests.mailclient import HOST, wait_until

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(
        os.geteuid() != 0 or not shutil.which("postfix"), reason="needs root, Postfix/Dovecot"
    ),
]

PASSWORD = "tls-password-1"
REMOTE = "127.0.0.2"
CUSTOMER_HOST = "mail.customer.test"


class NamedContext(ssl.SSLContext):
    """Trusts the test CA and checks the name given, whatever host the client connected to
    (127.0.0.1): imaplib, poplib and smtplib pass their host as the server name."""

    expected = ""

    def wrap_socket(self, sock, *args, server_hostname=None, **kwargs):  # type: ignore[no-untyped-def, override]
        return super().wrap_socket(sock, *args, server_hostname=self.expected, **kwargs)


class RemoteIMAP4(imaplib.IMAP4):
    def _create_socket(self, timeout: float | None) -> socket.socket:
        return socket.create_connection((self.host, self.port), timeout, (REMOTE, 0))


def context(root: Path, name: str) -> NamedContext:
    ctx = NamedContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cafile=root / "tls" / "ca.crt")
    ctx.expected = name
    return ctx


def common_name(sock: ssl.SSLSocket) -> str:
    subject = dict(pair[0] for pair in sock.getpeercert()["subject"])  # type: ignore[index]
    return str(subject["commonName"])


@pytest.fixture
def account(mailstack, domain_name: str) -> str:
    """alice@<fresh domain> on the node, applied by the node agent as the loop does."""
    hashed = sha512_crypt.using(rounds=5000).hash(PASSWORD)
    state = DomainState(
        id=1, name=domain_name, version=1, accounts=(AccountState(7, "alice", hashed),)
    )
    NodeAgent(NodePaths(mailstack.root), map_type=settings.MAILNODE_MAP_TYPE).apply_domain(state)
    address = f"alice@{domain_name}"
    # Dovecot re-reads a passwd-file the agent just wrote within a second.
    assert wait_until(lambda: _imap_plain_login(mailstack.ports, address), timeout=5)
    return address


def _imap_plain_login(ports: dict[str, int], address: str) -> bool:
    try:
        with imaplib.IMAP4(HOST, ports["imap"], timeout=10) as imap:
            imap.login(address, PASSWORD)
        return True
    except imaplib.IMAP4.error:
        return False


def sieve_starttls(ports: dict[str, int], ctx: ssl.SSLContext, address: str) -> tuple[str, bool]:
    """ManageSieve by hand (RFC 5804): STARTTLS, then AUTHENTICATE PLAIN; (name, logged in)."""
    token = base64.b64encode(f"\0{address}\0{PASSWORD}".encode()).decode()
    with socket.create_connection((HOST, ports["managesieve"]), timeout=10) as raw:

        def answer(reader) -> bytes:  # type: ignore[no-untyped-def]
            while True:
                line = reader.readline()
                if not line or line.startswith((b"OK", b"NO", b"BYE")):
                    return line

        greeting = raw.makefile("rb")
        answer(greeting)
        raw.sendall(b"STARTTLS\r\n")
        assert answer(greeting).startswith(b"OK")
        with ctx.wrap_socket(raw) as sock:
            reader = sock.makefile("rb")
            answer(reader)  # capabilities again, now under TLS
            sock.sendall(f'AUTHENTICATE "PLAIN" "{token}"\r\n'.encode())
            return common_name(sock), answer(reader).startswith(b"OK")


def test_every_listener_hands_out_the_node_certificate(mailstack, account: str) -> None:
    ports, hostname = mailstack.ports, MailStack(mailstack.root).profile.hostname
    ctx = context(mailstack.root, hostname)

    with imaplib.IMAP4_SSL(HOST, ports["imaps"], ssl_context=ctx, timeout=10) as imap:
        assert common_name(imap.sock) == hostname  # type: ignore[arg-type]
        imap.login(account, PASSWORD)
    with imaplib.IMAP4(HOST, ports["imap"], timeout=10) as imap:
        imap.starttls(ctx)
        assert common_name(imap.sock) == hostname  # type: ignore[arg-type]
        imap.login(account, PASSWORD)

    pop = poplib.POP3_SSL(HOST, ports["pop3s"], context=ctx, timeout=10)
    assert common_name(pop.sock) == hostname  # type: ignore[arg-type]
    pop.user(account)
    pop.pass_(PASSWORD)
    pop.quit()
    pop = poplib.POP3(HOST, ports["pop3"], timeout=10)
    pop.stls(ctx)
    assert common_name(pop.sock) == hostname  # type: ignore[arg-type]
    pop.user(account)
    pop.pass_(PASSWORD)
    pop.quit()

    with smtplib.SMTP_SSL(HOST, ports["submissions"], context=ctx, timeout=10) as smtp:
        assert common_name(smtp.sock) == hostname  # type: ignore[arg-type]
        smtp.login(account, PASSWORD)
    for port in ("submission", "smtp"):
        with smtplib.SMTP(HOST, ports[port], timeout=10) as smtp:
            smtp.ehlo("client.test")
            assert smtp.has_extn("starttls"), port  # opportunistic at port 25 too
            smtp.starttls(context=ctx)
            assert common_name(smtp.sock) == hostname  # type: ignore[arg-type]
            if port == "submission":
                smtp.login(account, PASSWORD)

    assert sieve_starttls(ports, ctx, account) == (hostname, True)

    out = io.StringIO()
    call_command("mailstack", "status", "--json", "--state-dir", str(mailstack.root), stdout=out)
    listed = json.loads(out.getvalue())["ports"]
    assert {name: listed[name] for name in ("imaps", "pop3s", "submissions")} == {
        name: ports[name] for name in ("imaps", "pop3s", "submissions")
    }


def test_a_remote_client_must_use_tls_before_a_password(mailstack, account: str) -> None:
    ports = mailstack.ports
    ctx = context(mailstack.root, MailStack(mailstack.root).profile.hostname)

    with smtplib.SMTP(HOST, ports["submission"], timeout=10, source_address=(REMOTE, 0)) as smtp:
        smtp.ehlo("client.test")
        with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
            smtp.login(account, PASSWORD)
        assert refused.value.smtp_code == 535
    with smtplib.SMTP(HOST, ports["submission"], timeout=10, source_address=(REMOTE, 0)) as smtp:
        smtp.starttls(context=ctx)
        assert smtp.login(account, PASSWORD)[0] == 235

    imap = RemoteIMAP4(HOST, ports["imap"], timeout=10)
    assert "LOGINDISABLED" in imap.capabilities
    with pytest.raises(imaplib.IMAP4.error, match="PRIVACYREQUIRED"):
        imap.login(account, PASSWORD)
    imap.starttls(ctx)
    assert imap.login(account, PASSWORD)[0] == "OK"
    imap.logout()

    # The node's own address (the suite's other tests) still logs in without TLS.
    with smtplib.SMTP(HOST, ports["submission"], timeout=10) as smtp:
        assert smtp.login(account, PASSWORD)[0] == 235


def test_a_customer_host_name_gets_its_certificate_by_sni(mailstack, account: str) -> None:
    stack = MailStack(mailstack.root, map_type=settings.MAILNODE_MAP_TYPE)
    ports, tls_dir = mailstack.ports, mailstack.root / "tls"
    ca = (tls_dir / "ca.crt", tls_dir / "ca.key")
    # An IMAP session open across the reload: it must survive it.
    session = imaplib.IMAP4_SSL(
        HOST, ports["imaps"], ssl_context=context(mailstack.root, stack.profile.hostname)
    )
    session.login(account, PASSWORD)
    tls.issue(ca, CUSTOMER_HOST, tls.sni_dir(tls_dir))
    # A renewal of the node's own certificate, as an operator's renewal hook would do it.
    hostname = stack.profile.hostname
    for suffix in (".crt", ".key"):
        (tls_dir / f"{hostname}{suffix}").unlink()
    renewed = tls.issue(ca, hostname, tls_dir)[0]
    try:
        assert CUSTOMER_HOST in stack.reload_certs()
        assert session.noop()[0] == "OK"
        session.logout()
        serial = ssl._ssl._test_decode_cert(str(renewed))["serialNumber"]  # type: ignore[attr-defined]
        node_ctx = context(mailstack.root, hostname)
        with imaplib.IMAP4_SSL(HOST, ports["imaps"], ssl_context=node_ctx, timeout=10) as imap:
            assert imap.sock.getpeercert()["serialNumber"] == serial  # type: ignore[attr-defined]
        with smtplib.SMTP_SSL(HOST, ports["submissions"], context=node_ctx, timeout=10) as smtp:
            assert smtp.sock.getpeercert()["serialNumber"] == serial  # type: ignore[union-attr]
        ctx = context(mailstack.root, CUSTOMER_HOST)
        imap = imaplib.IMAP4_SSL(HOST, ports["imaps"], ssl_context=ctx, timeout=10)
        assert common_name(imap.sock) == CUSTOMER_HOST  # type: ignore[arg-type]
        imap.logout()
        with smtplib.SMTP_SSL(HOST, ports["submissions"], context=ctx, timeout=10) as smtp:
            assert common_name(smtp.sock) == CUSTOMER_HOST  # type: ignore[arg-type]
        with smtplib.SMTP(HOST, ports["smtp"], timeout=10) as smtp:
            smtp.starttls(context=ctx)
            assert common_name(smtp.sock) == CUSTOMER_HOST  # type: ignore[arg-type]
    finally:
        for suffix in (".crt", ".key"):
            (tls.sni_dir(tls_dir) / f"{CUSTOMER_HOST}{suffix}").unlink(missing_ok=True)
        stack.reload_certs()
