"""Mailbox password policy (mailboxes/passwords.py) on every path that sets one: the wizard,
the account's security tab, `mailbox set-password` / `mailbox create`, and the owner's own
change. Plus the history's wraparound, the expiry warning, and other sessions ending."""

from __future__ import annotations

import io
import sys
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse

from domains.services import domain_update_settings
from mailboxes.models import Mailbox, PasswordHistory
from mailboxes.passwords import verify_password
from mailboxes.services import mailbox_set_password, mailbox_update
from tests.otp import FakeClock
from tests.personas import ACTOR, PASSWORD, World, build_world
from tests.test_wizard import STEP_DATA, post_step, start

pytestmark = pytest.mark.django_db

TOO_SHORT = "domain's policy asks for at least 12"
COMMON = "too common"
SIMILAR = "too close to the address or the account's name"
REUSED = "not used for this account before"


@pytest.fixture
def world(domain_name: str) -> World:
    world = build_world(domain_name.split(".")[0])
    domain_update_settings(
        actor=ACTOR, domain=world.acme_domain, changes={"password_min_length": 12}
    )
    mailbox_update(
        actor=ACTOR, mailbox=world.acme_mailbox, changes={"first_name": "Beatrice", "last_name": ""}
    )
    return world


def _mailbox(world: World) -> Mailbox:
    return Mailbox.objects.select_related("domain").get(pk=world.acme_mailbox.pk)


def _bad_passwords(world: World) -> list[tuple[str, str]]:
    label = world.acme_domain.name.split(".")[0].split("-")[0]  # "acme"
    return [
        ("eleven-char", TOO_SHORT),
        ("qwerty123456", COMMON),
        ("P@ssw0rd1234", COMMON),  # "password1234", disguised
        ("info-mailbox-77", SIMILAR),  # the local part
        ("77-xobliam-ofni", SIMILAR),  # ...reversed
        (f"{label}-rocks-2024", SIMILAR),  # the domain
        (f"{label.replace('a', '4')}-rocks-2024", SIMILAR),  # ...with a substitution
        ("Beatrice-1990!", SIMILAR),  # the account's name
    ]


def _security_tab(client: Client, mailbox: Mailbox, password: str):
    return client.post(
        reverse("mailbox_security", args=[mailbox.pk]),
        {"form": "password", "pw-password": password, "pw-password_confirm": password},
    )


def _cli(*args: str, stdin: str = "") -> str:
    out, old = io.StringIO(), sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        call_command(*args, stdout=out)
    finally:
        sys.stdin = old
    return out.getvalue()


def _owner_login(mailbox: Mailbox, password: str = PASSWORD) -> Client:
    client = Client()
    client.post("/login/", {"username": mailbox.address, "password": password})
    assert "_auth_user_id" in client.session
    return client


def _owner_change(client: Client, current: str, new: str):
    data = {"current_password": current, "new_password": new, "new_password_again": new}
    return client.post("/me/password/", data)


# --- each rule on each path ------------------------------------------------------------------


def test_the_security_tab_refuses_each_bad_password_next_to_the_field(world: World) -> None:
    alice, mailbox = world.client("alice"), _mailbox(world)
    for password, message in _bad_passwords(world):
        response = _security_tab(alice, mailbox, password)
        assert response.status_code == 200, password
        assert message in " ".join(response.context["password_form"].errors["password"]), password
        assert 'id="id_pw-password_error"' in response.content.decode()
    assert _mailbox(world).password_hash == mailbox.password_hash
    assert _security_tab(alice, mailbox, "a-sound-choice-42").status_code == 302


def test_the_cli_refuses_each_bad_password_in_one_line(world: World) -> None:
    address = world.acme_mailbox.address
    for password, message in _bad_passwords(world):
        with pytest.raises(CommandError) as excinfo:
            _cli("mailbox", "set-password", address, "--password-stdin", stdin=password + "\n")
        assert message in str(excinfo.value) and "\n" not in str(excinfo.value), password
    with pytest.raises(CommandError, match=TOO_SHORT):
        new = f"new@{world.acme_domain.name}"
        _cli("mailbox", "create", new, "--password-stdin", stdin="eleven-char\n")
    assert not Mailbox.objects.filter(local_part="new").exists()
    assert "password changed" in _cli(
        "mailbox", "set-password", address, "--password-stdin", stdin="a-sound-choice-42\n"
    )


