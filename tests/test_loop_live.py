"""The provisioning loop end to end: service call -> Redis -> worker -> node files -> daemons.

Every claim is checked over the wire against the private Postfix and Dovecot of the test bed.
Dovecot re-reads a changed passwd-file at most once a second, so checks of a login's outcome
poll for a few seconds instead of asserting at one instant.
"""

from __future__ import annotations

import imaplib

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command

from domains.models import Domain
from domains.services import domain_create
from mailboxes import services
from mailboxes.models import Mailbox, SyncStatus
from organizations.services import organization_create
from security.audit import Actor
from tests.mailclient import (
    INTERNET,
    imap_login,
    imap_session,
    inbox_subjects,
    pop3_login,
    send_inbound,
    smtp_auth,
    wait_until,
)

pytestmark = pytest.mark.live
ACTOR = Actor(label="test")
PASSWORD = "correct horse 1"


def _status(mailbox: Mailbox) -> SyncStatus:
    return Mailbox.objects.select_related("domain").get(pk=mailbox.pk).sync_status


def _wait_applied(timeout: float = 15) -> None:
    call_command("provision", "wait", "--timeout", str(timeout))


@pytest.fixture
def domain(live, domain_name: str) -> Domain:
    org = organization_create(actor=ACTOR, name=f"Org {domain_name}")
    return domain_create(actor=ACTOR, name=domain_name, organization=org)


@pytest.fixture
def alice(domain: Domain) -> Mailbox:
    mailbox = services.mailbox_create(
        actor=ACTOR, domain=domain, local_part="alice", password=PASSWORD
    )
    _wait_applied()
    return mailbox


def test_created_account_logs_in_and_receives_mail(live, alice: Mailbox) -> None:
    ports, address = live.ports, alice.address
    assert _status(alice) == SyncStatus.ONLINE
    assert wait_until(lambda: imap_login(ports, address, PASSWORD))
    assert pop3_login(ports, address, PASSWORD)
    assert smtp_auth(ports, address, PASSWORD)
    assert not imap_login(ports, address, "wrong password")
    assert not pop3_login(ports, address, "wrong password")

    code, _ = send_inbound(ports, address, subject="first delivery")
    assert code == 250
    assert wait_until(lambda: "first delivery" in inbox_subjects(ports, address, PASSWORD))

    code, text = send_inbound(ports, f"nobody@{alice.domain.name}")
    assert code == 550, text


def test_password_change_refuses_old_and_accepts_new(live, alice: Mailbox) -> None:
    ports, address = live.ports, alice.address
    assert wait_until(lambda: imap_login(ports, address, PASSWORD))
    services.mailbox_set_password(actor=ACTOR, mailbox=alice, password="brand new secret 2")
    _wait_applied()
    assert wait_until(lambda: imap_login(ports, address, "brand new secret 2"))
    assert not imap_login(ports, address, PASSWORD)
    assert not pop3_login(ports, address, PASSWORD)


def test_deactivate_cuts_everything_and_reactivate_restores_it(live, alice: Mailbox) -> None:
    ports, address = live.ports, alice.address
    assert wait_until(lambda: imap_login(ports, address, PASSWORD))
    session = imap_session(ports, address, PASSWORD)

    services.mailbox_deactivate(actor=ACTOR, mailbox=alice)
    _wait_applied()
    assert _status(alice) == SyncStatus.OFFLINE

    def session_cut() -> bool:
        try:
            session.noop()
            return False
        except (imaplib.IMAP4.abort, imaplib.IMAP4.error, OSError):
            return True

    assert wait_until(session_cut), "the open IMAP session was not cut"
    assert wait_until(lambda: not imap_login(ports, address, PASSWORD))
    assert not pop3_login(ports, address, PASSWORD)
    assert not smtp_auth(ports, address, PASSWORD)
    code, text = send_inbound(ports, address)
    assert code == 550 and "disabled" in text.lower(), text

    services.mailbox_reactivate(actor=ACTOR, mailbox=alice)
    _wait_applied()
    assert _status(alice) == SyncStatus.ONLINE
    assert wait_until(lambda: imap_login(ports, address, PASSWORD))
    assert pop3_login(ports, address, PASSWORD)
    assert smtp_auth(ports, address, PASSWORD)
    assert send_inbound(ports, address, subject="back again")[0] == 250
    assert wait_until(lambda: "back again" in inbox_subjects(ports, address, PASSWORD))


