"""The management commands ops scripts rely on: output, exit status, and nothing half-done."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from domains.models import Domain
from mailboxes.models import Mailbox
from mailboxes.passwords import verify_password
from organizations.models import Organization
from security.models import AuditEvent
from tests.conftest import REPO, _database_url

pytestmark = pytest.mark.django_db(transaction=True)


def run(*args: str, stdin: str = "") -> str:
    out = io.StringIO()
    old_stdin = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        call_command(*args, stdout=out)
    finally:
        sys.stdin = old_stdin
    return out.getvalue()


@pytest.fixture
def domain(domain_name: str) -> str:
    run("organization", "create", "Acme")
    run("domain", "create", domain_name, "--organization", "Acme")
    return domain_name


def _counts() -> tuple[int, int, int, int]:
    return (
        Organization.objects.count(),
        Domain.objects.count(),
        Mailbox.objects.count(),
        AuditEvent.objects.count(),
    )


def test_create_and_list_mailbox(domain: str) -> None:
    out = run("mailbox", "create", f"Alice@{domain}", "--password-stdin", "--quota", "1G",
              stdin="s3cret-pass\n")  # fmt: skip
    assert f"created alice@{domain} (quota 1G)" in out
    mailbox = Mailbox.objects.get(local_part="alice")
    assert mailbox.quota_bytes == 1024**3
    assert mailbox.password_hash.startswith("$6$")
    assert verify_password("s3cret-pass", mailbox.password_hash)
    listing = run("mailbox", "list", domain)
    assert f"alice@{domain}\tonline\t1G" in listing


def test_generated_password_is_printed_once(domain: str) -> None:
    out = run("mailbox", "create", f"bob@{domain}")
    password = out.split("password: ")[1].strip()
    assert verify_password(password, Mailbox.objects.get(local_part="bob").password_hash)


def test_set_password_deactivate_reactivate_delete(domain: str) -> None:
    run("mailbox", "create", f"carol@{domain}", "--password-stdin", stdin="first-pass-1\n")
    run("mailbox", "set-password", f"carol@{domain}", "--password-stdin", stdin="second-pass-2\n")
    assert verify_password("second-pass-2", Mailbox.objects.get(local_part="carol").password_hash)
    assert "deactivated" in run("mailbox", "deactivate", f"carol@{domain}")
    assert f"carol@{domain}\toffline" in run("mailbox", "list", domain)
    assert "reactivated" in run("mailbox", "reactivate", f"carol@{domain}")
    assert "deleted" in run("mailbox", "delete", f"carol@{domain}")
    assert not Mailbox.objects.filter(local_part="carol").exists()
    actions = list(AuditEvent.objects.order_by("id").values_list("action", flat=True))
    assert actions[-5:] == [
        "mailbox.create",
        "mailbox.set_password",
        "mailbox.deactivate",
        "mailbox.reactivate",
        "mailbox.delete",
    ]


def test_unicode_domain_is_stored_in_idna_form() -> None:
    run("organization", "create", "Books")
    out = run("domain", "create", "Bücher.Example", "--organization", "Books")
    assert "xn--bcher-kva.example" in out
    assert Domain.objects.filter(name="xn--bcher-kva.example").exists()


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (
            ("mailbox", "create", "alice@nowhere.test", "--password-stdin"),
            "velvet-lantern-42\n",
            "no domain",
        ),
        (
            ("mailbox", "create", "not-an-address", "--password-stdin"),
            "velvet-lantern-42\n",
            "not an e-mail",
        ),
        (
            ("mailbox", "create", "a b@{d}", "--password-stdin"),
            "velvet-lantern-42\n",
            "is not allowed",
        ),
        (
            ("mailbox", "create", "x@{d}", "--password-stdin", "--quota", "lots"),
            "velvet-lantern-42\n",
            "not a size",
        ),
        (
            ("mailbox", "create", "x@{d}", "--password-stdin", "--quota", "-1"),
            "velvet-lantern-42\n",
            "not a size",
        ),
        (("mailbox", "create", "x@{d}", "--password-stdin"), "short\n", "at least 8"),
        (("mailbox", "create", "x@{d}", "--password-stdin"), "", "nothing was read"),
        (
            ("mailbox", "create", "dup@{d}", "--password-stdin"),
            "velvet-lantern-42\n",
            "already exists",
        ),
        (
            ("mailbox", "set-password", "ghost@{d}", "--password-stdin"),
            "velvet-lantern-42\n",
            "No mailbox",
        ),
        (("mailbox", "deactivate", "ghost@{d}"), "", "No mailbox"),
        (("mailbox", "reactivate", "dup@{d}"), "", "already active"),
        (("mailbox", "list", "nowhere.test"), "", "no domain"),
        (("domain", "create", "bad_domain", "--organization", "Acme"), "", "not a valid domain"),
        (("domain", "create", "{d}", "--organization", "Acme"), "", "already exists"),
        (("domain", "create", "new.test", "--organization", "Nobody"), "", "no organization"),
        (("organization", "create", "Acme"), "", "already exists"),
    ],
)
def test_bad_input_fails_clearly_and_changes_nothing(
    domain: str, args: tuple[str, ...], stdin: str, message: str
) -> None:
    run("mailbox", "create", f"dup@{domain}", "--password-stdin", stdin="velvet-lantern-42\n")
    before = _counts()
    with pytest.raises(CommandError) as excinfo:
        run(*(a.replace("{d}", domain) for a in args), stdin=stdin)
    assert message in str(excinfo.value)
    assert "\n" not in str(excinfo.value)
    assert _counts() == before


def test_bad_input_exits_non_zero_with_one_line(domain: str) -> None:
    env = {**os.environ, "DATABASE_URL": _database_url()}
    cmd = [
        sys.executable,
        "manage.py",
        "mailbox",
        "create",
        "bad address@x.test",
        "--password-stdin",
    ]
    proc = subprocess.run(
        cmd,
        cwd=REPO,
        env=env,
        input="velvet-lantern-42\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip().count("\n") == 0, proc.stderr
    assert "is not allowed" in proc.stderr


def test_provision_wait_reports_what_lags(domain: str) -> None:
    assert "every change is applied" in run("provision", "wait", "--timeout", "5")
    Domain.objects.filter(name=domain).update(desired_version=99, apply_error="RuntimeError: boom")
    with pytest.raises(CommandError) as excinfo:
        run("provision", "wait", "--timeout", "0.2")
    assert domain in str(excinfo.value) and "boom" in str(excinfo.value)


def test_commands_use_the_private_node_folder(domain: str, node_root: Path) -> None:
    assert (node_root / "agent" / "domains" / f"{domain}.json").exists()


def test_demo_creates_a_working_login_and_prints_it() -> None:
    from django.contrib.auth import authenticate

    out = run("demo")
    admin_password = out.split("panel login:  admin / ")[1].split()[0]
    assert authenticate(username="admin", password=admin_password) is not None
    mailbox_password = out.split("mailbox:      demo@demo.test / ")[1].split()[0]
    mailbox = Mailbox.objects.select_related("domain").get(local_part="demo")
    assert verify_password(mailbox_password, mailbox.password_hash)
    assert mailbox.sync_status == "online"
    again = run("demo")  # idempotent: refreshes the passwords, creates nothing twice
    assert Mailbox.objects.count() == 1 and "panel login" in again


def test_mailbox_update_sets_each_setting(domain: str) -> None:
    run("mailbox", "create", f"upd@{domain}", "--password-stdin", stdin="velvet-lantern-42\n")
    # A forward inside a served domain must reach an account (issue 19): make the target.
    run("mailbox", "create", f"other@{domain}", "--password-stdin", stdin="velvet-lantern-43\n")
    out = run(
        "mailbox", "update", f"upd@{domain}", "--quota", "2G", "--services", "imap,smtp,webmail",
        "--allow-nets", "192.0.2.7,10.0.0.0/8", "--forward", f"Other@{domain},x@remote.test",
        "--no-keep-copy", "--spam-to-inbox", "yes", "--autoreply", "yes",
        "--autoreply-subject", 'Away "now"', "--autoreply-body", "Back soon",
        "--autoreply-start", "2026-12-24T00:00", "--autoreply-end", "2026-12-27T00:00+00:00",
    )  # fmt: skip
    assert f"updated upd@{domain}" in out
    m = Mailbox.objects.get(local_part="upd")
    assert m.quota_bytes == 2 * 1024**3
    assert (m.imap_enabled, m.pop3_enabled, m.smtp_enabled, m.sieve_enabled) == (
        True, False, True, False,
    )  # fmt: skip
    assert (m.webmail_enabled, m.activesync_enabled, m.dav_enabled) == (True, False, False)
    assert m.allowed_networks == ["192.0.2.7/32", "10.0.0.0/8"]
    assert m.forward_to == [f"other@{domain}", "x@remote.test"] and not m.forward_keep_copy
    assert m.spam_to_inbox and m.autoreply_enabled and m.autoreply_subject == 'Away "now"'
    assert m.autoreply_start.isoformat() == "2026-12-24T00:00:00+00:00"  # account zone: UTC
    assert "unchanged" in run("mailbox", "update", f"upd@{domain}", "--quota", "2G")
    assert AuditEvent.objects.filter(action="mailbox.update").count() == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--services", "imap,ftp"), "unknown service ftp"),
        (("--quota", "huge"), "not a size"),
        (("--allow-nets", "10.0.0.0/8,not-a-net"), "not an IP address"),
        (("--forward", ",".join(f"t{i}@remote.test" for i in range(21))), "At most 20"),
        (("--forward", "self@{d}"), "cannot forward to itself"),
        (("--autoreply-start", "next tuesday"), "not an ISO 8601"),
        (
            ("--autoreply-start", "2026-12-27T00:00", "--autoreply-end", "2026-12-24T00:00"),
            "end must be after the start",
        ),
        (("--autoreply", "yes"), "needs a subject"),
        ((), "nothing to change"),
    ],
)
def test_mailbox_update_refuses_bad_values_and_changes_nothing(
    domain: str, args: tuple[str, ...], message: str
) -> None:
    run("mailbox", "create", f"self@{domain}", "--password-stdin", stdin="velvet-lantern-42\n")
    before = list(Mailbox.objects.values())
    audit = AuditEvent.objects.count()
    with pytest.raises(CommandError) as excinfo:
        run("mailbox", "update", f"self@{domain}", *(a.replace("{d}", domain) for a in args))
    assert message in str(excinfo.value) and "\n" not in str(excinfo.value)
    assert list(Mailbox.objects.values()) == before and AuditEvent.objects.count() == audit


def test_domain_update_catch_all_and_noreply_kind(domain: str) -> None:
    run("mailbox", "create", f"box@{domain}", "--password-stdin", stdin="velvet-lantern-42\n")
    out = run("mailbox", "create", f"noreply@{domain}", "--kind", "noreply", "--password-stdin",
              stdin="velvet-lantern-42\n")  # fmt: skip
    assert f"created noreply@{domain}" in out
    assert Mailbox.objects.get(local_part="noreply").kind == "noreply"
    assert "catch-all box@" in run("domain", "update", domain, "--catch-all", f"box@{domain}")
    assert Domain.objects.get(name=domain).catchall_target == f"box@{domain}"
    with pytest.raises(CommandError, match="catch"):
        run("domain", "update", domain, "--catch-all", "nobody@elsewhere.test")
    assert Domain.objects.get(name=domain).catchall_target == f"box@{domain}"
    assert "catch-all none" in run("domain", "update", domain, "--catch-all", "")