def test_the_owner_change_refuses_each_bad_password_next_to_the_field(world: World) -> None:
    mailbox = _mailbox(world)
    client = _owner_login(mailbox)
    for password, message in _bad_passwords(world):
        response = _owner_change(client, PASSWORD, password)
        assert response.status_code == 200, password
        assert message in " ".join(response.context["form"].errors["new_password"]), password
    assert _mailbox(world).password_hash == mailbox.password_hash
    assert _owner_change(client, PASSWORD, "a-sound-choice-42").status_code == 302


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("eleven-char", TOO_SHORT),
        ("qwerty123456", COMMON),
        ("sales-office-1", SIMILAR),  # the local part being created
        ("dept-and-more-1", SIMILAR),  # the last name typed on the same step
    ],
)
def test_the_wizard_refuses_bad_passwords_at_the_account_step(
    world: World, password: str, message: str
) -> None:
    alice, domain = world.client("alice"), world.acme_domain
    token = start(alice, domain)
    data = {**STEP_DATA["account"], "password1": password, "password2": password}
    response = post_step(alice, domain, token, "account", data)
    assert response.status_code == 200
    assert message in " ".join(response.context["form"].errors["password1"])


# --- history -----------------------------------------------------------------------------------


def test_the_last_five_passwords_cannot_come_back_and_older_ones_can(world: World) -> None:
    mailbox = _mailbox(world)
    used = [PASSWORD] + [f"rotation-secret-{n}x" for n in range(1, 5)]
    for password in used[1:]:
        mailbox_set_password(actor=ACTOR, mailbox=mailbox, password=password)
    assert PasswordHistory.objects.filter(mailbox=mailbox).count() == 4  # + the current one
    alice = world.client("alice")
    for old in used:  # all five, the current one included, are refused on the page
        response = _security_tab(alice, mailbox, old)
        assert REUSED in " ".join(response.context["password_form"].errors["password"]), old
    with pytest.raises(CommandError, match=REUSED):
        _cli("mailbox", "set-password", mailbox.address, "--password-stdin", stdin=used[1] + "\n")

    # One more change: the oldest (the first) drops out of the last five and may return.
    mailbox_set_password(actor=ACTOR, mailbox=_mailbox(world), password="rotation-secret-5x")
    assert PasswordHistory.objects.filter(mailbox=mailbox).count() == 4
    assert _security_tab(alice, mailbox, used[0]).status_code == 302
    assert verify_password(used[0], _mailbox(world).password_hash)
    response = _security_tab(alice, mailbox, used[2])
    assert REUSED in " ".join(response.context["password_form"].errors["password"])


def test_the_owner_cannot_go_back_to_a_recent_password(world: World) -> None:
    mailbox = _mailbox(world)
    mailbox_set_password(actor=ACTOR, mailbox=mailbox, password="an-earlier-one-42")
    mailbox_set_password(actor=ACTOR, mailbox=_mailbox(world), password=PASSWORD + "x")
    client = _owner_login(mailbox, PASSWORD + "x")
    response = _owner_change(client, PASSWORD + "x", "an-earlier-one-42")
    assert REUSED in " ".join(response.context["form"].errors["new_password"])


# --- expiry warning ----------------------------------------------------------------------------


def test_owners_are_warned_from_fourteen_days_before_expiry(
    world: World, monkeypatch, settings
) -> None:
    clock = FakeClock()
    monkeypatch.setattr("security.clock.now", clock)
    mailbox_update(actor=ACTOR, mailbox=_mailbox(world), changes={"password_expiry_days": 30})
    mailbox = _mailbox(world)
    assert mailbox.password_expires_at is not None
    client = _owner_login(mailbox)
    assert "expires in" not in client.get("/me/").content.decode()  # 30 days left

    clock.at = mailbox.password_expires_at - timedelta(days=14)
    response = Client().post(
        "/login/", {"username": mailbox.address, "password": PASSWORD}, follow=True
    )
    assert "Your password expires in 14 days." in response.content.decode()  # at login...
    assert (
        "Your password expires in 14 days." in client.get("/me/").content.decode()
    )  # ...and on /me/
    clock.at = mailbox.password_expires_at - timedelta(hours=5)
    assert "Your password expires in 1 day." in client.get("/me/").content.decode()


# --- a new password ends the owner's other sessions -------------------------------------------


def test_changing_the_password_ends_the_owners_other_sessions(world: World) -> None:
    mailbox = _mailbox(world)
    here, elsewhere = _owner_login(mailbox), _owner_login(mailbox)
    assert _owner_change(here, PASSWORD, "a-sound-choice-42").status_code == 302
    assert here.get("/me/").status_code == 200  # the session that changed it goes on
    response = elsewhere.get("/me/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert "_auth_user_id" not in elsewhere.session


def test_an_admin_setting_the_password_ends_every_owner_session(world: World) -> None:
    mailbox = _mailbox(world)
    owner = _owner_login(mailbox)
    assert owner.get("/me/").status_code == 200
    assert _security_tab(world.client("alice"), mailbox, "a-sound-choice-42").status_code == 302
    assert owner.get("/me/")["Location"].startswith("/login/")
    assert _owner_login(_mailbox(world), "a-sound-choice-42").get("/me/").status_code == 200
