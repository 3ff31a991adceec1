"""Mailbox owners log in to the panel with their address and mailbox password.

Covers who may log in (state, kind, IP restrictions), what an owner can reach (their own
page only), and the forced password change at the next panel login, whose new password
reaches the mail servers through the loop (the live test proves it over IMAP).
"""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from mailboxes.models import Mailbox, MailboxKind, MailboxState
from mailboxes.passwords import verify_password
from mailboxes.services import mailbox_create, mailbox_deactivate, mailbox_update
from owners.models import Owner
from security.models import AuditEvent
from tests.personas import ACTOR, PASSWORD, World, build_world

NEW_PASSWORD = "a-brand-new-password-7"


@pytest.fixture
def world(db, domain_name: str) -> World:
    return build_world(domain_name.split(".")[0])


def _login(address: str, password: str = PASSWORD, **extra) -> tuple[Client, object]:
    client = Client(**extra)
    response = client.post("/login/", {"username": address, "password": password})
    return client, response


def _logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def test_owner_logs_in_with_address_and_mailbox_password(world: World) -> None:
    client, response = _login(world.acme_mailbox.address)
    assert response.status_code == 302 and _logged_in(client)
    page = client.get("/", follow=True)
    assert page.redirect_chain[-1][0] == "/me/"
    assert world.acme_mailbox.address in page.content.decode()
    assert "Organizations" not in page.content.decode()  # no admin navigation
    owner = Owner.objects.get(mailbox=world.acme_mailbox)
    assert not owner.user.has_usable_password()  # the mailbox hash is the only credential
    # A second login reuses the same panel user.
    _login(world.acme_mailbox.address)
    assert get_user_model().objects.filter(owner__mailbox=world.acme_mailbox).count() == 1


@pytest.mark.parametrize("address", ["nobody@{domain}", "info@{domain}"])
def test_wrong_address_and_wrong_password_get_the_same_answer(world: World, address) -> None:
    client, response = _login(address.format(domain=world.acme_domain.name), "wrong-password-1")
    assert response.status_code == 200 and not _logged_in(client)
    assert "correct username and password" in response.content.decode()
    assert not Owner.objects.exists()


def test_a_deactivated_account_cannot_log_in(world: World) -> None:
    mailbox_deactivate(actor=ACTOR, mailbox=world.acme_mailbox)
    client, response = _login(world.acme_mailbox.address)
    assert not _logged_in(client)
    assert "correct username and password" in response.content.decode()


def test_a_noreply_account_cannot_log_in(world: World) -> None:
    noreply = mailbox_create(
        actor=ACTOR, domain=world.acme_domain, local_part="noreply", password=PASSWORD,
        kind=MailboxKind.NOREPLY,
    )  # fmt: skip
    client, _ = _login(noreply.address)
    assert not _logged_in(client)


def test_ip_restrictions_apply_to_the_panel_login(world: World) -> None:
    mailbox_update(
        actor=ACTOR, mailbox=world.acme_mailbox, changes={"allowed_networks": ["10.1.0.0/16"]}
    )
    client, _ = _login(world.acme_mailbox.address)  # the test client comes from 127.0.0.1
    assert not _logged_in(client)
    client, _ = _login(world.acme_mailbox.address, REMOTE_ADDR="10.1.2.3")
    assert _logged_in(client)


def test_an_owner_reaches_only_their_own_page(world: World) -> None:
    client, _ = _login(world.acme_mailbox.address)
    assert client.get("/me/").status_code == 200
    for url in (
        f"/organizations/{world.acme.pk}/",
        f"/domains/{world.acme_domain.pk}/",
        f"/accounts/{world.acme_mailbox.pk}/",
        f"/accounts/{world.other_mailbox.pk}/",
    ):
        assert client.get(url).status_code == 404, url
    assert "Acme" not in client.get("/organizations/").content.decode()


def test_admins_have_no_owner_page(world: World) -> None:
    assert world.client("alice").get("/me/").status_code == 404


def test_deactivating_the_account_ends_the_owners_session(world: World) -> None:
    client, _ = _login(world.acme_mailbox.address)
    mailbox_deactivate(actor=ACTOR, mailbox=Mailbox.objects.get(pk=world.acme_mailbox.pk))
    response = client.get("/me/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert not _logged_in(client)


def test_forced_change_sends_the_owner_to_the_password_page_until_changed(world: World) -> None:
    mailbox_update(actor=ACTOR, mailbox=world.acme_mailbox, changes={"force_password_change": True})
    client, _ = _login(world.acme_mailbox.address)
    for url in ("/", "/me/", "/organizations/"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"] == "/me/password/", url
    page = client.get("/me/password/").content.decode()
    assert "asks you to choose a new password" in page

    form = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    bad = [
        ({**form, "current_password": "not-it-at-all", "new_password_again": NEW_PASSWORD},
         "This is not your current password."),
        ({**form, "new_password_again": "something-else-9"}, "The two passwords differ."),
        ({**form, "new_password": PASSWORD, "new_password_again": PASSWORD},
         "Choose a password you have not used here."),
        ({**form, "new_password": "short", "new_password_again": "short"}, "at least"),
    ]  # fmt: skip
    before = Mailbox.objects.get(pk=world.acme_mailbox.pk)
    for data, message in bad:
        response = client.post("/me/password/", data)
        assert response.status_code == 200 and message in response.content.decode(), message
        assert 'class="field-error"' in response.content.decode()
    assert Mailbox.objects.get(pk=before.pk).password_hash == before.password_hash

    response = client.post("/me/password/", {**form, "new_password_again": NEW_PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/me/"
    after = Mailbox.objects.get(pk=before.pk)
    assert verify_password(NEW_PASSWORD, after.password_hash)
    assert not after.force_password_change
    assert after.changed_version > before.changed_version  # sent to the mail servers
    assert client.get("/me/").status_code == 200
    event = AuditEvent.objects.filter(action="mailbox.set_password").latest("pk")
    assert event.object_id == str(after.pk) and NEW_PASSWORD not in str(event.changes)


def test_an_expired_password_logs_in_to_the_panel_only_to_be_changed(world: World) -> None:
    Mailbox.objects.filter(pk=world.acme_mailbox.pk).update(password_expired=True)
    client, _ = _login(world.acme_mailbox.address)
    assert _logged_in(client)
    assert client.get("/me/")["Location"] == "/me/password/"
    assert "has expired" in client.get("/me/password/").content.decode()
    client.post(
        "/me/password/",
        {"current_password": PASSWORD, "new_password": NEW_PASSWORD,
         "new_password_again": NEW_PASSWORD},
    )  # fmt: skip
    mailbox = Mailbox.objects.get(pk=world.acme_mailbox.pk)
    assert not mailbox.password_expired
    assert mailbox.state == MailboxState.ACTIVE
    assert client.get("/me/").status_code == 200
