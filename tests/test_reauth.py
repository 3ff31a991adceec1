"""Re-authentication before delete, a two-factor reset and limits above the plan
(security/reauth.py): refused when not fresh, allowed when fresh, stale after the window,
wrong password and code refused next to the field, throttled, audited."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from mailboxes.models import Mailbox
from security.models import AuditEvent
from security.twofactor import is_enrolled
from tests.otp import FakeClock, enrol, next_code, wrong_code
from tests.personas import PASSWORD, World, build_world
from tests.test_sending_limits import general_data

pytestmark = pytest.mark.django_db

STALE = {"minutes": 6}  # the default window is 5 minutes


@pytest.fixture
def world(domain_name: str, clock: FakeClock) -> World:
    world = build_world(domain_name.split(".")[0])
    plan = world.acme.plan
    plan.max_daily_send_limit = 500
    plan.save()
    return world


def _field_error(response, field: str) -> str:
    match = re.search(rf'id="id_{field}_error">([^<]*)<', response.content.decode())
    return match.group(1).strip() if match else ""


def _replay(client: Client, response) -> object:
    """Click "Continue" on the page shown after re-authenticating: the kept POST, again."""
    html = response.content.decode()
    action = re.search(r'<form method="post" action="([^"]+)" class="reauth-replay"', html).group(1)
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html))
    return client.post(action.replace("&amp;", "&"), fields)


# --- deleting an account ---------------------------------------------------------------------


def test_delete_is_allowed_right_after_login(world: World) -> None:
    mailbox = world.acme_mailbox
    response = world.client("alice").post(
        reverse("mailbox_delete", args=[mailbox.pk]), {"password": PASSWORD}
    )
    assert response.status_code == 302 and not Mailbox.objects.filter(pk=mailbox.pk).exists()


def test_delete_after_the_window_asks_to_reauthenticate_first(
    world: World, clock: FakeClock
) -> None:
    mailbox = world.acme_mailbox
    alice = world.client("alice")
    clock.advance(minutes=4)  # still fresh...
    page = reverse("mailbox_delete", args=[mailbox.pk])
    assert alice.post(page, {"password": "wrong"}).status_code == 200  # the form's own check
    clock.advance(minutes=2)  # ...and now stale
    response = alice.post(page, {"password": PASSWORD, "next": "/somewhere/"})
    assert response.status_code == 302 and response["Location"] == reverse("reauth")
    assert Mailbox.objects.filter(pk=mailbox.pk).exists()

    body = alice.get(reverse("reauth")).content.decode()
    assert "delete the account" in body and 'name="code"' not in body

    response = alice.post(reverse("reauth"), {"password": PASSWORD})
    assert (
        response.status_code == 200 and "Continue: delete the account" in response.content.decode()
    )
    html = response.content.decode()
    assert PASSWORD not in html and 'name="next" value="/somewhere/"' in html
    assert AuditEvent.objects.filter(action="reauth.success", actor=world.users["alice"]).exists()

    # The password is not kept: the delete page asks for it again, then deletes.
    response = _replay(alice, response)
    assert response.status_code == 200 and _field_error(response, "password")
    response = alice.post(page, {"password": PASSWORD})
    assert response.status_code == 302 and not Mailbox.objects.filter(pk=mailbox.pk).exists()


def test_a_wrong_password_is_refused_next_to_the_field_and_audited(
    world: World, clock: FakeClock
) -> None:
    alice = world.client("alice")
    clock.advance(**STALE)
    alice.post(reverse("mailbox_delete", args=[world.acme_mailbox.pk]), {"password": PASSWORD})
    response = alice.post(reverse("reauth"), {"password": "not-it"})
    assert response.status_code == 200
    assert _field_error(response, "password") == "This is not your password."
    assert AuditEvent.objects.filter(action="reauth.failure", actor=world.users["alice"]).exists()
    response = alice.post(reverse("mailbox_delete", args=[world.acme_mailbox.pk]), {})
    assert response["Location"] == reverse("reauth")  # still not fresh


def test_guessing_the_password_is_throttled(world: World, clock: FakeClock, settings) -> None:
    settings.LOGIN_THROTTLE_DELAY_AFTER = 100
    settings.LOGIN_THROTTLE_LOCK_AFTER = 3
    alice = world.client("alice")
    clock.advance(**STALE)
    for _ in range(2):
        assert _field_error(alice.post(reverse("reauth"), {"password": "guess"}), "password")
    response = alice.post(reverse("reauth"), {"password": "guess"})
    assert "Too many failed logins" in response.content.decode()
    # Locked: even the right password is refused now, like at the login form.
    response = alice.post(reverse("reauth"), {"password": PASSWORD})
    assert response.status_code == 429 and "Too many failed logins" in response.content.decode()
    assert AuditEvent.objects.filter(action="login.lock").exists()


def test_an_enrolled_admin_needs_a_fresh_code_too(world: World, clock: FakeClock) -> None:
    alice_user = world.users["alice"]
    enrol(alice_user)
    alice = Client()
    alice.post("/login/", {"username": alice_user.username, "password": PASSWORD})
    assert alice.post("/login/code/", {"code": next_code(alice_user)}).status_code == 302
    page = reverse("mailbox_delete", args=[world.acme_mailbox.pk])
    clock.advance(**STALE)
    assert alice.post(page, {"password": PASSWORD})["Location"] == reverse("reauth")
    assert 'name="code"' in alice.get(reverse("reauth")).content.decode()

    response = alice.post(reverse("reauth"), {"password": PASSWORD, "code": wrong_code("x")})
    assert _field_error(response, "code") == "That code is not right (or was already used)."
    response = alice.post(reverse("reauth"), {"password": PASSWORD, "code": next_code(alice_user)})
    assert "Continue: delete the account" in response.content.decode()
    assert alice.post(page, {"password": PASSWORD}).status_code == 302
    assert not Mailbox.objects.filter(pk=world.acme_mailbox.pk).exists()


# --- resetting someone's two-factor login -----------------------------------------------------


def test_a_two_factor_reset_needs_a_fresh_reauthentication(world: World, clock: FakeClock) -> None:
    bob = world.users["bob"]
    enrol(bob)
    alice = world.client("alice")
    clock.advance(**STALE)
    url = reverse("two_factor_reset_member", args=[bob.pk])
    response = alice.post(url, {"next": "/"})
    assert response["Location"] == reverse("reauth") and is_enrolled(bob)

    response = alice.post(reverse("reauth"), {"password": PASSWORD})
    assert "Continue: reset a two-factor login" in response.content.decode()
    assert _replay(alice, response).status_code == 302
    assert not is_enrolled(bob)
    assert AuditEvent.objects.filter(action="two_factor.reset").count() == 1

    enrol(bob)
    clock.advance(**STALE)  # the confirmation has gone stale again
    assert alice.post(url)["Location"] == reverse("reauth") and is_enrolled(bob)


# --- sending limits above the plan (staff) ----------------------------------------------------


def test_raising_a_limit_above_the_plan_needs_a_fresh_reauthentication(
    world: World, clock: FakeClock
) -> None:
    mailbox = world.acme_mailbox
    staff = world.client("staff")
    clock.advance(**STALE)
    page = reverse("mailbox_detail", args=[mailbox.pk])
    # Within the plan, nothing sensitive: saved without asking.
    response = staff.post(page, general_data(mailbox, daily_send_limit="400"))
    assert response.status_code == 302
    assert Mailbox.objects.get(pk=mailbox.pk).daily_send_limit == 400

    response = staff.post(page, general_data(mailbox, first_name="Ann", daily_send_limit="5000"))
    assert response["Location"] == reverse("reauth")
    assert Mailbox.objects.get(pk=mailbox.pk).daily_send_limit == 400

    response = staff.post(reverse("reauth"), {"password": PASSWORD})
    assert "Continue: raise sending limits above the plan" in response.content.decode()
    assert _replay(staff, response).status_code == 302  # the input came back with the replay
    saved = Mailbox.objects.get(pk=mailbox.pk)
    assert (saved.daily_send_limit, saved.first_name) == (5000, "Ann")


def test_a_customer_is_refused_above_the_plan_without_being_asked_to_reauthenticate(
    world: World, clock: FakeClock
) -> None:
    mailbox = world.acme_mailbox
    alice = world.client("alice")
    clock.advance(**STALE)
    page = reverse("mailbox_detail", args=[mailbox.pk])
    response = alice.post(page, general_data(mailbox, daily_send_limit="5000"))
    assert response.status_code == 200 and "staff-only" in _field_error(
        response, "daily_send_limit"
    )


# --- mailbox owners -------------------------------------------------------------------------


def test_an_owner_reauthenticates_with_the_mailbox_password(world: World, clock: FakeClock) -> None:
    owner = Client()
    owner.post("/login/", {"username": world.acme_mailbox.address, "password": PASSWORD})
    clock.advance(**STALE)
    response = owner.post(reverse("reauth"), {"password": "not-it"})
    assert _field_error(response, "password") == "This is not your password."
    response = owner.post(reverse("reauth"), {"password": PASSWORD})
    assert response.status_code == 302
    event = AuditEvent.objects.get(action="reauth.success")
    assert event.mailbox == world.acme_mailbox


def test_the_reauthentication_page_is_for_the_logged_in() -> None:
    response = Client().get(reverse("reauth"))
    assert response.status_code == 302 and response["Location"].startswith("/login/")
