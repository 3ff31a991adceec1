"""An admin in headless Chromium imports accounts from a CSV: a bad line is shown with its line
and column, the fixed file passes, the import's progress bar finishes, and the generated
passwords are downloaded once."""

from __future__ import annotations

import codecs
import csv
import io

import pytest
from django.contrib.auth import get_user_model

from domains.services import domain_create
from mailboxes.models import Mailbox
from mailboxes.passwords import verify_password
from organizations.models import Membership, Plan, Role
from organizations.services import organization_create
from security.audit import Actor

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
ACTOR = Actor(label="test")
PASSWORD = "admin-password-1"
HEADER = "Address;First name;Last name;Quota;Services;Forward to;Password"


def _csv(*lines: str) -> dict[str, object]:
    text = "\r\n".join([HEADER, *lines]) + "\r\n"
    return {"name": "people.csv", "mimeType": "text/csv",
            "buffer": codecs.BOM_UTF8 + text.encode()}  # fmt: skip


def test_admin_fixes_a_bad_line_imports_and_downloads_the_passwords(
    live_server, page, domain_name
) -> None:  # fmt: skip
    plan = Plan.objects.create(name="Browser plan", max_quota_bytes=5 * 1024**3)
    org = organization_create(actor=ACTOR, name=f"Import {domain_name}", plan=plan)
    domain = domain_create(actor=ACTOR, name=domain_name, organization=org)
    user = get_user_model().objects.create_user("alice", password=PASSWORD)
    Membership.objects.create(user=user, organization=org, role=Role.ADMIN)
    base = live_server.url

    page.goto(f"{base}/login/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.goto(f"{base}/domains/{domain.pk}/")
    page.click("text=Import CSV")
    page.wait_for_selector("text=Download the CSV template")
    page.shoot("upload")

    good = ["ann;Ann;Lee;2G;mail webmail;;", "bea;Béatrice;Dupont;;;;"]
    page.set_input_files("#id_file", files=[_csv(*good, "cid;Cid;Roy;50G;;;")])
    page.click("text=Check the file")
    page.wait_for_selector("text=Check the import")
    errors = page.inner_text("table.import-errors")
    assert "Line 4, column “quota”: The plan allows at most 5G per account." in errors
    assert "2 of 3 lines" in page.inner_text(".import-status")
    page.shoot("preview-with-error")

    page.set_input_files("#id_file", files=[_csv(*good, "cid;Cid;Roy;1G;;;")])
    page.click("button:has-text('Upload again')")
    page.wait_for_load_state()
    page.shoot("after-reupload")
    page.wait_for_selector("text=3 of 3 lines")
    assert page.locator("table.import-errors").count() == 0
    page.check("input[value=all_or_nothing]")
    page.shoot("preview-clean")
    page.click("button:has-text('Import')")

    page.wait_for_selector("#job-progress progress[value='100']")
    page.wait_for_selector("text=3 accounts created.")
    page.shoot("job-finished")
    with page.expect_download() as info:
        page.click("text=Download passwords-")
    download = info.value
    with open(download.path(), encoding="utf-8") as file:
        rows = list(csv.DictReader(io.StringIO(file.read())))
    assert sorted(r["address"] for r in rows) == [
        f"{n}@{domain_name}" for n in ("ann", "bea", "cid")
    ]
    for row in rows:
        mailbox = Mailbox.objects.get(domain=domain, local_part=row["address"].split("@")[0])
        assert verify_password(row["password"], mailbox.password_hash)
    page.wait_for_load_state()
    page.reload()
    assert page.locator("text=Download passwords-").count() == 0  # kept for one download
    page.shoot("after-download")
