"""Two-factor login: enrolment, the code step at login, backup codes, switching off, an
admin's reset, and forced two-factor policies (organization, domain, account) with their
grace period. Admins and mailbox owners alike."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.http import HttpResponse
from django.test import Client
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from domains.models import Domain
from mailboxes.models import Mailbox
from mailboxes.services import mailbox_create
from organizations.models import Organization
from owners.models import Owner
from security.models import AuditEvent, TwoFactorGrace
from security.twofactor import is_enrolled
from tests.otp import (
    FakeClock,
    code_at,
    current_step,
    enrol,
    key_from_page,
    next_code,
    wrong_code,
)
from tests.personas import ACTOR, PASSWORD, World, build_world

pytestmark = pytest.mark.django_db
ENROL = "/two-factor/enrol/"


@pytest.fixture
def world(domain_name: str) -> World:
    return build_world(domain_name.split(".")[0])


def _login(name: str, password: str = PASSWORD, client: Client | None = None):
    client = client or Client()
    return client, client.post("/login/", {"username": name, "password": password})


def _logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def _owner_user(mailbox: Mailbox):
    """The owner's panel user (made at the first login, as the real one is)."""
    _login(mailbox.address)
    return Owner.objects.get(mailbox=mailbox).user


def _form_error(response) -> str:
    match = re.search(r'class="(?:form|field)-error"[^>]*>([^<]*)<', response.content.decode())
    return match.group(1).strip() if match else ""


# --- enrolment ------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["admin", "owner"])
def test_enrolment_shows_a_qr_code_and_the_key_and_needs_a_first_code(world: World, who) -> None:
    name = world.users["alice"].username if who == "admin" else world.acme_mailbox.address
    client, _ = _login(name)
    page = client.get(ENROL).content.decode()
    assert '<svg width="' in page and 'class="segno"' in page  # the QR code, inline
    key = key_from_page(page)
    assert key_from_page(client.get(ENROL).content.decode()) == key  # the same until confirmed

    response = client.post(ENROL, {"code": wrong_code(code_at(key, current_step()))})
    assert "That code is not right" in response.content.decode()
    response = client.post(ENROL, {"code": ""})
    assert "This field is required" in response.content.decode()
    user = get_user_model().objects.get(pk=client.session["_auth_user_id"])
    assert not is_enrolled(user)

    response = client.post(ENROL, {"code": code_at(key, current_step())})
    body = response.content.decode()
    assert response.status_code == 200 and "shown only this once" in body
    codes = re.findall(r"<li><code>([a-z2-7]{8})</code></li>", body)
    assert len(codes) == 10
    assert sorted(codes) == sorted(
        StaticToken.objects.filter(device__user=user).values_list("token", flat=True)
    )
    device = TOTPDevice.objects.get(user=user)
    assert device.confirmed and device.key == key
    assert client.get("/two-factor/").status_code == 200  # this session counts as verified
    assert client.get(ENROL)["Location"] == "/two-factor/"  # already on
    event = AuditEvent.objects.get(action="two_factor.enable")
    assert key not in str(event.changes) and codes[0] not in str(event.changes)
    if who == "owner":
        assert event.object_type == "mailboxes.mailbox"
        assert event.object_id == str(world.acme_mailbox.pk)


def test_the_confirming_code_cannot_log_in_again(world: World) -> None:
    client, _ = _login(world.users["alice"].username)
    key = key_from_page(client.get(ENROL).content.decode())
    step = current_step()
    client.post(ENROL, {"code": code_at(key, step)})
    client.post("/logout/")
    client, _ = _login(world.users["alice"].username)
    response = client.post("/login/code/", {"code": code_at(key, step)})
    assert not _logged_in(client) and "not right" in response.content.decode()


# --- the code step at login -----------------------------------------------------------------


@pytest.mark.parametrize("who", ["admin", "owner"])
def test_an_enrolled_user_logs_in_with_password_then_code(world: World, who) -> None:
    name = world.users["alice"].username if who == "admin" else world.acme_mailbox.address
    user = world.users["alice"] if who == "admin" else _owner_user(world.acme_mailbox)
    enrol(user)
    client, response = _login(name, client=Client())
    assert response["Location"] == "/login/code/" and not _logged_in(client)
    assert client.get("/organizations/")["Location"].startswith("/login/")

    response = client.post("/login/code/", {"code": ""})
    assert "This field is required" in response.content.decode() and not _logged_in(client)
    response = client.post("/login/code/", {"code": wrong_code(next_code(user))})
    assert "That code is not right" in response.content.decode() and not _logged_in(client)

    response = client.post("/login/code/", {"code": next_code(user)})
    assert response.status_code == 302 and _logged_in(client)
    assert client.session["otp_device_id"] == TOTPDevice.objects.get(user=user).persistent_id
    home = "/me/" if who == "owner" else f"/organizations/{world.acme.pk}/"
    assert client.get("/", follow=True).redirect_chain[-1][0] == home


