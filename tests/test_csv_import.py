"""Creating accounts from a CSV file: every check of the preview (line and column named),
Excel's files, the two import modes, the one-time passwords file, and who may do it."""

from __future__ import annotations

import codecs
import csv
import io

import pytest
from django.test import Client

from domains.models import Domain
from imports.models import ImportMode, ImportUpload
from imports.parsing import MAX_FILE_BYTES
from jobs.models import Job, JobState
from mailboxes.models import Mailbox
from mailboxes.passwords import verify_password
from mailboxes.services import mailbox_create
from security.models import AuditEvent
from tests.personas import ACTOR, World, build_world

pytestmark = pytest.mark.django_db

HEADER = "address,first_name,last_name,quota,services,forward_to,password"


@pytest.fixture
def world(domain_name: str) -> World:
    return build_world(domain_name.split(".")[0])


def _upload(client: Client, domain: Domain, data: str | bytes, name: str = "a.csv"):
    raw = data.encode() if isinstance(data, str) else data
    response = client.post(f"/domains/{domain.pk}/import/", {"file": _file(raw, name)})
    return response


def _file(raw: bytes, name: str):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, raw, content_type="text/csv")


def _preview(world: World, data: str | bytes) -> tuple[ImportUpload, str]:
    client = world.client("alice")
    response = _upload(client, world.acme_domain, data)
    assert response.status_code == 302, response.content.decode()[:500]
    page = client.get(response["Location"])
    assert page.status_code == 200
    upload = ImportUpload.objects.get(uploaded_by=world.users["alice"])
    return upload, page.content.decode()


def _only_error(world: World, data: str) -> str:
    upload, page = _preview(world, data)
    assert len(upload.errors) == 1, upload.errors
    text = upload.errors[0]["text"]
    assert text.replace("“", "&ldquo;") in page or _escaped(text) in page
    return text


def _escaped(text: str) -> str:
    from django.utils.html import escape

    return escape(text)


def _start(world: World, upload: ImportUpload, mode: str, capture) -> Job:  # type: ignore[no-untyped-def]
    client = world.client("alice")
    with capture(execute=True):
        response = client.post(
            f"/domains/{world.acme_domain.pk}/import/{upload.pk}/start/", {"mode": mode}
        )
    assert response.status_code == 302, response.content.decode()[:800]
    return Job.objects.get(import_upload=upload)


# --- the template -----------------------------------------------------------------------------
def test_the_template_names_every_column(world: World) -> None:
    response = world.client("alice").get(f"/domains/{world.acme_domain.pk}/import/template.csv")
    assert response.status_code == 200 and "attachment" in response["Content-Disposition"]
    assert response.content.decode().strip() == HEADER


def test_the_account_list_links_to_the_import(world: World) -> None:
    page = world.client("alice").get(f"/domains/{world.acme_domain.pk}/").content.decode()
    assert f"/domains/{world.acme_domain.pk}/import/" in page


# --- every check of a line, named by line and column -----------------------------------------
def test_a_bad_address(world: World) -> None:
    text = _only_error(world, f"{HEADER}\nann,,,,,,\nbad..name,,,,,,\n")
    assert text.startswith("Line 3, column “address”") and "not allowed before the @" in text


def test_an_address_of_another_domain(world: World) -> None:
    text = _only_error(world, f"{HEADER}\nann@elsewhere.test,,,,,,\n")
    assert text.startswith("Line 2, column “address”") and world.acme_domain.name in text


def test_a_duplicate_inside_the_file(world: World) -> None:
    text = _only_error(
        world, f"{HEADER}\nann,,,,,,\nbea,,,,,,\nAnn@{world.acme_domain.name},,,,,,\n"
    )
    assert text == "Line 4, column “address”: ann is also on line 2."


def test_a_duplicate_of_an_existing_account(world: World) -> None:
    text = _only_error(world, f"{HEADER}\ninfo,,,,,,\n")
    assert text == f"Line 2, column “address”: info@{world.acme_domain.name} already exists."


def test_a_quota_above_the_plan(world: World) -> None:
    text = _only_error(world, f"{HEADER}\nann,,,20G,,,\n")
    assert text == "Line 2, column “quota”: The plan allows at most 10G per account."


def test_a_quota_that_is_no_size(world: World) -> None:
    text = _only_error(world, f"{HEADER}\nann,,,lots,,,\n")
    assert text.startswith("Line 2, column “quota”") and "is not a size" in text


