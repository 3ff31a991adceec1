"""The company address book: who is listed (the account's choice, else its domain's default),
who sees it (owners their own organization, admins their scope) and the vCard export."""

from __future__ import annotations

import pytest
from django.test import Client

from domains.services import domain_update_settings
from mailboxes.models import Mailbox, MailboxKind
from mailboxes.services import mailbox_create, mailbox_deactivate, mailbox_update
from tests.personas import ACTOR, PASSWORD, World, build_world, owner_of
from tests.test_url_walk import ROUTES
from webmail_settings import addressbook_views
from webmail_settings.addressbook import address_book, escape_text, fold, is_listed
from webmail_settings.models import WebmailPreferences
from webmail_settings.services import preferences_update

OWNER_PAGE = "/me/address-book/"
OWNER_VCF = "/me/address-book.vcf"


@pytest.fixture
def world(db, domain_name: str) -> World:
    return build_world(domain_name.split(".")[0])


def _account(domain, local_part: str, **fields: str) -> Mailbox:
    return mailbox_create(
        actor=ACTOR, domain=domain, local_part=local_part, password=PASSWORD, **fields
    )


def _owner(mailbox: Mailbox) -> Client:
    client = Client()
    client.force_login(owner_of(mailbox))
    return client


def _listed(world: World) -> set[str]:
    return {m.address for m in address_book(world.acme)}


def _set_visible(mailbox: Mailbox, visible: bool) -> None:
    preferences_update(actor=ACTOR, mailbox=mailbox, changes={"address_book_visible": visible})


def _domain_default(domain, visible: bool) -> None:
    domain_update_settings(
        actor=ACTOR, domain=domain, changes={"default_address_book_visible": visible}
    )


def _unfold(vcf: str) -> list[str]:
    return vcf.replace("\r\n ", "").split("\r\n")[:-1]


# --- Who is listed ----------------------------------------------------------------------------


def test_an_account_without_a_choice_follows_its_domain_default_live(world: World) -> None:
    colleague = _account(world.acme_second, "sales")
    assert colleague.address in _listed(world)  # the default default: listed

    _domain_default(world.acme_second, False)
    assert colleague.address not in _listed(world)
    assert world.acme_mailbox.address in _listed(world)  # the other domain keeps its default
    assert not WebmailPreferences.objects.filter(mailbox=colleague).exists()

    _domain_default(world.acme_second, True)
    assert colleague.address in _listed(world)


def test_an_explicit_choice_wins_over_the_domain_default(world: World) -> None:
    hidden = _account(world.acme_domain, "hidden")
    shown = _account(world.acme_second, "shown")
    _set_visible(hidden, False)
    _domain_default(world.acme_second, False)
    _set_visible(shown, True)

    listed = _listed(world)
    assert hidden.address not in listed and not is_listed(hidden)
    assert shown.address in listed and is_listed(shown)
    _domain_default(world.acme_domain, True)
    assert hidden.address not in _listed(world)  # still its own "off"


def test_saving_another_webmail_setting_keeps_the_account_listed_as_before(world: World) -> None:
    _domain_default(world.acme_domain, False)
    preferences_update(actor=ACTOR, mailbox=world.acme_mailbox, changes={"date_format": "d.m.Y"})
    assert WebmailPreferences.objects.get(mailbox=world.acme_mailbox).address_book_visible is False
    assert world.acme_mailbox.address not in _listed(world)


def test_deactivated_and_no_reply_accounts_are_not_listed(world: World) -> None:
    gone = _account(world.acme_domain, "gone")
    noreply = _account(world.acme_domain, "noreply", kind=MailboxKind.NOREPLY)
    mailbox_deactivate(actor=ACTOR, mailbox=gone)
    listed = _listed(world)
    assert gone.address not in listed and noreply.address not in listed
    assert world.acme_mailbox.address in listed


def test_the_admin_webmail_tab_shows_the_domain_default(world: World) -> None:
    _domain_default(world.acme_domain, False)
    page = world.client("alice").get(f"/accounts/{world.acme_mailbox.pk}/webmail/")
    assert page.context["form"].initial["address_book_visible"] is False