def test_login_keeps_next_through_the_code_step(world: World) -> None:
    user = world.users["alice"]
    enrol(user)
    client = Client()
    client.post(
        "/login/", {"username": user.username, "password": PASSWORD, "next": "/two-factor/"}
    )
    response = client.post("/login/code/", {"code": next_code(user)})
    assert response["Location"] == "/two-factor/"


def test_a_backup_code_logs_in_once(world: World) -> None:
    user = world.users["alice"]
    _, codes = enrol(user)
    client, _ = _login(user.username)
    typed = f" {codes[0][:4].upper()}-{codes[0][4:].upper()} "  # as people type them
    assert client.post("/login/code/", {"code": typed}).status_code == 302 and _logged_in(client)
    assert StaticToken.objects.filter(device__user=user).count() == 9

    client, _ = _login(user.username)
    response = client.post("/login/code/", {"code": codes[0]})
    assert not _logged_in(client) and "That code is not right" in response.content.decode()
    assert client.post("/login/code/", {"code": codes[1]}).status_code == 302


def test_the_code_step_expires(world: World, clock: FakeClock, settings) -> None:
    user = world.users["alice"]
    enrol(user)
    client, _ = _login(user.username)
    clock.advance(seconds=settings.LOGIN_CODE_TIMEOUT_SECONDS + 1)
    response = client.post("/login/code/", {"code": next_code(user)}, follow=True)
    assert response.redirect_chain[0][0] == "/login/" and not _logged_in(client)
    assert "That took too long" in response.content.decode()
    assert client.get("/login/code/")["Location"] == "/login/"  # the pending login is gone


def test_the_code_step_without_a_password_step_goes_to_login(world: World) -> None:
    assert Client().get("/login/code/")["Location"] == "/login/"
    assert Client().post("/login/code/", {"code": "123456"})["Location"] == "/login/"


def test_a_session_that_never_gave_the_code_is_ended(world: World) -> None:
    user = world.users["alice"]
    enrol(user)
    client = world.client("alice")  # e.g. a session from before the enrolment
    response = client.get("/organizations/")
    assert response["Location"] == "/login/" and not _logged_in(client)


def test_the_admin_sites_login_form_is_the_panels(world: World) -> None:
    response = Client().get("/admin/login/?next=/admin/")
    assert response["Location"] == "/login/?next=%2Fadmin%2F"


# --- backup codes and switching off ---------------------------------------------------------


def _verified_client(user) -> Client:
    client = Client()
    name = user.owner.mailbox.address if hasattr(user, "owner") else user.username
    client.post("/login/", {"username": name, "password": PASSWORD})
    assert client.post("/login/code/", {"code": next_code(user)}).status_code == 302
    return client


def test_new_backup_codes_replace_the_old_ones(world: World) -> None:
    user = world.users["alice"]
    _, old = enrol(user)
    client = _verified_client(user)
    assert client.get("/two-factor/backup-codes/").status_code == 405
    body = client.post("/two-factor/backup-codes/").content.decode()
    new = re.findall(r"<li><code>([a-z2-7]{8})</code></li>", body)
    assert len(new) == 10 and not set(new) & set(old)
    assert "Your earlier codes no longer work" in body
    tokens = set(StaticToken.objects.filter(device__user=user).values_list("token", flat=True))
    assert tokens == set(new)
    assert AuditEvent.objects.filter(action="two_factor.backup_codes_regenerate").count() == 1


@pytest.mark.parametrize("who", ["admin", "owner"])
def test_switching_off_needs_the_password_and_a_code(world: World, who) -> None:
    user = world.users["alice"] if who == "admin" else _owner_user(world.acme_mailbox)
    _, codes = enrol(user)
    client = _verified_client(user)
    assert client.get("/two-factor/disable/").status_code == 405
    for data, message in [
        ({"password": "not-my-password", "code": codes[0]}, "This is not your current password."),
        ({"password": PASSWORD, "code": "zzzzzzzz"}, "That code is not right"),
        ({"password": PASSWORD, "code": ""}, "This field is required."),
    ]:
        response = client.post("/two-factor/disable/", data)
        assert response.status_code == 200 and message in response.content.decode(), message
        assert is_enrolled(user)
    response = client.post("/two-factor/disable/", {"password": PASSWORD, "code": codes[0]})
    assert response["Location"] == "/two-factor/"
    assert not is_enrolled(user) and not StaticToken.objects.filter(device__user=user).exists()
    assert client.get("/two-factor/").status_code == 200  # still logged in
    assert AuditEvent.objects.filter(action="two_factor.disable").count() == 1
    client, response = _login(
        world.acme_mailbox.address if who == "owner" else user.username, client=Client()
    )
    assert response["Location"] != "/login/code/" and _logged_in(client)