def test_an_unknown_service(world: World) -> None:
    text = _only_error(world, f"{HEADER}\nann,,,,imap fax,,\n")
    assert text.startswith("Line 2, column “services”: Unknown service “fax”")


def test_a_service_outside_the_plan(world: World) -> None:
    text = _only_error(world, f"{HEADER}\nann,,,,imap activesync,,\n")
    assert text.startswith("Line 2, column “services”") and "not part of the organization" in text


def test_more_than_twenty_forwards(world: World) -> None:
    forwards = " ".join(f"f{i}@example.net" for i in range(21))
    text = _only_error(world, f"{HEADER}\nann,,,,,{forwards},\n")
    assert text == "Line 2, column “forward_to”: At most 20 forwarding addresses (21 given)."


def test_a_bad_forward_address(world: World) -> None:
    text = _only_error(world, f"{HEADER}\nann,,,,,not-an-address,\n")
    assert text.startswith("Line 2, column “forward_to”") and "not a valid e-mail" in text


def test_a_password_against_the_policy(world: World) -> None:
    text = _only_error(world, f"{HEADER}\nann,,,,,,short\n")
    assert text == "Line 2, column “password”: The password must be at least 8 characters."
    ImportUpload.objects.all().delete()
    text = _only_error(world, f"{HEADER}\nbea,,,,,,password123\n")
    assert text.startswith("Line 2, column “password”: This password is too common")


def test_a_password_close_to_the_name(world: World) -> None:
    text = _only_error(world, f"{HEADER}\nann,Annabelle,Smith,,,,Annabelle2024!\n")
    assert text.startswith("Line 2, column “password”: The password is too close")


def test_a_name_too_long(world: World) -> None:
    text = _only_error(world, f"{HEADER}\nann,{'x' * 151},,,,,\n")
    assert text == "Line 2, column “first_name”: At most 150 characters."


def test_another_encoding_names_the_line(world: World) -> None:
    data = f"{HEADER}\nann,Ann,,,,,\n".encode() + "bea,Béatrice,,,,,\n".encode("latin-1")
    text = _only_error(world, data)  # type: ignore[arg-type]
    assert text.startswith("Line 3 is not UTF-8 text") and "CSV UTF-8" in text


def test_utf16_is_refused(world: World) -> None:
    text = _only_error(world, f"{HEADER}\nann,,,,,,\n".encode("utf-16"))  # type: ignore[arg-type]
    assert text.startswith("Line 1: the file is UTF-16 text")


def test_a_line_with_another_delimiter(world: World) -> None:
    semicolons = HEADER.replace(",", ";")
    text = _only_error(world, f"{semicolons}\nann;;;;;;\nbea,,,,,,\n")
    assert text.startswith("Line 3: 1 field where the header has 7: check the delimiter")


def test_tabs_between_columns_are_refused(world: World) -> None:
    text = _only_error(world, HEADER.replace(",", "\t") + "\nann\t\t\t\t\t\t\n")
    assert text == "Line 1: the columns are separated by tabs; use ',' or ';'."


def test_an_unknown_column(world: World) -> None:
    text = _only_error(world, "address,phone\nann,123\n")
    assert text.startswith("Line 1: unknown column “phone”")


def test_the_plan_account_limit(world: World) -> None:
    plan = world.acme.plan
    plan.max_accounts = Mailbox.objects.filter(domain__organization=world.acme).count() + 1
    plan.save()
    text = _only_error(world, f"{HEADER}\nann,,,,,,\nbea,,,,,,\n")
    assert (
        text
        == f"Line 3, column “address”: The plan's limit of {plan.max_accounts} accounts is reached."
    )


def test_a_file_too_large_is_refused_before_reading(world: World) -> None:
    data = HEADER.encode() + b"\n" + b"x" * MAX_FILE_BYTES
    response = _upload(world.client("alice"), world.acme_domain, data)
    assert response.status_code == 200 and "at most 5 MB" in response.content.decode()
    assert not ImportUpload.objects.exists()


def test_the_preview_creates_nothing(world: World) -> None:
    before = Mailbox.objects.count()
    version = Domain.objects.get(pk=world.acme_domain.pk).desired_version
    upload, page = _preview(world, f"{HEADER}\nann,Ann,Lee,2G,mail webmail,a@example.net,\n")
    assert upload.rows and "1 of 1 line" in page and "ann@" in page
    assert Mailbox.objects.count() == before
    assert Domain.objects.get(pk=world.acme_domain.pk).desired_version == version


