"""What an owner may change themselves: the password and forwarding, as the admin allows."""

from __future__ import annotations

import pytest
from django.test import Client

from mailboxes.models import Mailbox
from mailboxes.passwords import verify_password
from mailboxes.services import mailbox_update
from tests.personas import ACTOR, PASSWORD, World, build_world, owner_of

NEW = "a-fresh-password-for-me-8"
CHANGE = {"current_password": PASSWORD, "new_password": NEW, "new_password_again": NEW}


@pytest.fixture
def world(db, domain_name: str) -> World:
    return build_world(domain_name.split(".")[0])


def _owner(mailbox: Mailbox) -> Client:
    client = Client()
    client.force_login(owner_of(mailbox))
    return client


def _fresh(mailbox: Mailbox) -> Mailbox:
    return Mailbox.objects.get(pk=mailbox.pk)


def test_an_owner_may_not_change_a_password_the_admin_manages(world: World) -> None:
    mailbox = world.acme_mailbox
    mailbox_update(actor=ACTOR, mailbox=mailbox, changes={"owner_may_change_password": False})
    client = _owner(mailbox)
    page = client.get("/me/password/").content.decode()
    assert "Your administrator manages the password" in page and "new_password" not in page
    response = client.post("/me/password/", CHANGE)
    assert "Your administrator manages the password" in response.content.decode()
    assert verify_password(PASSWORD, _fresh(mailbox).password_hash)


def test_a_forced_change_is_allowed_even_then(world: World) -> None:
    mailbox = world.acme_mailbox
    mailbox_update(
        actor=ACTOR, mailbox=mailbox,
        changes={"owner_may_change_password": False, "force_password_change": True},
    )  # fmt: skip
    response = _owner(mailbox).post("/me/password/", CHANGE)
    assert response.status_code == 302
    assert verify_password(NEW, _fresh(mailbox).password_hash)


def test_forwarding_the_admin_manages_stays_as_it_is(world: World) -> None:
    mailbox = world.acme_mailbox
    mailbox_update(
        actor=ACTOR, mailbox=mailbox,
        changes={"owner_may_forward": False, "forward_to": ["boss@example.org"]},
    )  # fmt: skip
    client = _owner(mailbox)
    page = client.get("/me/forwarding/").content.decode()
    assert "Your administrator manages the forwarding" in page
    response = client.post(
        "/me/forwarding/", {"forward_to": "me@example.net", "spam_to_inbox": "on"}
    )
    assert response.status_code == 302
    after = _fresh(mailbox)
    assert after.forward_to == ["boss@example.org"]  # untouched
    assert after.spam_to_inbox  # what the owner may still change


def test_admins_set_the_permissions_on_the_security_tab(world: World) -> None:
    page = world.client("alice").get(f"/accounts/{world.acme_mailbox.pk}/security/")
    body = page.content.decode()
    assert 'name="owner_may_change_password"' in body and 'name="owner_may_forward"' in body