# --- an admin resets someone's two-factor login ---------------------------------------------


def _reset_member(world: World, actor: str, target: str) -> HttpResponse:
    return world.client(actor).post(f"/users/{world.users[target].pk}/two-factor/reset/")


def test_an_organization_admin_resets_a_members_two_factor(world: World, monkeypatch) -> None:
    bob = world.users["bob"]
    enrol(bob)
    alice = world.client("alice")
    url = f"/users/{bob.pk}/two-factor/reset/"
    assert "removes the authenticator" in alice.get(url).content.decode()

    # The single place re-authentication plugs in: when it answers, nothing is reset.
    monkeypatch.setattr(
        "security.twofactor_views.reauthentication_required",
        lambda request: HttpResponse("re-authenticate first", status=403),
    )
    assert alice.post(url).status_code == 403 and is_enrolled(bob)
    monkeypatch.undo()

    response = alice.post(url, {"next": f"/organizations/{world.acme.pk}/two-factor/"})
    assert response["Location"] == f"/organizations/{world.acme.pk}/two-factor/"
    assert not is_enrolled(bob)
    event = AuditEvent.objects.get(action="two_factor.reset")
    assert event.actor == world.users["alice"] and event.organization == world.acme
    assert event.changes["after"]["user"] == bob.username


@pytest.mark.parametrize(
    ("actor", "target", "status"),
    [
        ("bob", "alice", 403),  # read-only member of the same organization
        ("charlie", "bob", 404),  # another tenant
        ("dave", "bob", 404),  # a domain admin: owners of their domains only
        ("alice", "alice", 404),  # one's own: the disable form, with password and code
        ("alice", "staff", 404),  # staff are not members
        ("staff", "bob", 302),
    ],
)
def test_who_may_reset_a_members_two_factor(world: World, actor, target, status) -> None:
    enrol(world.users[target])
    # Alice's own session has given its code (else it would simply be logged out).
    client = _verified_client(world.users[actor]) if actor == target else world.client(actor)
    response = client.post(f"/users/{world.users[target].pk}/two-factor/reset/")
    assert response.status_code == status
    assert is_enrolled(world.users[target]) is (status != 302)
    assert AuditEvent.objects.filter(action="two_factor.reset").exists() is (status == 302)


def test_an_admin_of_another_org_cannot_reset_a_staff_member_of_theirs(world: World) -> None:
    from organizations.models import Membership, Role

    staff = world.users["staff"]
    Membership.objects.create(user=staff, organization=world.acme, role=Role.READ_ONLY)
    enrol(staff)
    assert _reset_member(world, "alice", "staff").status_code == 403
    assert is_enrolled(staff)


@pytest.mark.parametrize(
    ("actor", "domain", "status"),
    [
        ("alice", "acme_domain", 302),  # organization admin
        ("staff", "acme_domain", 302),
        ("dave", "acme_second", 302),  # domain admin of that domain
        ("dave", "acme_domain", 404),  # domain admin of another domain of the organization
        ("bob", "acme_domain", 403),  # read-only
        ("charlie", "acme_domain", 404),  # another tenant
    ],
)
def test_who_may_reset_an_owners_two_factor(world: World, actor, domain, status) -> None:
    mailbox = mailbox_create(
        actor=ACTOR, domain=getattr(world, domain), local_part="lena", password=PASSWORD
    )
    owner = _owner_user(mailbox)
    enrol(owner)
    url = f"/accounts/{mailbox.pk}/two-factor/reset/"
    response = world.client(actor).post(url)
    assert response.status_code == status
    assert is_enrolled(owner) is (status != 302)
    if status == 302:
        assert response["Location"] == f"/accounts/{mailbox.pk}/security/"
        event = AuditEvent.objects.get(action="two_factor.reset")
        assert event.object_type == "mailboxes.mailbox" and event.object_id == str(mailbox.pk)
        assert event.organization == world.acme