# --- Excel's files, and the imports -----------------------------------------------------------
def test_an_excel_file_with_bom_and_semicolons_imports(
    world: World, django_capture_on_commit_callbacks
) -> None:  # fmt: skip
    domain = world.acme_domain.name
    text = (
        "Address;First name;Last name;Quota;Services;Forward to;Password\r\n"
        f"ann@{domain};Ann;Lee;2G;imap smtp;ann.lee@example.net, boss@example.net;\r\n"
        "bea;Béatrice;Dupont;;;;Tr0ub4dor&3xyz\r\n"
        ";;;;;;\r\n"
    )
    upload, _ = _preview(world, codecs.BOM_UTF8 + text.encode())  # type: ignore[arg-type]
    assert upload.errors == [] and len(upload.rows) == 2, upload.errors
    job = _start(world, upload, ImportMode.VALID_LINES, django_capture_on_commit_callbacks)
    job.refresh_from_db()
    assert job.state == JobState.DONE and job.result["summary"] == "2 accounts created."
    ann = Mailbox.objects.get(domain=world.acme_domain, local_part="ann")
    assert (ann.first_name, ann.quota_bytes) == ("Ann", 2 * 1024**3)
    assert ann.forward_to == ["ann.lee@example.net", "boss@example.net"]
    assert ann.imap_enabled and ann.smtp_enabled and not ann.pop3_enabled
    assert not ann.webmail_enabled
    bea = Mailbox.objects.get(domain=world.acme_domain, local_part="bea")
    assert bea.first_name == "Béatrice" and verify_password("Tr0ub4dor&3xyz", bea.password_hash)
    assert bea.quota_bytes == world.acme_domain.default_quota_bytes
    # Only ann's password was generated; bea's, typed in the file, is not handed out again.
    rows = _download(world, job)
    assert [r["address"] for r in rows] == [ann.address]
    assert verify_password(rows[0]["password"], ann.password_hash)


def _download(world: World, job: Job) -> list[dict[str, str]]:
    client = world.client("alice")
    response = client.post(f"/jobs/{job.pk}/download/")
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    again = client.post(f"/jobs/{job.pk}/download/")
    assert again.status_code == 302  # once only
    return list(csv.DictReader(io.StringIO(response.content.decode())))


def test_valid_lines_mode_creates_the_valid_ones(
    world: World, django_capture_on_commit_callbacks
) -> None:  # fmt: skip
    upload, _ = _preview(world, f"{HEADER}\nann,,,,,,\nbad..x,,,,,,\nbea,,,,,,\ncid,,,,,,\n")
    assert len(upload.rows) == 3 and len(upload.errors) == 1
    # Between the preview and the import, someone creates bea by hand: that line fails alone.
    mailbox_create(actor=ACTOR, domain=world.acme_domain, local_part="bea", password="Xq9-long-pw1")
    job = _start(world, upload, ImportMode.VALID_LINES, django_capture_on_commit_callbacks)
    job.refresh_from_db()
    assert job.state == JobState.DONE
    assert job.result["summary"] == "2 accounts created, 1 line failed."
    assert job.result["errors"][0]["item"] == "line 4 (bea)"
    assert (job.done, job.failed) == (3, 1)
    created = set(
        Mailbox.objects.filter(domain=world.acme_domain).values_list("local_part", flat=True)
    )
    assert {"ann", "cid", "bea"} <= created
    rows = _download(world, job)
    assert sorted(r["address"].split("@")[0] for r in rows) == ["ann", "cid"]
    assert all(not r["password"].startswith(("=", "+", "-", "@", "'")) for r in rows)
    upload.refresh_from_db()
    assert upload.rows == []  # passwords typed in the file are not kept past the job


def test_all_or_nothing_with_a_failing_line_leaves_nothing(
    world: World, django_capture_on_commit_callbacks
) -> None:  # fmt: skip
    upload, _ = _preview(world, f"{HEADER}\nann,,,,,,\nbea,,,,,,\ncid,,,,,,\n")
    mailbox_create(actor=ACTOR, domain=world.acme_domain, local_part="cid", password="Xq9-long-pw1")
    version = Domain.objects.get(pk=world.acme_domain.pk).desired_version
    audits = AuditEvent.objects.filter(action="mailbox.create").count()
    job = _start(world, upload, ImportMode.ALL_OR_NOTHING, django_capture_on_commit_callbacks)
    job.refresh_from_db()
    assert job.state == JobState.FAILED and job.failed == 1
    assert job.result["summary"].startswith("Nothing was created")
    assert job.result["errors"][0]["item"] == "line 4 (cid)"
    assert not Mailbox.objects.filter(domain=world.acme_domain, local_part__in=["ann", "bea"])
    assert AuditEvent.objects.filter(action="mailbox.create").count() == audits
    assert Domain.objects.get(pk=world.acme_domain.pk).desired_version == version
    assert job.download == ""


