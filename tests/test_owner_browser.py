"""A mailbox owner in headless Chromium: forced through a password change at the first panel
login, after which the mail servers take only the new password (live daemons)."""

from __future__ import annotations

import pytest

from domains.services import domain_create
from mailboxes.services import mailbox_create
from organizations.services import organization_create
from security.audit import Actor
from tests.mailclient import imap_login, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
ACTOR = Actor(label="test")
FIRST = "first-password-given-1"
CHOSEN = "my-own-password-chosen-2"


def test_owner_is_forced_to_change_the_password_at_first_login(
    live, live_server, page, domain_name
) -> None:
    org = organization_create(actor=ACTOR, name=f"Owners {domain_name}")
    domain = domain_create(actor=ACTOR, name=domain_name, organization=org)
    mailbox = mailbox_create(
        actor=ACTOR, domain=domain, local_part="lena", password=FIRST,
        settings={"force_password_change": True},
    )  # fmt: skip
    address = mailbox.address
    assert wait_until(lambda: imap_login(live.ports, address, FIRST), timeout=10)

    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", address)
    page.fill("#id_password", FIRST)
    page.click("button[type=submit]")
    page.wait_for_selector("text=asks you to choose a new password")
    page.shoot("forced-change")
    page.goto(f"{live_server.url}/me/")  # nothing else is reachable before the change
    page.wait_for_selector("text=asks you to choose a new password")

    page.fill("#id_current_password", FIRST)
    page.fill("#id_new_password", CHOSEN)
    page.fill("#id_new_password_again", CHOSEN + "x")
    page.click("button:has-text('Change password')")
    assert page.locator(".field-error").inner_text() == "The two passwords differ."
    page.fill("#id_current_password", FIRST)
    page.fill("#id_new_password", CHOSEN)
    page.fill("#id_new_password_again", CHOSEN)
    page.click("button:has-text('Change password')")
    page.wait_for_selector("text=Password changed.")
    assert address in page.locator("h1").inner_text()
    page.shoot("owner-home")

    assert wait_until(lambda: imap_login(live.ports, address, CHOSEN), timeout=10)
    assert not imap_login(live.ports, address, FIRST)
