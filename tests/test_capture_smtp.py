"""The tests' capture smarthost itself (tests/capture_smtp.py): rules, records, AUTH, STARTTLS."""

from __future__ import annotations

import smtplib
import ssl
import subprocess
from pathlib import Path

import pytest

from tests.capture_smtp import HOST, CaptureSMTP


def test_accepts_defers_and_refuses_per_recipient() -> None:
    with CaptureSMTP() as capture:
        capture.defer("*@slow.test")
        capture.refuse("gone-*@*")
        with smtplib.SMTP(HOST, capture.port, timeout=10) as smtp:
            smtp.ehlo()
            smtp.mail("alice@here.test")
            assert smtp.rcpt("bob@far.test")[0] == 250
            assert smtp.rcpt("x@slow.test")[0] == 451
            assert smtp.rcpt("gone-1@far.test")[0] == 550
            assert smtp.data(b"Subject: hi\r\n\r\nbody\r\n")[0] == 250
        got = capture.to("bob@far.test", timeout=5)
        assert got is not None
        assert (got.sender, got.recipients, got.login, got.tls) == (
            "alice@here.test",
            ["bob@far.test"],
            None,
            False,
        )
        assert got.message["Subject"] == "hi"
        # A later rule wins: the deferred address is accepted on the next try.
        capture.accept("*@slow.test")
        assert capture.reply_for("x@slow.test") == ""
        assert [reply[:3] for _, reply in capture.attempts] == ["250", "451", "550"]


def _tls_context(tmp_path: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server context, a client context trusting its self-signed certificate)."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
         "-out", str(cert), "-days", "1", "-subj", "/CN=smarthost.capture.test"],
        check=True, capture_output=True,
    )  # fmt: skip
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    client = ssl.create_default_context(cafile=str(cert))
    client.check_hostname = False
    return context, client


def test_auth_over_starttls_is_recorded(tmp_path: Path) -> None:
    server, client = _tls_context(tmp_path)
    with CaptureSMTP(tls=server, auth={"relay": "s3cret"}) as capture:
        with smtplib.SMTP(HOST, capture.port, timeout=10) as smtp:
            smtp.starttls(context=client)
            with pytest.raises(smtplib.SMTPAuthenticationError):
                smtp.login("relay", "wrong")
            smtp.login("relay", "s3cret")
            smtp.sendmail("a@here.test", ["b@far.test"], b"Subject: t\r\n\r\nx\r\n")
        got = capture.to("b@far.test", timeout=5)
        assert got is not None and got.login == "relay" and got.tls


def test_without_login_nothing_is_accepted() -> None:
    with CaptureSMTP(auth={"relay": "s3cret"}) as capture:
        with smtplib.SMTP(HOST, capture.port, timeout=10) as smtp:
            smtp.ehlo()
            code, _ = smtp.mail("a@here.test")
            assert code == 530
        assert capture.received == []
