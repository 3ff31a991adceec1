"""`manage.py mailbox import`: the page's checks and import from the command line."""

from __future__ import annotations

import csv
import io
import stat
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from mailboxes.models import Mailbox
from mailboxes.passwords import verify_password
from security.models import AuditEvent
from tests.personas import World, build_world

pytestmark = pytest.mark.django_db
HEADER = "address,first_name,last_name,quota,services,forward_to,password"


@pytest.fixture
def world(domain_name: str) -> World:
    return build_world(domain_name.split(".")[0])


def _run(*args: str) -> tuple[str, CommandError | None]:
    out = io.StringIO()
    try:
        call_command("mailbox", "import", *args, stdout=out)
    except CommandError as exc:
        return out.getvalue(), exc
    return out.getvalue(), None


def _file(tmp_path: Path, text: str) -> str:
    path = tmp_path / "accounts.csv"
    path.write_bytes(("\ufeff" + text).encode())  # Excel's BOM
    return str(path)


def test_rejected_rows_are_printed_and_the_valid_ones_created(world: World, tmp_path) -> None:
    domain = world.acme_domain.name
    text = f"{HEADER}\nann,Ann,A,1G,,,\nbad..name,,,,,,\ncid,Cid,C,,imap,,\n".replace(",", ";")
    out_file = tmp_path / "passwords.csv"
    output, error = _run(
        _file(tmp_path, text), "--domain", domain, "--passwords-out", str(out_file)
    )
    assert error is not None and error.returncode == 1  # a row was rejected
    assert "rejected: Line 3, column “address”" in output
    assert "2 account(s) created" in output
    rows = list(csv.DictReader(out_file.read_text().splitlines()))
    assert [r["address"] for r in rows] == [f"ann@{domain}", f"cid@{domain}"]
    assert stat.S_IMODE(out_file.stat().st_mode) == 0o600
    ann = Mailbox.objects.get(domain=world.acme_domain, local_part="ann")
    assert verify_password(rows[0]["password"], ann.password_hash)


def test_dry_run_and_all_or_nothing_create_nothing_when_a_row_is_bad(
    world: World, tmp_path
) -> None:
    path = _file(tmp_path, f"{HEADER}\nann,,,,,,\nbad..name,,,,,,\n")
    before = AuditEvent.objects.filter(action="mailbox.create").count()
    for flag in ("--dry-run", "--all-or-nothing"):
        output, error = _run(path, "--domain", world.acme_domain.name, flag)
        assert error is not None and "nothing was created" in output, flag
    assert not Mailbox.objects.filter(local_part="ann").exists()
    assert AuditEvent.objects.filter(action="mailbox.create").count() == before


def test_a_clean_file_exits_zero(world: World, tmp_path) -> None:
    output, error = _run(
        _file(tmp_path, f"{HEADER}\ndora,Dora,D,,,,velvet-lantern-harbor-77\n"),
        "--domain", world.acme_domain.name, "--all-or-nothing",
    )  # fmt: skip
    assert error is None and "1 account(s) created" in output
    assert "generated passwords" not in output  # the file gave one


def test_an_unknown_domain_is_one_line(tmp_path) -> None:
    _, error = _run(_file(tmp_path, f"{HEADER}\nann,,,,,,\n"), "--domain", "nowhere.test")
    assert error is not None and str(error) == "domain: no domain nowhere.test."