def test_the_domain_settings_page_edits_the_default(world: World) -> None:
    url = f"/domains/{world.acme_domain.pk}/settings/"
    alice = world.client("alice")
    form = alice.get(url).context["form"]
    assert form["default_address_book_visible"].value() is True
    data = {k: v for k, v in form.initial.items() if v is not None and v is not False}
    data.pop("default_address_book_visible")  # an unticked box is absent from the POST
    response = alice.post(url, data)
    assert response.status_code == 302, response.context["form"].errors
    world.acme_domain.refresh_from_db()
    assert world.acme_domain.default_address_book_visible is False


# --- The owner's page -------------------------------------------------------------------------


def test_an_owner_sees_their_organization_only(world: World, django_assert_max_num_queries) -> None:
    colleague = _account(world.acme_second, "sales", first_name="Sam", last_name="Seller")
    hidden = _account(world.acme_domain, "hidden")
    _set_visible(hidden, False)
    client = _owner(world.acme_mailbox)
    # Session, user and the owner/2FA middleware (5), the owner's mailbox, count, page, and
    # base.html's user.owner: the same for 3 contacts or 3,000.
    with django_assert_max_num_queries(9):
        page = client.get(OWNER_PAGE)
    body = page.content.decode()
    assert page.status_code == 200
    assert colleague.address in body and "Sam Seller" in body
    assert world.acme_mailbox.address in body
    assert hidden.address not in body
    assert world.other_mailbox.address not in body
    assert world.other_domain.name not in body

    vcf = client.get(OWNER_VCF)
    assert vcf["Content-Type"] == "text/vcard; charset=utf-8"
    text = b"".join(vcf.streaming_content).decode()
    assert f"EMAIL;TYPE=work:{colleague.address}" in _unfold(text)
    assert hidden.address not in text and world.other_domain.name not in text


def test_owners_of_another_organization_see_theirs(world: World) -> None:
    body = _owner(world.other_mailbox).get(OWNER_PAGE).content.decode()
    assert world.other_mailbox.address in body
    assert world.acme_domain.name not in body


def test_the_owner_list_is_searchable_and_paginated(world: World, monkeypatch) -> None:
    monkeypatch.setattr(addressbook_views, "PAGE_SIZE", 2)
    for name in ("Ann", "Ben", "Cid"):
        _account(world.acme_domain, name.lower(), first_name=name, last_name="Zed")
    client = _owner(world.acme_mailbox)
    first = client.get(OWNER_PAGE)
    assert first.context["page_obj"].paginator.count == 4
    assert [m.local_part for m in first.context["page_obj"]] == ["info", "ann"]
    third = client.get(OWNER_PAGE, {"page": 2})
    assert [m.local_part for m in third.context["page_obj"]] == ["ben", "cid"]

    found = client.get(OWNER_PAGE, {"q": "cid@acme"})
    assert [m.local_part for m in found.context["page_obj"]] == ["cid"]
    assert found.context["export_url"] == f"{OWNER_VCF}?q=cid%40acme"
    vcf = b"".join(client.get(found.context["export_url"]).streaming_content).decode()
    assert vcf.count("BEGIN:VCARD") == 1


@pytest.mark.parametrize("person", ["alice", "bob", "charlie", "staff"])
def test_admins_get_404_on_the_owner_pages(world: World, person: str) -> None:
    for url in (OWNER_PAGE, OWNER_VCF):
        assert world.client(person).get(url).status_code == 404


# --- The admins' page -------------------------------------------------------------------------


def test_admins_see_their_organizations_list_scoped(world: World) -> None:
    second = _account(world.acme_second, "sales")
    url = f"/organizations/{world.acme.pk}/address-book/"
    alice = world.client("alice").get(url).content.decode()
    assert world.acme_mailbox.address in alice and second.address in alice
    assert world.other_mailbox.address not in alice
    # dave administers acme_second only: he sees its accounts, not the rest of Acme.
    dave = world.client("dave").get(url).content.decode()
    assert second.address in dave and world.acme_mailbox.address not in dave


