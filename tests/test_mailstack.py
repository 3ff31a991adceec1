"""The private mail stack, proven over the wire: a real Postfix + Dovecot under a temp folder.

Users are written by hand here, in the layout the node agent uses (per-domain passwd-files under
dovecot/users.d/, Postfix maps built with write_map), so these tests depend only on the
controller and the shared file primitives.
"""

from __future__ import annotations

import json
import os
import shutil
import smtplib
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from passlib.hash import sha512_crypt

from provisioning.mailstack.controller import PORT_NAMES, MailStack, _master_cf
from provisioning.node.files import atomic_write, write_map
from provisioning.node.paths import NodePaths
from provisioning.node.refusals import replace_domain
from provisioning.node.render import user_shard
from tests import mailclient

HOST = "127.0.0.1"
DOMAIN = "example.test"
PASSWORD = "correct horse"
USERS = ("alice", "bob", "carol", "dave")  # carol gets refused POP3, dave everything
REPO = Path(__file__).resolve().parent.parent

needs_root_and_binaries = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("postfix") or not shutil.which("dovecot"),
    reason="needs root and the Debian postfix/dovecot packages",
)


def live(test: Callable[..., None]) -> Callable[..., None]:
    return pytest.mark.live(needs_root_and_binaries(test))


def addr(user: str) -> str:
    return f"{user}@{DOMAIN}"


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Dovecot re-reads a changed passwd-file at most once a second, hence polling."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def write_users(paths: NodePaths, map_type: str) -> None:
    # Dovecot before Postfix, as the agent does: never accept mail LMTP cannot deliver.
    hashed = sha512_crypt.using(rounds=5000).hash(PASSWORD)
    for u in USERS:  # one account per shard file, named as Dovecot's "%2Mu" finds it
        shard = paths.dovecot_domain_dir("users") / DOMAIN / user_shard(addr(u))
        atomic_write(shard, f"{addr(u)}:{{SHA512-CRYPT}}{hashed}::::::\n")
    mailboxes = "".join(f"{addr(u)} {DOMAIN}/{u}/\n" for u in USERS)
    write_map(paths.maps_dir, "virtual_domains", f"{DOMAIN} OK\n", map_type=map_type)
    write_map(paths.maps_dir, "virtual_mailboxes", mailboxes, map_type=map_type)
    logins = "".join(f"{addr(u)} {addr(u)}\n" for u in USERS)
    write_map(paths.maps_dir, "sender_login", logins, map_type=map_type)


@pytest.fixture(scope="module")
def stack() -> Iterator[MailStack]:
    # Not pytest's tmp_path: its parents are 0700, and postfix, dovecot and vmail must reach
    # the files under the root. A short name keeps unix socket paths under 108 bytes.
    root = Path(tempfile.mkdtemp(prefix="ms-test-"))
    root.chmod(0o755)
    mailstack = MailStack(root, map_type="cdb")
    try:
        mailstack.start()
        write_users(mailstack.paths, "cdb")
        yield mailstack
    finally:
        mailstack.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def ports(stack: MailStack) -> dict[str, int]:
    return stack.ports


def imap_login(ports: dict[str, int], user: str, password: str = PASSWORD) -> bool:
    return mailclient.imap_login(ports, user, password)


def pop3_login(ports: dict[str, int], user: str, password: str = PASSWORD) -> bool:
    return mailclient.pop3_login(ports, user, password)


def inbox_subjects(ports: dict[str, int], user: str) -> list[str]:
    return mailclient.inbox_subjects(ports, user, PASSWORD)