def test_delete_refuses_the_address_and_moves_the_mail_aside(live, alice: Mailbox) -> None:
    ports, address = live.ports, alice.address
    assert send_inbound(ports, address, subject="keep me")[0] == 250
    assert wait_until(lambda: "keep me" in inbox_subjects(ports, address, PASSWORD))
    home = live.root / "mail" / alice.domain.name / "alice"
    assert home.is_dir()

    services.mailbox_delete(actor=ACTOR, mailbox=alice)
    _wait_applied()

    code, text = send_inbound(ports, address)
    assert code == 550, text
    assert wait_until(lambda: not imap_login(ports, address, PASSWORD))
    assert not pop3_login(ports, address, PASSWORD)
    assert not home.exists()
    trashed = [p for p in (live.root / "trash").iterdir() if p.name.startswith(f"{address}.")]
    assert len(trashed) == 1
    assert any((trashed[0] / "Maildir").rglob("*")), "the moved mail store is empty"


def test_a_change_waits_for_a_stopped_worker_and_converges_when_it_returns(
    live, domain: Domain, worker
) -> None:
    worker.stop()
    try:
        bob = services.mailbox_create(
            actor=ACTOR, domain=domain, local_part="bob", password=PASSWORD
        )
        assert _status(bob) == SyncStatus.UPDATING
        assert not imap_login(live.ports, bob.address, PASSWORD)
        assert _status(bob) == SyncStatus.UPDATING
    finally:
        worker.start()
    _wait_applied()
    assert _status(bob) == SyncStatus.ONLINE
    assert wait_until(lambda: imap_login(live.ports, bob.address, PASSWORD))


def test_a_lost_message_is_resent_by_reconcile(live, domain: Domain, worker) -> None:
    import redis

    from tests.conftest import TEST_BROKER

    worker.stop()
    try:
        carol = services.mailbox_create(
            actor=ACTOR, domain=domain, local_part="carol", password=PASSWORD
        )
        # The message is lost: nothing in the broker knows about the change any more.
        redis.Redis.from_url(TEST_BROKER).delete("panel", "node.local")
        assert _status(carol) == SyncStatus.UPDATING
    finally:
        worker.start()
    _wait_applied(timeout=20)  # beat's reconcile runs every second in the test worker
    assert _status(carol) == SyncStatus.ONLINE
    assert wait_until(lambda: imap_login(live.ports, carol.address, PASSWORD))


def test_a_domain_added_while_postfix_runs_accepts_mail(live, alice: Mailbox) -> None:
    # trivial-rewrite caches virtual_mailbox_domains; the agent must make it see new domains.
    org = alice.domain.organization
    other = domain_create(actor=ACTOR, name=f"second-{alice.domain.name}", organization=org)
    bob = services.mailbox_create(actor=ACTOR, domain=other, local_part="bob", password=PASSWORD)
    _wait_applied()
    assert send_inbound(live.ports, alice.address)[0] == 250
    code, text = send_inbound(live.ports, bob.address, subject="to the new domain")
    assert code == 250, text
    assert wait_until(
        lambda: "to the new domain" in inbox_subjects(live.ports, bob.address, PASSWORD)
    )


def test_a_protocol_switched_off_refuses_only_that_protocol(live, alice: Mailbox) -> None:
    ports, address = live.ports, alice.address
    services.mailbox_update(actor=ACTOR, mailbox=alice, changes={"pop3_enabled": False})
    _wait_applied()
    assert wait_until(lambda: not pop3_login(ports, address, PASSWORD))
    assert imap_login(ports, address, PASSWORD)
    assert smtp_auth(ports, address, PASSWORD)
    services.mailbox_update(actor=ACTOR, mailbox=alice, changes={"pop3_enabled": True})
    _wait_applied()
    assert wait_until(lambda: pop3_login(ports, address, PASSWORD))


def test_trusted_networks_restrict_where_logins_come_from(live, alice: Mailbox) -> None:
    ports, address = live.ports, alice.address
    services.mailbox_update(actor=ACTOR, mailbox=alice, changes={"allowed_networks": "127.0.0.9"})
    _wait_applied()
    assert wait_until(lambda: not imap_login(ports, address, PASSWORD))  # from 127.0.0.1
    assert not pop3_login(ports, address, PASSWORD)
    assert not smtp_auth(ports, address, PASSWORD)
    assert imap_login(ports, address, PASSWORD, source=INTERNET)
    assert pop3_login(ports, address, PASSWORD, source=INTERNET)
    assert smtp_auth(ports, address, PASSWORD, source=INTERNET)


