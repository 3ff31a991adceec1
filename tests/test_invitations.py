"""Create an address for invited users, the invitee's link, and generic addresses."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from invitations.models import Invitation, InvitationState
from invitations.services import Invitee, invitation_create, invitation_revoke
from mailboxes.models import Mailbox, MailboxKind
from mailboxes.passwords import verify_password
from owners.models import Owner
from security.models import AuditEvent
from tests.personas import ACTOR, World, build_world

NEW_PASSWORD = "Tangerine-Harbour-42"
LINK = re.compile(r"https?://\S+/invite/(\S+)/")


@pytest.fixture
def world(db) -> World:
    return build_world("inv")


def _invite(world: World, client: Client, **extra: object):
    data = {"local_part": "camille", "emails": "camille@personal.example",
            "may_change_password": "", "may_forward": "on", **extra}  # fmt: skip
    return client.post(reverse("invitation_new", args=[world.acme_domain.pk]), data)


def _link_token(message) -> str:
    match = LINK.search(message.body)
    assert match, message.body
    return match.group(1)


def _accept(client: Client, token: str, **extra: str):
    data = {"first_name": "Camille", "last_name": "Martin", "phone": "+41 22 555 01 23",
            "password1": NEW_PASSWORD, "password2": NEW_PASSWORD, **extra}  # fmt: skip
    return client.post(reverse("invitation_accept", args=[token]), data)


def test_invite_sends_a_link_and_lists_it(world: World) -> None:
    response = _invite(world, world.client("alice"))
    assert response.status_code == 302
    invitation = Invitation.objects.get(domain=world.acme_domain)
    assert (invitation.local_part, invitation.email) == ("camille", "camille@personal.example")
    assert (invitation.may_change_password, invitation.may_forward) == (False, True)
    assert invitation.send_count == 1 and invitation.sent_at is not None
    [message] = mail.outbox
    assert message.to == ["camille@personal.example"]
    token = _link_token(message)
    assert len(token) >= 40 and token not in invitation.token_hash
    assert not Mailbox.objects.filter(local_part="camille").exists()
    page = world.client("bob").get(reverse("invitation_list", args=[world.acme_domain.pk]))
    assert "camille@personal.example" in page.content.decode()
    assert AuditEvent.objects.filter(action="invitation.create", domain=world.acme_domain).exists()


def test_invite_a_member_and_an_external_address(world: World) -> None:
    dave = world.users["dave"]
    dave.email = "dave@work.example"
    dave.save()
    _invite(world, world.client("alice"), members=[str(dave.pk)])
    assert sorted(m.to[0] for m in mail.outbox) == ["camille@personal.example", "dave@work.example"]
    assert Invitation.objects.get(email="dave@work.example").invited_user == dave


def test_invite_refuses_an_existing_address_and_nobody(world: World) -> None:
    response = _invite(world, world.client("alice"), local_part="info")
    assert "already exists" in response.content.decode()
    response = _invite(world, world.client("alice"), emails="")
    assert "Choose a member or enter an e-mail address" in response.content.decode()
    assert not Invitation.objects.exists() and not mail.outbox


def test_scoping(world: World) -> None:
    assert _invite(world, world.client("charlie")).status_code == 404
    assert _invite(world, world.client("bob")).status_code == 403
    [(invitation, _)] = invitation_create(
        actor=ACTOR, domain=world.acme_domain, local_part="x", invitees=[Invitee("x@y.example")]
    )
    for name, status in (("charlie", 404), ("bob", 403)):
        for route in ("invitation_resend", "invitation_revoke"):
            assert (
                world.client(name).post(reverse(route, args=[invitation.pk])).status_code == status
            )
    invitation.refresh_from_db()
    assert invitation.state == InvitationState.PENDING and not mail.outbox


def test_accept_creates_the_account_with_its_permissions_and_logs_in(world: World) -> None:
    _invite(world, world.client("alice"))
    token = _link_token(mail.outbox[0])
    invitee = Client()
    assert invitee.get(reverse("invitation_accept", args=[token])).status_code == 200
    response = _accept(invitee, token)
    assert response.status_code == 302 and response.url == reverse("owner_home")
    mailbox = Mailbox.objects.get(domain=world.acme_domain, local_part="camille")
    assert (mailbox.first_name, mailbox.last_name) == ("Camille", "Martin")
    assert (mailbox.owner_may_change_password, mailbox.owner_may_forward) == (False, True)
    assert verify_password(NEW_PASSWORD, mailbox.password_hash)
    assert mailbox.contact_details.phone == "+41 22 555 01 23"
    owner = Owner.objects.get(mailbox=mailbox)
    assert invitee.get(reverse("owner_home")).context["user"] == owner.user
    invitation = Invitation.objects.get()
    assert invitation.state == InvitationState.ACCEPTED and invitation.mailbox == mailbox
    assert AuditEvent.objects.filter(action="invitation.accept", mailbox=mailbox).exists()


def test_accept_with_a_weak_password_creates_nothing(world: World) -> None:
    _invite(world, world.client("alice"))
    token = _link_token(mail.outbox[0])
    response = _accept(Client(), token, password1="short", password2="short")
    assert response.status_code == 200 and "field-error" in response.content.decode()
    assert not Mailbox.objects.filter(local_part="camille").exists()
    assert Invitation.objects.get().state == InvitationState.PENDING


def _unusable(client: Client, token: str, expected: str) -> None:
    for response in (
        client.get(reverse("invitation_accept", args=[token])),
        _accept(client, token),
    ):
        assert response.status_code == 410
        assert expected in response.content.decode()


def test_reused_link_says_so_and_creates_nothing_more(world: World) -> None:
    _invite(world, world.client("alice"))
    token = _link_token(mail.outbox[0])
    assert _accept(Client(), token).status_code == 302
    _unusable(Client(), token, "already been used")
    assert Mailbox.objects.filter(local_part="camille").count() == 1


def test_expired_link_says_so_and_creates_nothing(world: World) -> None:
    _invite(world, world.client("alice"))
    token = _link_token(mail.outbox[0])
    Invitation.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    _unusable(Client(), token, "expired")
    assert not Mailbox.objects.filter(local_part="camille").exists()


def test_revoked_link_says_so_and_creates_nothing(world: World) -> None:
    _invite(world, world.client("alice"))
    token = _link_token(mail.outbox[0])
    invitation = Invitation.objects.get()
    response = world.client("alice").post(reverse("invitation_revoke", args=[invitation.pk]))
    assert response.status_code == 302
    _unusable(Client(), token, "revoked")
    assert not Mailbox.objects.filter(local_part="camille").exists()
    assert AuditEvent.objects.filter(action="invitation.revoke").exists()


def test_unknown_link_is_404(world: World) -> None:
    response = Client().get(reverse("invitation_accept", args=["x" * 43]))
    assert response.status_code == 404 and "not valid" in response.content.decode()


def test_resend_replaces_the_link(world: World) -> None:
    _invite(world, world.client("alice"))
    old = _link_token(mail.outbox[0])
    invitation = Invitation.objects.get()
    response = world.client("alice").post(reverse("invitation_resend", args=[invitation.pk]))
    assert response.status_code == 302
    new = _link_token(mail.outbox[1])
    assert new != old
    assert Client().get(reverse("invitation_accept", args=[old])).status_code == 404
    assert _accept(Client(), new).status_code == 302
    invitation.refresh_from_db()
    assert invitation.send_count == 2 and invitation.state == InvitationState.ACCEPTED
    assert AuditEvent.objects.filter(action="invitation.resend").exists()


def test_first_acceptance_closes_the_other_invitations(world: World) -> None:
    _invite(world, world.client("alice"), emails="a@one.example\nb@two.example")
    first, second = (_link_token(m) for m in mail.outbox)
    assert _accept(Client(), first).status_code == 302
    _unusable(Client(), second, "revoked")


def test_resend_or_revoke_a_closed_invitation_is_refused(world: World) -> None:
    [(invitation, _)] = invitation_create(
        actor=ACTOR, domain=world.acme_domain, local_part="x", invitees=[Invitee("x@y.example")]
    )
    invitation_revoke(actor=ACTOR, invitation=invitation)
    client = world.client("alice")
    response = client.post(reverse("invitation_resend", args=[invitation.pk]), follow=True)
    assert "revoked" in response.content.decode() and not mail.outbox


def test_choice_page_leads_to_the_wizard_or_the_invitation(world: World) -> None:
    client = world.client("alice")
    url = reverse("address_create", args=[world.acme_domain.pk])
    assert (
        "Create an email address"
        in client.get(reverse("mailbox_list", args=[world.acme_domain.pk])).content.decode()
    )
    response = client.post(url, {"local_part": "Sales", "for": "users"})
    assert response.url.endswith("?local_part=sales")
    response = client.post(url, {"local_part": "sales", "for": "self"})
    assert "/accounts/new/" in response.url
    page = client.get(response.url).content.decode()
    assert 'value="sales"' in page
    without = client.post(reverse("invitation_new", args=[world.acme_domain.pk]),
                          {"local_part": "sales", "without_invitation": "1"})  # fmt: skip
    assert "/accounts/new/" in without.url and not mail.outbox


def test_generic_noreply_and_catchall(world: World) -> None:
    client = world.client("alice")
    url = reverse("generic_address", args=[world.acme_domain.pk])
    response = client.post(url, {"kind": "noreply", "noreply-local_part": "no-reply",
                                 "noreply-password1": NEW_PASSWORD,
                                 "noreply-password2": NEW_PASSWORD})  # fmt: skip
    assert response.status_code == 302
    assert Mailbox.objects.get(local_part="no-reply").kind == MailboxKind.NOREPLY
    target = world.acme_mailbox.address
    response = client.post(url, {"kind": "catchall", "catchall-catchall_target": target})
    assert response.status_code == 302
    world.acme_domain.refresh_from_db()
    assert world.acme_domain.catchall_target == target
    assert world.client("bob").post(url, {"kind": "catchall"}).status_code == 403
