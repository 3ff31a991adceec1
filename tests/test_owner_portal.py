"""The mailbox owner's portal: /me/ and its settings pages.

The owner edits their own autoresponder, forwarding and webmail settings with the admin's forms
(same validation, same limits) through the same services; admins and other owners never reach
them. The live test proves an autoresponder set in the portal answers over SMTP.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.test import Client

from mailboxes.models import Mailbox
from mailboxes.services import mailbox_update
from mailboxes.validators import MAX_FORWARDS
from security.models import AuditEvent
from tests.personas import ACTOR, PASSWORD, World, build_world, owner_of
from webmail_settings.models import WebmailPreferences

PAGES = ["/me/", "/me/autoresponder/", "/me/forwarding/", "/me/webmail/"]


@pytest.fixture
def world(db, domain_name: str) -> World:
    return build_world(domain_name.split(".")[0])


def _owner(mailbox: Mailbox) -> Client:
    client = Client()
    client.force_login(owner_of(mailbox))
    return client


def _fresh(mailbox: Mailbox) -> Mailbox:
    return Mailbox.objects.get(pk=mailbox.pk)


def _errors(response) -> dict[str, list[str]]:
    return response.context["form"].errors


def _autoreply(**fields: str) -> dict[str, str]:
    return {"autoreply_enabled": "on", "autoreply_subject": "Away", "autoreply_body": "Back soon",
            **fields}  # fmt: skip


# --- The portal -------------------------------------------------------------------------------


def test_home_shows_usage_and_links_to_every_section(world: World) -> None:
    response = _owner(world.acme_mailbox).get("/me/")
    page = response.content.decode()
    assert response.status_code == 200
    assert "Storage used" in page and "Sent in 24 h" in page and "Last access" in page
    for url in ("/me/autoresponder/", "/me/forwarding/", "/me/webmail/", "/me/password/",
                "/two-factor/"):  # fmt: skip
        assert f'href="{url}"' in page


@pytest.mark.parametrize("url", PAGES[1:])
def test_each_settings_page_shows_its_form(world: World, url: str) -> None:
    response = _owner(world.acme_mailbox).get(url)
    assert response.status_code == 200
    assert world.acme_mailbox.address in response.content.decode()


# --- Autoresponder ----------------------------------------------------------------------------


def test_autoresponder_saves_in_the_account_time_zone(world: World) -> None:
    mailbox_update(actor=ACTOR, mailbox=world.acme_mailbox, changes={"time_zone": "Europe/Berlin"})
    client = _owner(world.acme_mailbox)
    data = _autoreply(autoreply_start="2027-01-15T09:00", autoreply_end="2027-01-15T17:00")
    response = client.post("/me/autoresponder/", data)
    assert response.status_code == 302 and response["Location"] == "/me/autoresponder/"
    mailbox = _fresh(world.acme_mailbox)
    assert mailbox.autoreply_enabled and mailbox.autoreply_subject == "Away"
    assert mailbox.autoreply_start == datetime(2027, 1, 15, 8, 0, tzinfo=UTC)  # CET is UTC+1
    assert mailbox.autoreply_end == datetime(2027, 1, 15, 16, 0, tzinfo=UTC)
    # Shown again as the owner entered it, in their zone.
    page = client.get("/me/autoresponder/").content.decode()
    assert 'value="2027-01-15T09:00"' in page and "Europe/Berlin" in page
    event = AuditEvent.objects.filter(action="mailbox.update").latest("pk")
    assert event.actor == owner_of(world.acme_mailbox)


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        (_autoreply(autoreply_start="2027-01-15T17:00", autoreply_end="2027-01-15T09:00"),
         "autoreply_end", "The end must be after the start."),
        (_autoreply(autoreply_subject=""), "autoreply_subject", "needs a subject"),
        (_autoreply(autoreply_start="tomorrow"), "autoreply_start", "valid date/time"),
        (_autoreply(autoreply_start="2027-03-28T02:30"), "autoreply_start", "does not exist"),
    ],
)  # fmt: skip
def test_autoresponder_refuses_bad_input_next_to_the_field(
    world: World, data: dict[str, str], field: str, message: str
) -> None:
    mailbox_update(actor=ACTOR, mailbox=world.acme_mailbox, changes={"time_zone": "Europe/Berlin"})
    response = _owner(world.acme_mailbox).post("/me/autoresponder/", data)
    assert response.status_code == 200
    assert message in " ".join(_errors(response)[field])
    assert not _fresh(world.acme_mailbox).autoreply_enabled


# --- Forwarding -------------------------------------------------------------------------------


def test_forwarding_saves_the_addresses(world: World) -> None:
    data = {"forward_to": "Boss@Example.test, deputy@example.test", "forward_keep_copy": "on"}
    response = _owner(world.acme_mailbox).post("/me/forwarding/", data)
    assert response.status_code == 302
    mailbox = _fresh(world.acme_mailbox)
    assert len(mailbox.forward_to) == 2 and mailbox.forward_keep_copy
    assert mailbox.changed_version > world.acme_mailbox.changed_version  # on its way to the nodes


@pytest.mark.parametrize(
    "forward_to",
    ["\n".join(f"user{i}@example.test" for i in range(MAX_FORWARDS + 1)), "not an address"],
    ids=["too-many", "invalid"],
)
def test_forwarding_refuses_what_the_admin_form_refuses(world: World, forward_to: str) -> None:
    response = _owner(world.acme_mailbox).post("/me/forwarding/", {"forward_to": forward_to})
    assert response.status_code == 200
    assert _errors(response)["forward_to"]
    assert _fresh(world.acme_mailbox).forward_to == []


# --- Webmail settings -------------------------------------------------------------------------


def test_webmail_settings_save_and_show_the_domain_defaults(world: World) -> None:
    client = _owner(world.acme_mailbox)
    page = client.get("/me/webmail/").content.decode()
    assert f"Domain default: {world.acme_domain.default_time_zone}" in page
    assert "address_book_visible" not in page  # the organization decides who is listed
    data = {"language": "de", "time_zone": "Europe/Vienna", "date_format": "d.m.Y",
            "time_format": "h:i A"}  # fmt: skip
    assert client.post("/me/webmail/", data).status_code == 302
    mailbox = _fresh(world.acme_mailbox)
    assert (mailbox.language, mailbox.time_zone) == ("de", "Europe/Vienna")
    prefs = WebmailPreferences.objects.get(mailbox=mailbox)
    assert (prefs.date_format, prefs.time_format) == ("d.m.Y", "h:i A")


def test_webmail_settings_refuse_an_unknown_time_zone(world: World) -> None:
    data = {"language": "en", "time_zone": "Mars/Olympus", "date_format": "Y-m-d",
            "time_format": "H:i"}  # fmt: skip
    response = _owner(world.acme_mailbox).post("/me/webmail/", data)
    assert response.status_code == 200 and _errors(response)["time_zone"]
    assert _fresh(world.acme_mailbox).time_zone == "UTC"
    assert not WebmailPreferences.objects.filter(mailbox=world.acme_mailbox).exists()


# --- Who reaches what -------------------------------------------------------------------------


@pytest.mark.parametrize("person", ["alice", "bob", "charlie", "staff"])
@pytest.mark.parametrize("url", PAGES)
def test_admins_get_404_on_the_owner_pages(world: World, person: str, url: str) -> None:
    client = world.client(person)
    assert client.get(url).status_code == 404
    assert client.post(url, _autoreply()).status_code == 404


def test_an_owner_sees_and_changes_only_their_own_mailbox(world: World) -> None:
    other = world.other_mailbox
    mailbox_update(actor=ACTOR, mailbox=other, changes=_secret_settings())
    client = _owner(world.acme_mailbox)
    for url in PAGES:
        page = client.get(url).content.decode()
        assert "other-secret" not in page and other.address not in page
    client.post("/me/autoresponder/", _autoreply(autoreply_subject="Mine"))
    client.post("/me/forwarding/", {"forward_to": "mine@example.test"})
    assert _fresh(world.acme_mailbox).autoreply_subject == "Mine"
    untouched = _fresh(other)
    assert untouched.autoreply_subject == "other-secret"
    assert untouched.forward_to == ["other-secret@example.test"]


def _secret_settings() -> dict[str, object]:
    return {"autoreply_enabled": True, "autoreply_subject": "other-secret",
            "forward_to": ["other-secret@example.test"]}  # fmt: skip


# --- Live: the autoresponder set in the portal answers over SMTP -------------------------------


@pytest.mark.live
def test_an_autoresponder_set_in_the_portal_replies_over_smtp(live, domain_name: str) -> None:
    from django.core.management import call_command

    from domains.services import domain_create
    from mailboxes.services import mailbox_create
    from organizations.services import organization_create
    from tests.mailclient import fetch_messages, send_message, wait_until
    from tests.test_loop_live import _message

    org = organization_create(actor=ACTOR, name=f"Org {domain_name}")
    domain = domain_create(actor=ACTOR, name=domain_name, organization=org)
    zone = "America/New_York"
    away = mailbox_create(actor=ACTOR, domain=domain, local_part="away", password=PASSWORD,
                          settings={"time_zone": zone})  # fmt: skip
    sender = mailbox_create(actor=ACTOR, domain=domain, local_part="sender", password=PASSWORD)

    client = Client()
    login = client.post("/login/", {"username": away.address, "password": PASSWORD})
    assert login.status_code == 302
    local_now = datetime.now(ZoneInfo(zone)).replace(tzinfo=None, second=0, microsecond=0)
    data = _autoreply(
        autoreply_subject="Out of office (portal)",
        autoreply_start=f"{local_now - timedelta(hours=1):%Y-%m-%dT%H:%M}",
        autoreply_end=f"{local_now + timedelta(days=1):%Y-%m-%dT%H:%M}",
    )
    assert client.post("/me/autoresponder/", data).status_code == 302
    call_command("provision", "wait", "--timeout", "15")

    ports = live.ports
    msg = _message(sender.address, away.address, "are you there?")
    send_message(ports, msg, sender=sender.address, to=away.address)

    def replies() -> list:
        return [m for m in fetch_messages(ports, sender.address, PASSWORD) if m["Auto-Submitted"]]

    assert wait_until(lambda: len(replies()) == 1, timeout=10)
    assert replies()[0]["Subject"] == "Out of office (portal)"