def test_resetting_an_owner_who_has_no_two_factor_changes_nothing(world: World) -> None:
    url = f"/accounts/{world.acme_mailbox.pk}/two-factor/reset/"
    alice = world.client("alice")
    assert "has no two-factor login" in alice.get(url).content.decode()
    assert alice.post(url)["Location"] == f"/accounts/{world.acme_mailbox.pk}/security/"
    assert not AuditEvent.objects.filter(action="two_factor.reset").exists()


def test_anonymous_is_sent_to_login_from_the_two_factor_pages(world: World) -> None:
    anonymous = Client()
    for url in [
        "/two-factor/",
        ENROL,
        f"/users/{world.users['bob'].pk}/two-factor/reset/",
        f"/accounts/{world.acme_mailbox.pk}/two-factor/reset/",
        f"/organizations/{world.acme.pk}/two-factor/",
    ]:
        assert anonymous.get(url)["Location"].startswith("/login/?next="), url


# --- the organization's policy page ---------------------------------------------------------


def test_an_organization_admin_sets_the_policy(world: World) -> None:
    url = f"/organizations/{world.acme.pk}/two-factor/"
    alice = world.client("alice")
    page = alice.get(url).content.decode()
    assert world.users["bob"].username in page and world.users["charlie"].username not in page
    response = alice.post(url, {"force_2fa": "on", "two_factor_grace_days": "100"})
    assert "less than or equal to 90" in _form_error(response)
    assert not Organization.objects.get(pk=world.acme.pk).force_2fa
    response = alice.post(url, {"force_2fa": "on", "two_factor_grace_days": "3"})
    assert response["Location"] == url
    organization = Organization.objects.get(pk=world.acme.pk)
    assert organization.force_2fa and organization.two_factor_grace_days == 3
    event = AuditEvent.objects.get(action="organization.two_factor_policy")
    assert event.changes == {
        "before": {"force_2fa": False, "two_factor_grace_days": 7},
        "after": {"force_2fa": True, "two_factor_grace_days": 3},
    }


@pytest.mark.parametrize(
    ("who", "get", "post"), [("bob", 200, 403), ("charlie", 404, 404), ("dave", 404, 404)]
)
def test_who_sees_and_changes_the_policy(world: World, who, get, post) -> None:
    url = f"/organizations/{world.acme.pk}/two-factor/"
    client = world.client(who)
    response = client.get(url)
    assert response.status_code == get
    if get == 200:
        assert "can see but not change" in response.content.decode()
    assert client.post(url, {"force_2fa": "on", "two_factor_grace_days": "1"}).status_code == post
    assert not Organization.objects.get(pk=world.acme.pk).force_2fa


# --- forced two-factor policies -------------------------------------------------------------


def _force(world: World, level: str, grace_days: int = 7) -> None:
    Organization.objects.filter(pk=world.acme.pk).update(two_factor_grace_days=grace_days)
    if level == "organization":
        Organization.objects.filter(pk=world.acme.pk).update(force_2fa=True)
    elif level == "domain":
        Domain.objects.filter(pk=world.acme_domain.pk).update(force_2fa=True)
    else:
        Mailbox.objects.filter(pk=world.acme_mailbox.pk).update(force_2fa=True)


POLICY_CASES = [
    # (policy level, who logs in, does it apply?)
    ("organization", "alice", True),
    ("organization", "bob", True),
    ("organization", "owner", True),
    ("organization", "charlie", False),  # another tenant
    ("domain", "owner", True),
    ("domain", "alice", False),  # a domain's policy: its accounts' owners and domain admins
    ("account", "owner", True),
    ("account", "alice", False),
]


def _name(world: World, who: str) -> str:
    return world.acme_mailbox.address if who == "owner" else world.users[who].username


@pytest.mark.parametrize(("level", "who", "applies"), POLICY_CASES)
def test_during_the_grace_period_login_sends_to_enrolment_but_lets_go_on(
    world: World, clock: FakeClock, level, who, applies
) -> None:
    _force(world, level)
    client, response = _login(_name(world, who))
    assert _logged_in(client)
    if not applies:
        assert response["Location"] == "/" and not TwoFactorGrace.objects.exists()
        return
    assert response["Location"] == f"{ENROL}?next=%2F"
    page = client.get(response["Location"]).content.decode()
    assert f"required by the {level}" in page
    assert "postpone it for 7 more days" in page and "Remind me later" in page
    clock.advance(days=5, hours=1)
    page = client.get(ENROL).content.decode()
    assert "postpone it for 2 more days" in page
    assert client.get("/organizations/").status_code == 200  # may go on
    assert client.get("/", follow=True).status_code == 200


