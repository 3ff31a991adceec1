"""Small over-the-wire clients for the live test bed (loopback only)."""

from __future__ import annotations

import contextlib
import imaplib
import poplib
import smtplib
import socket
import ssl
import time
import uuid
from collections.abc import Callable
from email.message import EmailMessage

HOST = "127.0.0.1"
# A client bound to this address plays "the internet" (the test bed trusts no client at port 25
# since issue 22, but tests that prove an IP rule need a second source address anyway).
INTERNET = "127.0.0.9"


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0, every: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(every)


def remote_tls() -> ssl.SSLContext:
    """What a client outside the node must use before a password (issue 15): these helpers
    test who may log in, not the certificate (tests/test_tls_live.py checks that)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


class _BoundIMAP4(imaplib.IMAP4):
    """IMAP4 from a chosen loopback source address (to test per-account IP restrictions)."""

    def __init__(self, host: str, port: int, source: str, timeout: float) -> None:
        self._source = source
        super().__init__(host, port, timeout=timeout)

    def _create_socket(self, timeout: float | None) -> socket.socket:
        return socket.create_connection(
            (self.host, self.port), timeout, source_address=(self._source, 0)
        )


def imap_login(ports: dict[str, int], user: str, password: str, *, source: str = HOST) -> bool:
    try:
        with _BoundIMAP4(HOST, ports["imap"], source, timeout=10) as imap:
            if source != HOST:
                imap.starttls(remote_tls())
            imap.login(user, password)
            imap.logout()
        return True
    except imaplib.IMAP4.error:
        return False


def imap_session(ports: dict[str, int], user: str, password: str) -> imaplib.IMAP4:
    imap = imaplib.IMAP4(HOST, ports["imap"], timeout=10)
    imap.login(user, password)
    return imap


class _BoundPOP3(poplib.POP3):
    def __init__(self, host: str, port: int, source: str, timeout: float) -> None:
        self._source = source
        super().__init__(host, port, timeout=timeout)

    def _create_socket(self, timeout: float) -> socket.socket:
        return socket.create_connection(
            (self.host, self.port), timeout, source_address=(self._source, 0)
        )


def pop3_login(ports: dict[str, int], user: str, password: str, *, source: str = HOST) -> bool:
    pop = _BoundPOP3(HOST, ports["pop3"], source, timeout=10)
    if source != HOST:
        pop.stls(remote_tls())
    try:
        pop.user(user)
        pop.pass_(password)
        return True
    except poplib.error_proto:
        return False
    finally:
        with contextlib.suppress(poplib.error_proto, OSError):
            pop.quit()


def smtp_auth(ports: dict[str, int], user: str, password: str, *, source: str = HOST) -> bool:
    with smtplib.SMTP(HOST, ports["submission"], timeout=10, source_address=(source, 0)) as smtp:
        smtp.ehlo("client.test")
        if source != HOST:
            smtp.starttls(context=remote_tls())
        try:
            smtp.login(user, password)
            return True
        except smtplib.SMTPAuthenticationError:
            return False


def send_inbound(
    ports: dict[str, int], to: str, *, sender: str = "someone@internet.test", subject: str = ""
) -> tuple[int, str]:
    """Deliver a message to the inbound port as a host on the internet would.

    Returns (code, text) of the RCPT reply, or of DATA when RCPT was accepted.
    """
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject or f"test {uuid.uuid4()}"
    msg.set_content("hello over the wire\n")
    with smtplib.SMTP(HOST, ports["smtp"], timeout=10, source_address=(INTERNET, 0)) as smtp:
        smtp.ehlo("mx.internet.test")
        smtp.mail(sender)
        code, text = smtp.rcpt(to)
        if code >= 400:
            smtp.rset()
            return code, text.decode()
        code, text = smtp.data(msg.as_bytes())
        return code, text.decode()


def inbox_subjects(ports: dict[str, int], user: str, password: str) -> list[str]:
    with imaplib.IMAP4(HOST, ports["imap"], timeout=10) as imap:
        imap.login(user, password)
        imap.select("INBOX", readonly=True)
        _, data = imap.search(None, "ALL")
        subjects = []
        for num in data[0].split():
            _, parts = imap.fetch(num, "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
            header = parts[0][1].decode() if parts and isinstance(parts[0], tuple) else ""
            subjects.append(header.replace("Subject:", "").strip())
        imap.logout()
        return subjects


def fetch_messages(ports: dict[str, int], user: str, password: str, folder: str = "INBOX") -> list:
    """Every message of a folder, parsed (email.message.EmailMessage)."""
    import email
    from email import policy

    with imaplib.IMAP4(HOST, ports["imap"], timeout=10) as imap:
        imap.login(user, password)
        imap.select(folder, readonly=True)
        _, data = imap.search(None, "ALL")
        messages = []
        for num in data[0].split():
            _, parts = imap.fetch(num, "(BODY.PEEK[])")
            messages.append(email.message_from_bytes(parts[0][1], policy=policy.default))
        imap.logout()
        return messages


def send_message(ports: dict[str, int], msg: EmailMessage, *, sender: str, to: str) -> None:
    """Deliver a prepared message to the inbound port (raises if it is refused)."""
    with smtplib.SMTP(HOST, ports["smtp"], timeout=10) as smtp:
        smtp.ehlo("client.test")
        smtp.sendmail(sender, [to], msg.as_bytes())


def sieve_login(ports: dict[str, int], user: str, password: str) -> bool:
    """ManageSieve (RFC 5804) AUTHENTICATE PLAIN: True when the server answers OK."""
    import base64

    token = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
    with socket.create_connection((HOST, ports["managesieve"]), timeout=10) as sock:
        reader = sock.makefile("rb")

        def answer() -> bytes:
            while True:
                line = reader.readline()
                if not line or line.startswith((b"OK", b"NO", b"BYE")):
                    return line

        answer()  # the greeting's capabilities end with OK
        sock.sendall(f'AUTHENTICATE "PLAIN" "{token}"\r\n'.encode())
        return answer().startswith(b"OK")
