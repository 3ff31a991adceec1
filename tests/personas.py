"""The people of the panel tests: alice (admin of Acme), bob (Acme read-only), dave (admin of
one Acme domain only), charlie (admin of another tenant) and staff (the provider)."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.test import Client

from domains.models import Domain
from domains.services import domain_create
from mailboxes.models import Mailbox
from mailboxes.services import mailbox_create
from organizations.models import Membership, Organization, Plan, Role
from organizations.services import organization_create
from security.audit import Actor

ACTOR = Actor(label="test")
PASSWORD = "persona-password-1"


@dataclass
class World:
    acme: Organization
    other: Organization
    acme_domain: Domain
    acme_second: Domain
    other_domain: Domain
    acme_mailbox: Mailbox
    other_mailbox: Mailbox
    users: dict[str, AbstractBaseUser]

    def client(self, name: str) -> Client:
        client = Client()
        if name != "anonymous":
            client.force_login(self.users[name])
        return client


def build_world(suffix: str) -> World:
    plan = Plan.objects.create(
        name=f"Standard {suffix}", max_accounts=500, max_quota_bytes=10 * 1024**3
    )
    acme = organization_create(actor=ACTOR, name=f"Acme {suffix}", plan=plan)
    other = organization_create(actor=ACTOR, name=f"Other {suffix}", plan=plan)
    acme_domain = domain_create(actor=ACTOR, name=f"acme-{suffix}.test", organization=acme)
    acme_second = domain_create(actor=ACTOR, name=f"acme2-{suffix}.test", organization=acme)
    other_domain = domain_create(actor=ACTOR, name=f"other-{suffix}.test", organization=other)
    acme_mailbox = mailbox_create(
        actor=ACTOR, domain=acme_domain, local_part="info", password=PASSWORD, quota_bytes=1024**3
    )
    other_mailbox = mailbox_create(
        actor=ACTOR, domain=other_domain, local_part="info", password=PASSWORD, quota_bytes=1024**3
    )
    User = get_user_model()
    users = {
        "alice": User.objects.create_user(f"alice-{suffix}", password=PASSWORD),
        "bob": User.objects.create_user(f"bob-{suffix}", password=PASSWORD),
        "charlie": User.objects.create_user(f"charlie-{suffix}", password=PASSWORD),
        "dave": User.objects.create_user(f"dave-{suffix}", password=PASSWORD),
        "staff": User.objects.create_user(f"staff-{suffix}", password=PASSWORD, is_staff=True),
    }
    Membership.objects.create(user=users["alice"], organization=acme, role=Role.ADMIN)
    Membership.objects.create(user=users["bob"], organization=acme, role=Role.READ_ONLY)
    Membership.objects.create(user=users["charlie"], organization=other, role=Role.ADMIN)
    dave = Membership.objects.create(user=users["dave"], organization=acme, role=Role.DOMAIN_ADMIN)
    dave.domains.add(acme_second)
    return World(
        acme, other, acme_domain, acme_second, other_domain, acme_mailbox, other_mailbox, users
    )


def owner_of(mailbox: Mailbox) -> AbstractBaseUser:
    """The panel user of a mailbox's owner, made as at their first login (address + password)."""
    user = authenticate(None, username=mailbox.address, password=PASSWORD)
    assert user is not None, f"{mailbox.address} cannot log in to the panel"
    return user