@pytest.mark.parametrize("suffix", ["address-book/", "address-book.vcf"])
def test_another_tenant_gets_404(world: World, suffix: str) -> None:
    url = f"/organizations/{world.acme.pk}/{suffix}"
    assert world.client("charlie").get(url).status_code == 404
    assert _owner(world.other_mailbox).get(url).status_code == 404
    assert world.client("bob").get(url).status_code == 200
    assert world.client("alice").post(url).status_code == 405  # read-only pages


# --- vCard ------------------------------------------------------------------------------------

HOSTILE_FIRST = "Eve, the \\ boss;\r\nEND:VCARD\nBEGIN:VCARD\rFN:Mallory"
HOSTILE_LAST = "O'Brien;;\\n\x1b[31m"


def test_escape_text_follows_rfc_6350() -> None:
    assert escape_text("a,b;c\\d") == "a\\,b\\;c\\\\d"
    assert escape_text("one\r\ntwo\nthree\rfour") == "one\\ntwo\\nthree\\nfour"
    assert escape_text("bell\x07 nul\x00 del\x7f") == "bell nul del"
    assert escape_text("=cmd|' /C calc'!A0") == "=cmd|' /C calc'!A0"  # no formulas in vCard


def test_fold_keeps_lines_short_and_utf8_whole() -> None:
    line = "FN:" + "é" * 100
    folded = fold(line)
    assert all(len(part.encode()) <= 75 for part in folded.removesuffix("\r\n").split("\r\n"))
    assert folded.replace("\r\n ", "").removesuffix("\r\n") == line


def test_hostile_names_stay_inside_their_own_card(world: World) -> None:
    # The services refuse control characters in names now (tempusmail/validators.py); rows
    # written before that rule may still hold them, and the vCard must stay whole regardless.
    eve = _account(world.acme_domain, "eve", first_name="Eve", last_name="O'Brien")
    Mailbox.objects.filter(pk=eve.pk).update(first_name=HOSTILE_FIRST, last_name=HOSTILE_LAST)
    mailbox_update(
        actor=ACTOR, mailbox=world.acme_mailbox, changes={"first_name": "Ana" * 40}
    )  # a long name: folded
    response = world.client("alice").get(f"/organizations/{world.acme.pk}/address-book.vcf")
    assert response["Content-Disposition"] == 'attachment; filename="address-book.vcf"'
    raw = b"".join(response.streaming_content).decode()

    assert "\n" not in raw.replace("\r\n", "")  # no bare line break anywhere
    assert all(len(line.encode()) <= 75 for line in raw.split("\r\n"))
    lines = _unfold(raw)
    assert lines.count("BEGIN:VCARD") == 2 and lines.count("END:VCARD") == 2
    assert not any(line.startswith("FN:Mallory") for line in lines)
    assert (
        "FN:Eve\\, the \\\\ boss\\;\\nEND:VCARD\\nBEGIN:VCARD\\nFN:Mallory O'Brien\\;\\;\\\\n[31m"
        in lines
    )
    assert "N:O'Brien\\;\\;\\\\n[31m;Eve\\, the \\\\ boss\\;\\nEND:VCARD\\nBEGIN:VCARD" in "".join(
        line for line in lines if line.startswith("N:")
    )
    assert lines[:4] == [
        "BEGIN:VCARD",
        "VERSION:4.0",
        "PRODID:-//TempusMail//Company address book//EN",
        lines[3],
    ] and lines[3].startswith("UID:urn:uuid:")


# --- The URL walk -----------------------------------------------------------------------------


def test_the_url_walk_classifies_the_address_book_pages() -> None:
    assert ROUTES["owner_address_book"] == ROUTES["owner_address_book_vcard"] == "owner"
    assert ROUTES["organization_address_book"] == "tenant_read"
    assert ROUTES["organization_address_book_vcard"] == "tenant_read"