def test_all_or_nothing_creates_all_in_one_provisioning_change(
    world: World, django_capture_on_commit_callbacks
) -> None:  # fmt: skip
    upload, _ = _preview(world, f"{HEADER}\nann,,,,,,\nbea,,,,,,\n")
    version = Domain.objects.get(pk=world.acme_domain.pk).desired_version
    job = _start(world, upload, ImportMode.ALL_OR_NOTHING, django_capture_on_commit_callbacks)
    job.refresh_from_db()
    assert job.state == JobState.DONE and job.result["summary"] == "2 accounts created."
    # one version per account, all in one commit: the node gets them in one send
    assert Domain.objects.get(pk=world.acme_domain.pk).desired_version == version + 2
    assert (
        Mailbox.objects.filter(domain=world.acme_domain, local_part__in=["ann", "bea"]).count() == 2
    )
    assert len(_download(world, job)) == 2


def test_all_or_nothing_is_refused_when_lines_are_rejected(world: World) -> None:
    upload, _ = _preview(world, f"{HEADER}\nann,,,,,,\nbad..x,,,,,,\n")
    response = world.client("alice").post(
        f"/domains/{world.acme_domain.pk}/import/{upload.pk}/start/",
        {"mode": ImportMode.ALL_OR_NOTHING},
    )
    assert response.status_code == 400 and "would create nothing" in response.content.decode()
    assert not Job.objects.exists()


def test_an_upload_is_imported_once(world: World, django_capture_on_commit_callbacks) -> None:
    upload, _ = _preview(world, f"{HEADER}\nann,,,,,,\n")
    job = _start(world, upload, ImportMode.VALID_LINES, django_capture_on_commit_callbacks)
    again = world.client("alice").get(f"/domains/{world.acme_domain.pk}/import/{upload.pk}/")
    assert again.status_code == 302 and again["Location"] == f"/jobs/{job.pk}/"
    response = world.client("alice").post(
        f"/domains/{world.acme_domain.pk}/import/{upload.pk}/start/", {"mode": "valid_lines"}
    )
    assert response.status_code == 400 and Job.objects.count() == 1


# --- who may ----------------------------------------------------------------------------------
def test_another_tenant_gets_404_and_read_only_403(world: World) -> None:
    upload, _ = _preview(world, f"{HEADER}\nann,,,,,,\n")
    base = f"/domains/{world.acme_domain.pk}/import/"
    charlie, bob = world.client("charlie"), world.client("bob")
    assert charlie.get(base).status_code == 404
    assert charlie.get(f"{base}{upload.pk}/").status_code == 404
    assert charlie.post(f"{base}{upload.pk}/start/", {"mode": "valid_lines"}).status_code == 404
    assert bob.get(base).status_code == 403
    assert _upload(bob, world.acme_domain, f"{HEADER}\nx,,,,,,\n").status_code == 403
    assert bob.post(f"{base}{upload.pk}/start/", {"mode": "valid_lines"}).status_code == 403
    assert world.client("alice").get(f"{base}{upload.pk}/start/").status_code == 405
    assert world.client("anonymous").get(base).status_code == 302


def test_an_upload_is_its_uploaders_alone(world: World) -> None:
    upload, _ = _preview(world, f"{HEADER}\nann,,,,,,\n")
    staff = world.client("staff")
    base = f"/domains/{world.acme_domain.pk}/import/"
    response = staff.get(f"{base}{upload.pk}/")
    assert response.status_code == 302 and response["Location"] == base
    assert staff.post(f"{base}{upload.pk}/start/", {"mode": "valid_lines"}).status_code == 302
    assert not Job.objects.exists()
    # and on another domain, alice's own upload is not found either
    other = f"/domains/{world.acme_second.pk}/import/{upload.pk}/"
    assert world.client("alice").get(other).status_code == 302


def test_an_upload_nobody_imports_is_forgotten_after_a_day(world: World) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from imports.services import UPLOAD_KEEP, forget_stale_uploads

    upload, _ = _preview(world, f"{HEADER}\nann,,,,,,typed-password-here-9\n")
    assert forget_stale_uploads() == 0  # fresh
    later = timezone.now() + UPLOAD_KEEP + timedelta(minutes=1)
    assert forget_stale_uploads(now=later) == 1
    assert not ImportUpload.objects.filter(pk=upload.pk).exists()