def _make(domain: Domain, local_part: str, **settings) -> Mailbox:
    return services.mailbox_create(
        actor=ACTOR, domain=domain, local_part=local_part, password=PASSWORD, settings=settings
    )


def test_forwarding_with_and_without_a_copy(live, domain: Domain) -> None:
    ports = live.ports
    bob = _make(domain, "bob")
    carol = _make(domain, "carol")
    alice = _make(domain, "alice", forward_to=[bob.address], forward_keep_copy=False)
    _wait_applied()
    assert send_inbound(ports, alice.address, subject="forward only")[0] == 250
    assert wait_until(lambda: "forward only" in inbox_subjects(ports, bob.address, PASSWORD))
    assert "forward only" not in inbox_subjects(ports, alice.address, PASSWORD)

    services.mailbox_update(
        actor=ACTOR,
        mailbox=alice,
        changes={"forward_to": [bob.address, carol.address], "forward_keep_copy": True},
    )
    _wait_applied()
    assert send_inbound(ports, alice.address, subject="with a copy")[0] == 250
    for box in (alice, bob, carol):
        assert wait_until(lambda b=box: "with a copy" in inbox_subjects(ports, b.address, PASSWORD))

    too_many = [f"t{i}@remote.test" for i in range(21)]
    with pytest.raises(ValidationError, match="At most 20"):
        services.mailbox_update(actor=ACTOR, mailbox=alice, changes={"forward_to": too_many})


def test_catch_all_takes_unknown_addresses_and_real_accounts_keep_theirs(
    live, domain: Domain
) -> None:
    from domains.services import domain_update_settings

    ports = live.ports
    box = _make(domain, "box")
    real = _make(domain, "real")
    domain_update_settings(actor=ACTOR, domain=domain, changes={"catchall_target": box.address})
    _wait_applied()
    assert send_inbound(ports, f"whoever@{domain.name}", subject="to nobody")[0] == 250
    assert send_inbound(ports, real.address, subject="to real")[0] == 250
    assert wait_until(lambda: "to nobody" in inbox_subjects(ports, box.address, PASSWORD))
    assert wait_until(lambda: "to real" in inbox_subjects(ports, real.address, PASSWORD))
    assert "to real" not in inbox_subjects(ports, box.address, PASSWORD)

    domain.refresh_from_db()
    domain_update_settings(actor=ACTOR, domain=domain, changes={"catchall_target": ""})
    _wait_applied()
    assert wait_until(lambda: send_inbound(ports, f"whoever@{domain.name}")[0] == 550)


def _message(sender: str, to: str, subject: str, **headers: str):
    from email.message import EmailMessage

    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, to, subject
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content("hello\n")
    return msg


def test_spam_goes_to_junk_unless_the_account_wants_it_in_the_inbox(live, domain: Domain) -> None:
    from tests.mailclient import fetch_messages, send_message

    ports = live.ports
    alice = _make(domain, "alice")
    bob = _make(domain, "bob", spam_to_inbox=True)
    _wait_applied()
    for box in (alice, bob):
        spam = _message("x@internet.test", box.address, "buy now", X_Spam_Flag="YES")
        send_message(ports, spam, sender="x@internet.test", to=box.address)
        ham = _message("x@internet.test", box.address, "hello there")
        send_message(ports, ham, sender="x@internet.test", to=box.address)

    def subjects(box: Mailbox, folder: str) -> list[str]:
        return [m["Subject"] for m in fetch_messages(ports, box.address, PASSWORD, folder)]

    assert wait_until(lambda: subjects(alice, "Junk") == ["buy now"])
    assert subjects(alice, "INBOX") == ["hello there"]
    assert wait_until(lambda: sorted(subjects(bob, "INBOX")) == ["buy now", "hello there"])
    assert subjects(bob, "Junk") == []


HOSTILE_SUBJECT = 'Out "of" office \\ ${var} }; stop; { discard;'
HOSTILE_BODY = (
    'I am away.\n"Quoted" and \\backslash\\.\nrequire ["fileinto"]; fileinto "Junk";\n.\n'
    "text:\n}\nBye."
)


