"""The invitation end to end over the wire: the panel's e-mail goes through the test bed's
Postfix to a mailbox read over IMAP; the link is followed, and the new address logs in."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone

from domains.services import domain_create
from invitations.models import Invitation
from mailboxes.models import Mailbox
from mailboxes.services import mailbox_create
from organizations.models import Membership, Role
from organizations.services import organization_create
from security.audit import Actor
from tests.mailclient import fetch_messages, imap_login, send_inbound, wait_until

pytestmark = pytest.mark.live
ACTOR = Actor(label="test")
PASSWORD = "correct horse 1"
NEW_PASSWORD = "Tangerine-Harbour-42"
LINK = re.compile(r"http://testserver(/invite/\S+/)")


def _wait_applied() -> None:
    call_command("provision", "wait", "--timeout", "15")


@pytest.fixture
def setup(live, domain_name: str):
    org = organization_create(actor=ACTOR, name=f"Org {domain_name}")
    domain = domain_create(actor=ACTOR, name=domain_name, organization=org)
    # The invitee's "personal" address: a mailbox on another domain of the test bed.
    elsewhere = domain_create(actor=ACTOR, name=f"home-{domain_name}", organization=org)
    personal = mailbox_create(actor=ACTOR, domain=elsewhere, local_part="camille",
                              password=PASSWORD)  # fmt: skip
    _wait_applied()
    alice = get_user_model().objects.create_user(f"alice-{domain_name}", password=PASSWORD)
    Membership.objects.create(user=alice, organization=org, role=Role.ADMIN)
    admin = Client()
    admin.force_login(alice)
    smtp = {"EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "EMAIL_HOST": "127.0.0.1", "EMAIL_PORT": live.ports["smtp"],
            "DEFAULT_FROM_EMAIL": f"no-reply@{domain_name}",
            "PANEL_BASE_URL": "http://testserver"}  # fmt: skip
    with override_settings(**smtp):
        yield live.ports, domain, personal, admin


def _invite_and_read_link(ports, domain, personal, admin, local_part: str) -> str:
    before = len(fetch_messages(ports, personal.address, PASSWORD))
    response = admin.post(reverse("invitation_new", args=[domain.pk]),
                          {"local_part": local_part, "emails": personal.address,
                           "may_change_password": "on", "may_forward": "on"})  # fmt: skip
    assert response.status_code == 302
    assert wait_until(lambda: len(fetch_messages(ports, personal.address, PASSWORD)) > before, 15)
    message = fetch_messages(ports, personal.address, PASSWORD)[-1]
    assert f"{local_part}@{domain.name}" in message["Subject"]
    match = LINK.search(message.get_content())
    assert match, message.get_content()
    return match.group(1)


def _complete(client: Client, path: str):
    return client.post(path, {"first_name": "Camille", "last_name": "Martin",
                              "phone": "+41 22 555 01 23", "password1": NEW_PASSWORD,
                              "password2": NEW_PASSWORD})  # fmt: skip


def test_invitation_mail_link_creates_an_address_that_logs_in(setup) -> None:
    ports, domain, personal, admin = setup
    path = _invite_and_read_link(ports, domain, personal, admin, "camille")
    invitee = Client()
    assert invitee.get(path).status_code == 200
    response = _complete(invitee, path)
    assert response.status_code == 302 and response.url == reverse("owner_home")
    assert invitee.get(reverse("owner_home")).status_code == 200
    _wait_applied()
    address = f"camille@{domain.name}"
    assert wait_until(lambda: imap_login(ports, address, NEW_PASSWORD), 10)

    # The same link again: a clear message, and nothing more is created.
    again = _complete(Client(), path)
    assert again.status_code == 410 and "already been used" in again.content.decode()
    assert Mailbox.objects.filter(domain=domain, local_part="camille").count() == 1


def test_an_expired_link_creates_nothing(setup) -> None:
    ports, domain, personal, admin = setup
    path = _invite_and_read_link(ports, domain, personal, admin, "late")
    Invitation.objects.filter(local_part="late").update(
        expires_at=timezone.now() - timedelta(minutes=1)
    )
    response = _complete(Client(), path)
    assert response.status_code == 410 and "expired" in response.content.decode()
    assert not Mailbox.objects.filter(domain=domain, local_part="late").exists()


def test_a_noreply_address_from_the_menu_refuses_inbound_mail(setup) -> None:
    ports, domain, _, admin = setup
    response = admin.post(reverse("generic_address", args=[domain.pk]),
                          {"kind": "noreply", "noreply-local_part": "no-reply",
                           "noreply-password1": NEW_PASSWORD,
                           "noreply-password2": NEW_PASSWORD})  # fmt: skip
    assert response.status_code == 302
    _wait_applied()
    code, text = send_inbound(ports, f"no-reply@{domain.name}")
    assert code == 550 and "does not accept replies" in text, text