def accepts(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


def message(sender: str, to: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = f"test {uuid.uuid4()}"
    msg.set_content("hello over the wire\n")
    return msg


# --- without daemons ------------------------------------------------------------------------


def test_master_cf_has_no_chroot_our_listeners_and_postlog() -> None:
    text = _master_cf("127.0.0.1:2525 inet n - n - - smtpd\n")
    services = [line.split() for line in text.splitlines() if line[:1].isalnum()]
    assert {fields[4] for fields in services} == {"n"}
    assert ["127.0.0.1:2525", "inet", "n", "-", "n", "-", "-", "smtpd"] in services
    assert not [f for f in services if f[:2] == ["smtp", "inet"]]
    assert any(f[:2] == ["postlog", "unix-dgram"] for f in services)


# --- the live stack -------------------------------------------------------------------------


@live
def test_start_again_returns_the_same_ports_and_keeps_the_daemons(stack: MailStack) -> None:
    before = stack.status()
    assert before["running"] and set(before["ports"]) == set(PORT_NAMES)
    pids = (stack._postfix_pid(), stack._dovecot_pid())
    assert stack.start() == before["ports"]
    assert (stack._postfix_pid(), stack._dovecot_pid()) == pids
    assert len(set(before["ports"].values())) == len(PORT_NAMES)


@live
def test_imap_and_pop3_login(ports: dict[str, int]) -> None:
    assert imap_login(ports, addr("alice"))
    assert pop3_login(ports, addr("alice"))


@live
def test_wrong_password_and_unknown_users_are_refused(
    stack: MailStack, ports: dict[str, int]
) -> None:
    assert not imap_login(ports, addr("alice"), "wrong")
    assert not pop3_login(ports, addr("alice"), "wrong")
    assert not imap_login(ports, addr("nobody"))
    # No passwd-file at all for this domain: "unknown user" (exit 67), not a temporary
    # failure (exit 75) that would make clients and Postfix retry.
    assert not imap_login(ports, "someone@no-such-domain.test")
    assert stack.doveadm("user", "someone@no-such-domain.test").returncode == 67


@live
def test_inbound_smtp_delivers_into_the_maildir(stack: MailStack, ports: dict[str, int]) -> None:
    msg = message("someone@internet.test", addr("bob"))
    with smtplib.SMTP(HOST, ports["smtp"], timeout=10) as smtp:
        smtp.send_message(msg)
    assert wait_until(lambda: msg["Subject"] in inbox_subjects(ports, addr("bob")))
    maildir = stack.paths.home(DOMAIN, "bob") / "Maildir"
    assert [*maildir.glob("new/*"), *maildir.glob("cur/*")]


@live
def test_unknown_address_is_refused_at_rcpt(ports: dict[str, int]) -> None:
    with smtplib.SMTP(HOST, ports["smtp"], timeout=10) as smtp:
        smtp.ehlo("client.test")
        smtp.mail("someone@internet.test")
        code, text = smtp.rcpt(addr("nobody"))
    assert code == 550, text


@live
def test_submission_needs_auth_and_delivers(ports: dict[str, int]) -> None:
    msg = message(addr("alice"), addr("bob"))
    with smtplib.SMTP(HOST, ports["submission"], timeout=10) as smtp:
        smtp.ehlo("client.test")
        with pytest.raises(smtplib.SMTPAuthenticationError):
            smtp.login(addr("alice"), "wrong")
        smtp.login(addr("alice"), PASSWORD)
        smtp.send_message(msg)
    assert wait_until(lambda: msg["Subject"] in inbox_subjects(ports, addr("bob")))


@live
def test_submission_refuses_mail_without_auth(ports: dict[str, int]) -> None:
    with smtplib.SMTP(HOST, ports["submission"], timeout=10) as smtp:
        smtp.ehlo("client.test")
        smtp.mail(addr("alice"))
        code, _ = smtp.rcpt(addr("bob"))
    assert code >= 500


@live
def test_refusal_row_refuses_only_that_protocol_from_the_next_login(
    stack: MailStack, ports: dict[str, int]
) -> None:
    # A login just before the write: a passwd-file would keep this second's answer (§8 of
    # docs/mailstack-findings.md); the SQL passdb must refuse the very next login.
    assert pop3_login(ports, addr("carol"))
    replace_domain(stack.paths.dovecot_refusals_db, DOMAIN, {(addr("carol"), "pop3")})
    assert not pop3_login(ports, addr("carol"))
    assert imap_login(ports, addr("carol"))
    assert pop3_login(ports, addr("alice"))


@live
def test_refusal_of_every_service_refuses_imap(stack: MailStack, ports: dict[str, int]) -> None:
    assert imap_login(ports, addr("dave"))
    replace_domain(
        stack.paths.dovecot_refusals_db, DOMAIN, {(addr("carol"), "pop3"), (addr("dave"), "*")}
    )
    assert not imap_login(ports, addr("dave"))
    assert imap_login(ports, addr("alice"))
    replace_domain(stack.paths.dovecot_refusals_db, DOMAIN, set())
    assert imap_login(ports, addr("dave"))


@live
def test_status_command_prints_json(stack: MailStack, ports: dict[str, int]) -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", "mailstack", "status", "--json", "--state-dir", stack.root],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "tempusmail.settings"},
    )
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)
    assert status == {
        "root": str(stack.root),
        "profile": "testbed",
        "hostname": "mx.tempusmail.test",
        "running": True,
        "postfix": True,
        "dovecot": True,
        "policy": True,
        "srs": True,
        "rspamd": True,
        "rspamd_missing": "",
        "ports": ports,
    }


@live
def test_start_command_lists_each_listener_with_its_address(
    stack: MailStack, ports: dict[str, int]
) -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", "mailstack", "start", "--state-dir", stack.root],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "tempusmail.settings"},
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert {f"{name} 127.0.0.1:{port}" for name, port in ports.items()} <= set(lines)


@live
def test_a_second_root_runs_beside_and_stops_alone(stack: MailStack, ports: dict[str, int]) -> None:
    root = Path(tempfile.mkdtemp(prefix="ms-test-"))
    root.chmod(0o755)
    other = MailStack(root, map_type="cdb")
    try:
        other_ports = other.start()
        assert other.status()["running"]
        assert not set(other_ports.values()) & set(ports.values())
        # No connection to `other` here: Dovecot takes 6 s instead of 1 s to stop when a
        # connection arrived less than a second before (see _listening_ports).
    finally:
        other.stop()
        shutil.rmtree(root, ignore_errors=True)
    assert stack.status()["running"]
    assert imap_login(ports, addr("alice"))
    listed = subprocess.run(
        ["postconf", "-h", "alternate_config_directories"], capture_output=True, text=True
    ).stdout.split()
    assert str(stack.paths.postfix_dir) in listed
    assert str(other.paths.postfix_dir) not in listed


@live
def test_stop_then_start_keeps_ports_and_data(stack: MailStack, ports: dict[str, int]) -> None:
    # Runs last in this module: stop, prove it, then restart for the fixture's teardown.
    stack.stop()
    assert stack.status() == {
        "root": str(stack.root),
        "profile": "testbed",
        "hostname": "mx.tempusmail.test",
        "running": False,
        "postfix": False,
        "dovecot": False,
        "policy": False,
        "srs": False,
        "rspamd": False,
        "rspamd_missing": "",
        "ports": {},
    }
    assert not any(accepts(port) for port in ports.values())
    stack.stop()  # idempotent
    assert stack.start() == ports  # the remembered ports are reused
    assert imap_login(ports, addr("alice"))  # the agent's files survived the restart
