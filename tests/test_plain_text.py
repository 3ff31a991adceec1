"""Bad input, everywhere (issue 19): control characters are refused at their field in every
one-line value (pages, API and CSV alike), multi-line values keep only tabs and line breaks, and
a forward to an address of a domain TempusMail serves must reach an account."""

from __future__ import annotations

import json
import os

import pytest
from django.core.exceptions import ValidationError

from api.services import api_key_create
from domains.services import domain_update_settings
from mailboxes.models import Mailbox, MailboxKind
from mailboxes.rules import undeliverable_local_addresses
from mailboxes.services import mailbox_create, mailbox_update
from organizations.services import organization_create
from security.models import AuditEvent
from tempusmail.validators import validate_multi_line, validate_one_line
from tests.personas import ACTOR, PASSWORD, World, build_world
from webmail_settings.corporate_services import contact_details_update, signature_template_create
from webmail_settings.services import identity_create, signature_create

pytestmark = pytest.mark.django_db

CONTROLS = ["\x00", "\t", "\n", "\r", "\x1b", "\x7f", "\x85", "\x9f", "\u2028", "\ud800"]


@pytest.fixture
def world(domain_name: str) -> World:
    return build_world(domain_name.split(".")[0])


# --- the rule ---------------------------------------------------------------------------------
@pytest.mark.parametrize("char", CONTROLS, ids=lambda c: f"U+{ord(c):04X}")
def test_one_line_text_refuses_every_control_character(char: str) -> None:
    with pytest.raises(ValidationError) as caught:
        validate_one_line(f"Ann{char}Smith")
    assert "one line of plain text" in caught.value.messages[0]


def test_text_people_write_is_accepted() -> None:
    for text in ["Zoë Ünal", "שלום עולם", "مرحبا", "😀 𝔘𝔫𝔦", "e\u0301\u0327", "'; DROP TABLE x;--",
                 "<script>alert(1)</script>", "{{7*7}}", "%00 ../../etc"]:  # fmt: skip
        validate_one_line(text)
        validate_multi_line(text)


def test_multi_line_text_keeps_tabs_and_line_breaks_only() -> None:
    validate_multi_line("Dear all,\r\n\tback on Monday.\n")
    for char in ["\x00", "\x0b", "\x0c", "\x1b", "\x7f", "\x85", "\ud800"]:
        with pytest.raises(ValidationError):
            validate_multi_line(f"back{char}soon")


# --- every model's full_clean, through its service ----------------------------------------------
def _refused(field: str, write) -> None:  # type: ignore[no-untyped-def]
    events = AuditEvent.objects.count()
    with pytest.raises(ValidationError) as caught:
        write()
    assert field in caught.value.message_dict, caught.value
    assert AuditEvent.objects.count() == events


def test_each_service_refuses_control_characters_at_the_field(world: World) -> None:
    box = world.acme_mailbox
    _refused("name", lambda: organization_create(actor=ACTOR, name="Evil\r\nCorp"))
    injected = "Ann\r\nBcc: x@evil.test"
    _refused("display_name", lambda: identity_create(
        actor=ACTOR, mailbox=box, display_name=injected, address=box.address))  # fmt: skip
    identity = identity_create(actor=ACTOR, mailbox=box, display_name="Ann", address=box.address)
    _refused("name", lambda: signature_create(
        actor=ACTOR, identity=identity, name="Work\x1b[2J", html="<p>Hi</p>"))  # fmt: skip
    _refused("html", lambda: signature_create(
        actor=ACTOR, identity=identity, name="Work", html="<p>Hi\x07</p>"))  # fmt: skip
    for field in ("title", "department", "phone"):
        _refused(field, lambda f=field: contact_details_update(
            actor=ACTOR, mailbox=box, changes={f: "Boss\nX-Header: 1"}))  # fmt: skip
    _refused("address", lambda: contact_details_update(
        actor=ACTOR, mailbox=box, changes={"address": "Main St 1\x00"}))  # fmt: skip
    contact_details_update(actor=ACTOR, mailbox=box, changes={"address": "Main St 1\n1000 City"})
    _refused("name", lambda: signature_template_create(
        actor=ACTOR, domain=world.acme_domain, name="Co\x85rp", html="<p>{last_name}</p>",
    ))  # fmt: skip
    _refused("name", lambda: api_key_create(actor=ACTOR, organization=world.acme, name="k\ty"))
    for field in ("first_name", "last_name", "autoreply_subject"):
        _refused(field, lambda f=field: mailbox_update(
            actor=ACTOR, mailbox=box, changes={f: "Away\r\nBcc: x@evil.test"}))  # fmt: skip
    _refused("autoreply_body", lambda: mailbox_update(
        actor=ACTOR, mailbox=box, changes={"autoreply_body": "Away\x00"}))  # fmt: skip
    mailbox_update(actor=ACTOR, mailbox=box, changes={"autoreply_body": "Away.\r\n\tBack soon."})
    _refused("first_name", lambda: mailbox_create(
        actor=ACTOR, domain=world.acme_domain, local_part="ann", password=PASSWORD,
        first_name="Ann\u2028Smith"))  # fmt: skip


