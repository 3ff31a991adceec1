"""What the audit trail records: who, what, which object, from which IP, before/after values of
settings, the scopes the audit pages read (organization, domain, account), and no secrets."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from domains.services import domain_update_settings
from mailboxes.models import Mailbox
from mailboxes.services import (
    mailbox_create,
    mailbox_delete,
    mailbox_expire_passwords,
    mailbox_set_password,
    mailbox_update,
)
from owners.models import Owner
from security.audit import SYSTEM, Actor, audit_record
from security.models import AuditEvent
from tests.personas import ACTOR, PASSWORD, World, build_world
from webmail_settings.services import preferences_update

pytestmark = pytest.mark.django_db

CLIENT_IP = "203.0.113.9"
NEW_PASSWORD = "a-brand-new-password-7"


@pytest.fixture
def world(domain_name: str) -> World:
    return build_world(domain_name.split(".")[0])


def latest(action: str) -> AuditEvent:
    return AuditEvent.objects.filter(action=action).latest("pk")


def trail_text() -> str:
    """Every stored value of the trail, as one text to search secrets in."""
    rows = AuditEvent.objects.values_list("object_repr", "changes")
    return "\n".join(f"{r} {json.dumps(c)}" for r, c in rows)


# --- before/after of settings, never a password -------------------------------------------


def test_domain_settings_record_before_and_after_of_the_changed_fields_only(world: World) -> None:
    domain = world.acme_domain
    domain_update_settings(
        actor=ACTOR,
        domain=domain,
        changes={"password_min_length": 14, "default_language": domain.default_language},
    )
    event = latest("domain.update_settings")
    assert event.changes == {
        "before": {"password_min_length": 10},
        "after": {"password_min_length": 14},
    }
    assert (event.organization, event.domain, event.mailbox) == (world.acme, domain, None)


def test_account_settings_record_before_and_after(world: World) -> None:
    mailbox = world.acme_mailbox
    mailbox_update(actor=ACTOR, mailbox=mailbox, changes={"first_name": "Info desk"})
    event = latest("mailbox.update")
    assert event.changes == {"before": {"first_name": ""}, "after": {"first_name": "Info desk"}}
    assert (event.domain, event.mailbox) == (world.acme_domain, mailbox)
    assert event.object_repr == mailbox.address


def test_webmail_preferences_are_recorded_on_their_account(world: World) -> None:
    mailbox = world.acme_mailbox
    preferences_update(actor=ACTOR, mailbox=mailbox, changes={"date_format": "d.m.Y"})
    event = latest("webmail_preferences.update")
    assert event.changes == {"before": {"date_format": "Y-m-d"}, "after": {"date_format": "d.m.Y"}}
    assert (event.domain, event.mailbox) == (world.acme_domain, mailbox)
    assert event.object_repr == f"webmail preferences of {mailbox.address}"


def test_passwords_and_hashes_never_enter_the_trail(world: World) -> None:
    mailbox = mailbox_create(
        actor=ACTOR, domain=world.acme_domain, local_part="secret", password=PASSWORD
    )
    first_hash = mailbox.password_hash
    mailbox_set_password(actor=ACTOR, mailbox=mailbox, password=NEW_PASSWORD)
    mailbox.refresh_from_db()
    created, changed = latest("mailbox.create"), latest("mailbox.set_password")
    assert "password" not in created.changes["after"]
    assert "password_hash" not in created.changes["after"]
    assert changed.changes == {}
    text = trail_text()
    for secret in (PASSWORD, NEW_PASSWORD, first_hash, mailbox.password_hash):
        assert secret not in text


def test_secret_names_are_hidden_at_any_depth_and_policy_settings_are_not(world: World) -> None:
    audit_record(
        actor=ACTOR,
        action="test.secrets",
        obj=world.acme_mailbox,
        organization=world.acme,
        before={"new_password": "pw-1", "otp_secret": "JBSWY3DP", "password_min_length": 10},
        after={
            "api_key": "k-123",
            "backup_codes": ["111", "222"],
            "device": {"token": "t-9", "name": "phone"},
            "force_password_change": True,
        },
    )
    event = latest("test.secrets")
    assert event.changes == {
        "before": {"new_password": "***", "otp_secret": "***", "password_min_length": 10},
        "after": {
            "api_key": "***",
            "backup_codes": "***",
            "device": {"token": "***", "name": "phone"},
            "force_password_change": True,
        },
    }


def test_expired_passwords_record_the_change_as_the_system(world: World) -> None:
    mailbox = world.acme_mailbox
    Mailbox.objects.filter(pk=mailbox.pk).update(
        password_expires_at=timezone.now() - timedelta(minutes=1)
    )
    assert mailbox_expire_passwords(actor=SYSTEM) == 1
    event = latest("mailbox.password_expired")
    assert event.actor_label == "system" and event.ip_address is None
    assert event.changes == {
        "before": {"password_expired": False},
        "after": {"password_expired": True},
    }


def test_a_deleted_accounts_events_stay_on_its_domain(world: World) -> None:
    mailbox = mailbox_create(
        actor=ACTOR, domain=world.acme_domain, local_part="gone", password=PASSWORD
    )
    mailbox_delete(actor=ACTOR, mailbox=mailbox)
    event = latest("mailbox.delete")
    assert (event.organization, event.domain, event.mailbox) == (
        world.acme,
        world.acme_domain,
        None,
    )
    assert event.changes["before"]["address"] == f"gone@{world.acme_domain.name}"


# --- who and from where, through the views ------------------------------------------------


def _client(user) -> Client:
    client = Client(REMOTE_ADDR=CLIENT_IP)
    client.force_login(user)
    return client


def test_views_record_the_user_and_the_client_ip(world: World) -> None:
    alice = world.users["alice"]
    client = _client(alice)
    mailbox, domain = world.acme_mailbox, world.acme_domain
    client.post(reverse("mailbox_deactivate", args=[mailbox.pk]))
    client.post(reverse("mailbox_security", args=[mailbox.pk]), {"form": "password",
                "pw-password": NEW_PASSWORD, "pw-password_confirm": NEW_PASSWORD})  # fmt: skip
    client.post(reverse("domain_activate", args=[world.acme.pk]), {"name": f"x{domain.name}"})
    for action in ("mailbox.deactivate", "mailbox.set_password", "domain.create"):
        event = latest(action)
        assert (event.actor, event.actor_label, event.ip_address) == (
            alice,
            alice.username,
            CLIENT_IP,
        ), action


def test_an_owner_is_named_by_address_and_ending_a_forced_change_is_recorded(
    world: World,
) -> None:
    mailbox = world.acme_mailbox
    mailbox_update(actor=ACTOR, mailbox=mailbox, changes={"force_password_change": True})
    user = get_user_model().objects.create_user(f"mailbox-{mailbox.pk}", password=None)
    Owner.objects.create(user=user, mailbox=mailbox)
    response = _client(user).post(
        reverse("owner_password_change"),
        {"current_password": PASSWORD, "new_password": NEW_PASSWORD,
         "new_password_again": NEW_PASSWORD},
    )  # fmt: skip
    assert response.status_code == 302
    label = f"{mailbox.address} (owner)"
    changed, ended = latest("mailbox.set_password"), latest("mailbox.update")
    assert (changed.actor_label, changed.ip_address) == (label, CLIENT_IP)
    assert (ended.actor_label, ended.ip_address) == (label, CLIENT_IP)
    assert ended.changes == {
        "before": {"force_password_change": True},
        "after": {"force_password_change": False},
    }
    assert NEW_PASSWORD not in trail_text()


def test_cli_actor_has_a_label_and_no_ip(world: World) -> None:
    actor = Actor(label="cli:root")
    mailbox_update(actor=actor, mailbox=world.acme_mailbox, changes={"last_name": "Desk"})
    event = latest("mailbox.update")
    assert (event.actor, event.actor_label, event.ip_address) == (None, "cli:root", None)