@pytest.mark.parametrize(("level", "who", "applies"), [c for c in POLICY_CASES if c[2]])
def test_after_the_grace_period_only_enrolment_is_reachable(
    world: World, clock: FakeClock, level, who, applies
) -> None:
    _force(world, level)
    client, _ = _login(_name(world, who))
    clock.advance(days=7, seconds=1)
    for url in [
        "/",
        "/organizations/",
        "/me/",
        "/two-factor/",
        f"/domains/{world.acme_domain.pk}/",
    ]:
        assert client.get(url)["Location"] == ENROL, url
    page = client.get(ENROL).content.decode()
    assert "Set it up now to continue" in page and "Remind me later" not in page

    # A new login goes straight to enrolment, with no way round it.
    client, response = _login(_name(world, who))
    assert response["Location"].startswith(ENROL)
    assert client.get("/organizations/")["Location"] == ENROL

    # Logging out still works; enrolling opens everything again.
    blocked, _ = _login(_name(world, who))
    assert blocked.post("/logout/").status_code == 302 and not _logged_in(blocked)
    key = key_from_page(client.get(ENROL).content.decode())
    assert client.post(ENROL, {"code": code_at(key, current_step())}).status_code == 200
    assert client.get("/organizations/").status_code == 200
    assert client.post("/logout/").status_code == 302 and not _logged_in(client)


def test_the_grace_period_counts_from_the_first_login_under_the_policy(
    world: World, clock: FakeClock
) -> None:
    alice = world.users["alice"]
    _login(alice.username)  # before the policy: no grace period
    assert not TwoFactorGrace.objects.exists()
    _force(world, "organization")
    first = clock.at
    clock.advance(days=3)
    _login(alice.username)
    started = TwoFactorGrace.objects.get(user=alice).started_at
    assert started == first + timedelta(days=3)
    clock.advance(days=3)
    _login(alice.username)  # a later login does not restart it
    assert TwoFactorGrace.objects.get(user=alice).started_at == started


def test_a_lifted_policy_frees_the_user_and_forgets_the_grace_period(
    world: World, clock: FakeClock
) -> None:
    _force(world, "organization")
    client, _ = _login(world.users["alice"].username)
    clock.advance(days=8)
    assert client.get("/organizations/")["Location"] == ENROL
    Organization.objects.filter(pk=world.acme.pk).update(force_2fa=False)
    assert client.get("/organizations/").status_code == 200  # at once, mid-session
    _login(world.users["alice"].username)
    assert not TwoFactorGrace.objects.exists()


def test_switching_off_under_a_policy_gives_no_fresh_grace_period(
    world: World, clock: FakeClock
) -> None:
    _force(world, "organization")
    alice = world.users["alice"]
    _login(alice.username)  # the grace period starts
    _, codes = enrol(alice)
    clock.advance(days=8)
    client = _verified_client(alice)
    assert client.get("/organizations/").status_code == 200
    client.post("/two-factor/disable/", {"password": PASSWORD, "code": codes[0]})
    assert not is_enrolled(alice)
    assert client.get("/organizations/")["Location"] == ENROL


def test_a_domain_policy_applies_to_that_domains_admins(world: World, clock: FakeClock) -> None:
    Domain.objects.filter(pk=world.acme_second.pk).update(force_2fa=True)
    _, response = _login(world.users["dave"].username)
    assert response["Location"].startswith(ENROL)
    _, response = _login(world.users["alice"].username)  # organization admin: not a domain admin
    assert response["Location"] == "/"


def test_no_grace_period_means_enrolment_now(world: World) -> None:
    _force(world, "account", grace_days=0)
    client, response = _login(world.acme_mailbox.address)
    assert response["Location"].startswith(ENROL)
    assert client.get("/me/")["Location"] == ENROL
    assert "Remind me later" not in client.get(ENROL).content.decode()


def test_a_forced_password_change_comes_before_forced_enrolment(
    world: World, clock: FakeClock
) -> None:
    _force(world, "account", grace_days=0)
    Mailbox.objects.filter(pk=world.acme_mailbox.pk).update(force_password_change=True)
    client, _ = _login(world.acme_mailbox.address)
    assert client.get("/me/")["Location"] == "/me/password/"
    assert client.get("/me/password/").status_code == 200  # no redirect loop between the two
    assert client.get(ENROL)["Location"] == "/me/password/"