def test_autoresponder_replies_verbatim_once_inside_its_interval(live, domain: Domain) -> None:
    from datetime import UTC, datetime, timedelta

    from tests.mailclient import fetch_messages, send_message

    ports = live.ports
    now = datetime.now(UTC)
    bob = _make(domain, "bob")
    alice = _make(
        domain, "alice", autoreply_enabled=True, autoreply_subject=HOSTILE_SUBJECT,
        autoreply_body=HOSTILE_BODY, autoreply_start=now - timedelta(hours=1),
        autoreply_end=now + timedelta(days=2),
    )  # fmt: skip
    past = _make(
        domain, "past", autoreply_enabled=True, autoreply_subject="Was away",
        autoreply_start=now - timedelta(days=3), autoreply_end=now - timedelta(days=1),
    )  # fmt: skip
    _wait_applied()

    def replies() -> list:
        return [m for m in fetch_messages(ports, bob.address, PASSWORD) if m["Auto-Submitted"]]

    send_message(ports, _message(bob.address, alice.address, "first"), sender=bob.address,
                 to=alice.address)  # fmt: skip
    assert wait_until(lambda: len(replies()) == 1, timeout=10)
    (reply,) = replies()
    assert reply["Subject"] == HOSTILE_SUBJECT
    assert reply.get_content().replace("\r\n", "\n").strip() == HOSTILE_BODY.strip()
    assert "first" in inbox_subjects(ports, alice.address, PASSWORD)  # the mail itself is kept

    # Once per sender per interval; never to lists, bulk or automatic mail; never outside.
    send_message(ports, _message(bob.address, alice.address, "second"), sender=bob.address,
                 to=alice.address)  # fmt: skip
    carol = _make(domain, "carol")
    _wait_applied()
    for headers in ({"List_Id": "<l.example.test>"}, {"Precedence": "bulk"},
                    {"Auto_Submitted": "auto-generated"}):  # fmt: skip
        msg = _message(carol.address, alice.address, "automatic", **headers)
        send_message(ports, msg, sender=carol.address, to=alice.address)
    send_message(ports, _message(carol.address, past.address, "late"), sender=carol.address,
                 to=past.address)  # fmt: skip
    assert wait_until(lambda: "late" in inbox_subjects(ports, past.address, PASSWORD))
    assert wait_until(
        lambda: inbox_subjects(ports, alice.address, PASSWORD).count("automatic") == 3
    )
    import time

    time.sleep(1)  # replies would be queued by now
    assert len(replies()) == 1
    assert not [m for m in fetch_messages(ports, carol.address, PASSWORD) if m["Auto-Submitted"]]


def _doveadm_auth(live, user: str, service: str) -> bool:
    import subprocess

    proc = subprocess.run(
        ["doveadm", "-c", str(live.root / "dovecot" / "dovecot.conf"), "auth", "test",
         "-x", f"service={service}", user, PASSWORD],
        capture_output=True, text=True,
    )  # fmt: skip
    return proc.returncode == 0


def test_webmail_activesync_and_dav_are_dovecot_services(live, domain: Domain) -> None:
    alice = _make(domain, "alice", activesync_enabled=True, dav_enabled=True)
    _wait_applied()
    for service in ("webmail", "eas", "dav", "imap"):
        assert wait_until(lambda s=service: _doveadm_auth(live, alice.address, s)), service
    services.mailbox_update(
        actor=ACTOR, mailbox=alice, changes={"webmail_enabled": False, "dav_enabled": False}
    )
    _wait_applied()
    assert wait_until(lambda: not _doveadm_auth(live, alice.address, "webmail"))
    assert not _doveadm_auth(live, alice.address, "dav")
    assert _doveadm_auth(live, alice.address, "eas")
    assert imap_login(live.ports, alice.address, PASSWORD)


def test_a_full_mailbox_is_refused_at_rcpt_until_the_quota_is_raised(live, domain: Domain) -> None:
    ports = live.ports
    alice = _make(domain, "alice")
    _wait_applied()
    for i in range(3):
        assert send_inbound(ports, alice.address, subject=f"fill {i}")[0] == 250
    assert wait_until(lambda: len(inbox_subjects(ports, alice.address, PASSWORD)) == 3)

    services.mailbox_update(actor=ACTOR, mailbox=alice, changes={"quota_bytes": 1024})
    _wait_applied()
    # (Dovecot's quota-status service sees the new limit within a second.)
    assert wait_until(lambda: send_inbound(ports, alice.address)[0] == 552)
    code, text = send_inbound(ports, alice.address)
    assert code == 552 and "full" in text.lower(), text  # at RCPT: no bounce is generated

    services.mailbox_update(actor=ACTOR, mailbox=alice, changes={"quota_bytes": 10 * 1024**2})
    _wait_applied()
    assert wait_until(lambda: send_inbound(ports, alice.address, subject="room again")[0] == 250)
    assert wait_until(lambda: "room again" in inbox_subjects(ports, alice.address, PASSWORD))