# --- the pages, the API and CSV ---------------------------------------------------------------
def test_the_account_page_shows_the_error_next_to_the_name(world: World) -> None:
    box = world.acme_mailbox
    page = world.client("alice").post(
        f"/accounts/{box.pk}/", {"first_name": "Ann\nBcc: x@evil.test", "language": "en",
                                 "time_zone": "UTC", "quota": "1G"},
    )  # fmt: skip
    assert page.status_code == 200
    assert 'id="id_first_name_error"' in page.content.decode()
    assert "Remove a line break" in page.content.decode()
    box.refresh_from_db()
    assert box.first_name == ""


def test_the_api_names_the_field(world: World, settings) -> None:
    settings.API_RATE_LIMIT_REDIS_URL = os.environ.get(
        "TEST_MAILNODE_REDIS_URL", "redis://127.0.0.1:6379/12"
    )
    key = api_key_create(actor=ACTOR, organization=world.acme, name="crm").text
    from django.test import Client

    client = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    url = f"/api/v1/domains/{world.acme_domain.name}/accounts/info"
    body = {"last_name": "Smith\r\nX: 1", "autoreply_body": "ok\tfine\n"}
    answer = client.patch(url, json.dumps(body), content_type="application/json")
    assert answer.status_code == 400
    assert "last_name" in answer.json()["error"]["fields"]
    assert "autoreply_body" not in answer.json()["error"]["fields"]


def test_a_csv_line_names_the_line_and_the_column(world: World) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    from imports.models import ImportUpload

    data = b'address,first_name,last_name\nann,"Ann\nBcc: x@evil.test",Smith\n'
    client = world.client("alice")
    client.post(f"/domains/{world.acme_domain.pk}/import/",
                {"file": SimpleUploadedFile("a.csv", data, content_type="text/csv")})  # fmt: skip
    upload = ImportUpload.objects.get(uploaded_by=world.users["alice"])
    assert [e["text"] for e in upload.errors] == [
        "Line 2, column “first_name”: Remove a line break: this field takes one line of plain text."
    ]


# --- forwards inside the domains TempusMail serves ----------------------------------------------
def test_a_forward_to_an_unknown_local_address_is_refused(world: World) -> None:
    box, other = world.acme_mailbox, world.other_mailbox
    colleague = mailbox_create(actor=ACTOR, domain=world.acme_domain, local_part="boss",
                               password=PASSWORD)  # fmt: skip
    unknown = f"nobody@{world.acme_second.name}"
    with pytest.raises(ValidationError) as caught:
        mailbox_update(actor=ACTOR, mailbox=box, changes={"forward_to": [unknown]})
    assert caught.value.message_dict["forward_to"] == [
        f"There is no account {unknown}: mail forwarded to it would bounce."
    ]
    # Another tenant's domain is served here too: its unknown address would bounce as well.
    assert undeliverable_local_addresses([f"ghost@{world.other_domain.name}"])
    targets = [colleague.address, other.address, "someone@example.org"]
    mailbox_update(actor=ACTOR, mailbox=box, changes={"forward_to": targets})
    assert Mailbox.objects.get(pk=box.pk).forward_to == targets


def test_a_catch_all_domain_takes_any_address_and_no_reply_takes_none(world: World) -> None:
    second = world.acme_second
    catcher = mailbox_create(actor=ACTOR, domain=second, local_part="all", password=PASSWORD)
    domain_update_settings(actor=ACTOR, domain=second,
                           changes={"catchall_target": catcher.address})  # fmt: skip
    assert undeliverable_local_addresses([f"anyone@{second.name}"]) == []
    noreply = mailbox_create(actor=ACTOR, domain=world.acme_domain, local_part="no-reply",
                             password=PASSWORD, kind=MailboxKind.NOREPLY)  # fmt: skip
    assert undeliverable_local_addresses([noreply.address]) == [
        f"{noreply.address} is a no-reply address: it accepts no mail."
    ]
    with pytest.raises(ValidationError) as caught:
        domain_update_settings(actor=ACTOR, domain=world.acme_domain,
                               changes={"catchall_target": noreply.address})  # fmt: skip
    assert "no-reply" in caught.value.message_dict["catchall_target"][0]


def test_a_forward_that_lost_its_account_does_not_block_other_edits(world: World) -> None:
    box = world.acme_mailbox
    gone = mailbox_create(actor=ACTOR, domain=world.acme_domain, local_part="gone",
                          password=PASSWORD)  # fmt: skip
    mailbox_update(actor=ACTOR, mailbox=box, changes={"forward_to": [gone.address]})
    Mailbox.objects.filter(pk=gone.pk).delete()  # as if deleted since
    box.refresh_from_db()
    mailbox_update(actor=ACTOR, mailbox=box,
                   changes={"forward_to": [gone.address], "forward_keep_copy": False})  # fmt: skip
    assert not Mailbox.objects.get(pk=box.pk).forward_keep_copy


def test_the_forwarding_page_shows_the_refusal_at_the_field(world: World) -> None:
    box = world.acme_mailbox
    unknown = f"nobody@{world.acme_domain.name}"
    page = world.client("alice").post(f"/accounts/{box.pk}/forwarding/", {"forward_to": unknown})
    assert page.status_code == 200
    assert 'id="id_forward_to_error"' in page.content.decode()
    assert Mailbox.objects.get(pk=box.pk).forward_to == []