def test_a_noreply_account_sends_but_refuses_mail_and_logins(live, domain: Domain) -> None:
    import smtplib

    from mailboxes.models import MailboxKind
    from tests.mailclient import HOST

    ports = live.ports
    bob = _make(domain, "bob")
    noreply = services.mailbox_create(
        actor=ACTOR, domain=domain, local_part="noreply", password=PASSWORD,
        kind=MailboxKind.NOREPLY,
    )  # fmt: skip
    _wait_applied()
    code, text = send_inbound(ports, noreply.address)
    assert code == 550 and "does not accept replies" in text, text
    assert wait_until(lambda: smtp_auth(ports, noreply.address, PASSWORD))
    with smtplib.SMTP(HOST, ports["submission"], timeout=10) as smtp:
        smtp.login(noreply.address, PASSWORD)
        smtp.sendmail(noreply.address, [bob.address], b"Subject: invoice\r\n\r\nHere.\r\n")
    assert wait_until(lambda: "invoice" in inbox_subjects(ports, bob.address, PASSWORD))
    assert not imap_login(ports, noreply.address, PASSWORD)
    assert not pop3_login(ports, noreply.address, PASSWORD)


def test_an_expired_password_refuses_logins_until_it_is_changed(live, alice: Mailbox) -> None:
    ports, address = live.ports, alice.address
    call_command("mailbox", "update", address, "--password-expires", "2020-01-01")
    _wait_applied()
    assert wait_until(lambda: not imap_login(ports, address, PASSWORD))
    assert not pop3_login(ports, address, PASSWORD)
    assert not smtp_auth(ports, address, PASSWORD)
    assert send_inbound(ports, address, subject="still delivered")[0] == 250
    services.mailbox_set_password(actor=ACTOR, mailbox=alice, password="a-new-password-7")
    _wait_applied()
    assert wait_until(lambda: imap_login(ports, address, "a-new-password-7"))
    assert "still delivered" in inbox_subjects(ports, address, "a-new-password-7")


@pytest.mark.parametrize(
    ("switch", "refused"),
    [("imap_enabled", "imap"), ("smtp_enabled", "smtp"), ("sieve_enabled", "sieve")],
)
def test_each_protocol_switch_refuses_only_its_protocol(
    live, alice: Mailbox, switch: str, refused: str
) -> None:
    from tests.mailclient import sieve_login

    ports, address = live.ports, alice.address
    logins = {
        "imap": lambda: imap_login(ports, address, PASSWORD),
        "pop3": lambda: pop3_login(ports, address, PASSWORD),
        "smtp": lambda: smtp_auth(ports, address, PASSWORD),
        "sieve": lambda: sieve_login(ports, address, PASSWORD),
    }
    assert wait_until(logins[refused])
    services.mailbox_update(actor=ACTOR, mailbox=alice, changes={switch: False})
    _wait_applied()
    assert wait_until(lambda: not logins[refused]())
    assert all(login() for name, login in logins.items() if name != refused)
    services.mailbox_update(actor=ACTOR, mailbox=alice, changes={switch: True})
    _wait_applied()
    assert wait_until(logins[refused])


def test_mail_for_a_deactivated_account_is_not_stored_by_a_forward_or_the_catch_all(
    live, domain: Domain
) -> None:
    # Found by the chaos test (tests/test_chaos_live.py): refused at RCPT, yet stored in its
    # mailbox when it came through another account's forward or the domain's catch-all.
    from domains.services import domain_update_settings

    ports = live.ports
    bob = _make(domain, "bob")
    carol = _make(domain, "carol")
    alice = _make(domain, "alice", forward_to=[bob.address, carol.address], forward_keep_copy=False)
    domain_update_settings(actor=ACTOR, domain=domain, changes={"catchall_target": bob.address})
    services.mailbox_deactivate(actor=ACTOR, mailbox=bob)
    _wait_applied()
    assert send_inbound(ports, alice.address, subject="while bob is away")[0] == 250
    assert wait_until(lambda: "while bob is away" in inbox_subjects(ports, carol.address, PASSWORD))
    send_inbound(ports, f"whoever@{domain.name}", subject="to the catch-all")

    services.mailbox_reactivate(actor=ACTOR, mailbox=bob)
    _wait_applied()
    assert wait_until(lambda: imap_login(ports, bob.address, PASSWORD))
    assert send_inbound(ports, alice.address, subject="bob is back")[0] == 250
    assert wait_until(lambda: "bob is back" in inbox_subjects(ports, bob.address, PASSWORD))
    assert inbox_subjects(ports, bob.address, PASSWORD) == ["bob is back"]
