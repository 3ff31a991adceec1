"""Failed logins are slowed, then locked, per account name (as typed) and per client IP, for
admins and owners, at the password and at the code step; the answers never tell whether an
account exists. The clock is moved (security.clock), never waited for."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from mailboxes.models import Mailbox
from security import throttle
from security.models import AuditEvent, LoginAttempt, LoginLock
from tests.otp import FakeClock, enrol, next_code, wrong_code
from tests.personas import PASSWORD, World, build_world

pytestmark = pytest.mark.django_db
DELAYED = "Too many failed logins. Try again in 30 seconds."
LOCKED = "Too many failed logins. Try again in 15 minutes."
BAD_LOGIN = (
    "Please enter a correct username and password. Note that both fields may be case-sensitive."
)


@pytest.fixture
def world(domain_name: str) -> World:
    return build_world(domain_name.split(".")[0])


@pytest.fixture
def account_limits(settings) -> None:
    settings.LOGIN_THROTTLE_WINDOW_MINUTES = 15
    settings.LOGIN_THROTTLE_DELAY_AFTER = 3
    settings.LOGIN_THROTTLE_DELAY_SECONDS = 30
    settings.LOGIN_THROTTLE_LOCK_AFTER = 5
    settings.LOGIN_THROTTLE_LOCK_MINUTES = 15
    settings.LOGIN_THROTTLE_IP_DELAY_AFTER = 1000
    settings.LOGIN_THROTTLE_IP_LOCK_AFTER = 1000


def _answer(response) -> tuple[int, str]:
    """What a person sees: the status and the error above the form."""
    match = re.search(r'class="form-error"[^>]*>([^<]*)<', response.content.decode())
    return response.status_code, match.group(1).strip() if match else ""


def _transcript(name: str, password: str, ip: str, clock: FakeClock) -> list[tuple[int, str]]:
    client = Client(REMOTE_ADDR=ip)

    def attempt(password: str) -> tuple[int, str]:
        return _answer(client.post("/login/", {"username": name, "password": password}))

    answers = [attempt("wrong-password") for _ in range(3)]  # plain failures
    answers.append(attempt("wrong-password"))  # slowed: too soon after the third
    clock.advance(seconds=31)
    answers.append(attempt("wrong-password"))  # the fourth failure
    answers.append(attempt(password))  # too soon again: not even checked
    clock.advance(seconds=31)
    answers.append(attempt("wrong-password"))  # the fifth: locked from now on
    answers.append(attempt(password))
    clock.advance(minutes=14)
    answers.append(attempt(password))
    clock.advance(minutes=1, seconds=1)
    return answers


def test_an_account_is_slowed_then_locked_alike_whether_it_exists_or_not(
    world: World, clock: FakeClock, account_limits
) -> None:
    names = {
        "admin": world.users["alice"].username,
        "no such admin": "nobody-at-all",
        "owner": world.acme_mailbox.address,
        "no such owner": f"nobody@{world.acme_domain.name}",
    }
    transcripts = {
        label: _transcript(name, PASSWORD, f"127.0.0.{i + 10}", clock)
        for i, (label, name) in enumerate(names.items())
    }
    failed = (200, BAD_LOGIN)
    expected = [
        failed,
        failed,
        failed,
        (429, DELAYED),
        failed,
        (429, DELAYED),
        (429, LOCKED),
        (429, LOCKED),
        (429, "Too many failed logins. Try again in 1 minute."),
    ]
    for label, transcript in transcripts.items():
        assert transcript == expected, label

    # After the lock, the right password of an existing account logs in again.
    for label in ("admin", "owner"):
        client = Client(REMOTE_ADDR="127.0.0.99")
        assert (
            client.post("/login/", {"username": names[label], "password": PASSWORD}).status_code
            == 302
        )
        assert "_auth_user_id" in client.session

    # One audit entry per lock, whether the name exists or not.
    events = AuditEvent.objects.filter(action="login.lock").order_by("pk")
    assert [e.changes["after"]["name"] for e in events] == [n.lower() for n in names.values()]
    assert all(
        e.object_type == "security.loginlock" and e.changes["after"]["locked"] == "account"
        for e in events
    )
    by_name = {e.changes["after"]["name"]: e for e in events}
    assert by_name[world.acme_mailbox.address].organization == world.acme
    assert by_name[names["admin"]].organization == world.acme
    assert by_name["nobody-at-all"].organization is None
    assert by_name["nobody-at-all"].ip_address == "127.0.0.11"


def test_the_account_name_is_counted_as_typed_whatever_its_case_and_spaces(
    world: World, clock: FakeClock, account_limits
) -> None:
    name = world.users["alice"].username
    for typed in (name, f"  {name.upper()} ", name.title()):
        Client().post("/login/", {"username": typed, "password": "wrong"})
    response = Client().post("/login/", {"username": name, "password": PASSWORD})
    assert _answer(response) == (429, DELAYED)


def test_failures_age_out_of_the_window(world: World, clock: FakeClock, account_limits) -> None:
    name = world.users["alice"].username
    for _ in range(3):
        Client().post("/login/", {"username": name, "password": "wrong"})
    clock.advance(minutes=15, seconds=1)
    for _ in range(3):
        assert _answer(Client().post("/login/", {"username": name, "password": "wrong"}))[0] == 200
    assert LoginAttempt.objects.filter(key__startswith="account:").count() == 3  # old ones gone


def test_right_passwords_never_count(world: World, clock: FakeClock, account_limits) -> None:
    for _ in range(12):
        response = Client().post(
            "/login/", {"username": world.users["alice"].username, "password": PASSWORD}
        )
        assert response.status_code == 302
    assert not LoginAttempt.objects.exists() and not LoginLock.objects.exists()


def test_an_ip_is_slowed_then_locked_across_account_names(
    world: World, clock: FakeClock, settings
) -> None:
    settings.LOGIN_THROTTLE_DELAY_AFTER = settings.LOGIN_THROTTLE_LOCK_AFTER = 1000
    settings.LOGIN_THROTTLE_IP_DELAY_AFTER = 3
    settings.LOGIN_THROTTLE_IP_LOCK_AFTER = 5
    attacker = Client(REMOTE_ADDR="127.0.0.66")

    def attempt(name: str, secret: str = "wrong") -> tuple[int, str]:  # noqa: S107
        return _answer(attacker.post("/login/", {"username": name, "password": secret}))

    assert [attempt(f"user{i}")[0] for i in range(3)] == [200, 200, 200]
    assert attempt("user3") == (429, DELAYED)
    clock.advance(seconds=31)
    assert attempt(f"user4@{world.acme_domain.name}")[0] == 200
    clock.advance(seconds=31)
    assert attempt("user5") == (429, LOCKED)
    # Locked for every name from that address, the right password included...
    assert attempt(world.users["alice"].username, PASSWORD) == (429, LOCKED)
    # ...and for no one elsewhere.
    other = Client(REMOTE_ADDR="127.0.0.67")
    response = other.post(
        "/login/", {"username": world.users["alice"].username, "password": PASSWORD}
    )
    assert response.status_code == 302
    event = AuditEvent.objects.get(action="login.lock")
    assert (
        event.changes["after"]["locked"] == "ip" and event.changes["after"]["name"] == "127.0.0.66"
    )


def test_wrong_codes_count_like_wrong_passwords(
    world: World, clock: FakeClock, account_limits
) -> None:
    alice = world.users["alice"]
    enrol(alice)
    client = Client()

    def password_then_code(code: str) -> tuple[int, str]:
        response = client.post("/login/", {"username": alice.username, "password": PASSWORD})
        if response.status_code != 302:
            return _answer(response)
        assert response["Location"] == "/login/code/"  # a right password is no failure
        return _answer(client.post("/login/code/", {"code": code}))

    wrong = wrong_code(next_code(alice))
    client.post("/login/", {"username": alice.username, "password": PASSWORD})
    for _ in range(3):
        response = client.post("/login/code/", {"code": wrong})
        assert "That code is not right" in response.content.decode()
    # Too soon: the pending login is dropped, back to the password.
    response = client.post("/login/code/", {"code": next_code(alice)})
    assert _answer(response) == (429, DELAYED)
    assert 'action="/login/"' in response.content.decode()  # the password form, posting there
    assert client.get("/login/code/")["Location"] == "/login/"
    clock.advance(seconds=31)
    assert password_then_code(wrong)[0] == 200
    clock.advance(seconds=31)
    assert password_then_code(wrong) == (429, LOCKED)
    assert password_then_code(next_code(alice)) == (429, LOCKED)  # even the right password and code
    assert "_auth_user_id" not in client.session
    assert AuditEvent.objects.get(action="login.lock").organization == world.acme


def test_concurrent_attempts_count_against_each_other(
    world: World, clock: FakeClock, account_limits
) -> None:
    # Attempts still being checked (in other processes) already count: a burst cannot slip
    # through between the check and the count.
    keys = (throttle.account_key("alice"), "ip:127.0.0.5")
    in_flight = [throttle.begin(keys) for _ in range(3)]
    assert all(isinstance(a, throttle.Attempt) for a in in_flight)
    refused = throttle.begin(keys)
    assert isinstance(refused, throttle.Refusal) and not refused.locked
    assert LoginAttempt.objects.count() == 6  # the refused attempt left no row
    for attempt in in_flight:
        throttle.passed(attempt)
    assert isinstance(throttle.begin(keys), throttle.Attempt)


def test_a_lock_started_by_another_process_is_not_recorded_twice(
    world: World, clock: FakeClock, account_limits, rf
) -> None:
    keys = (throttle.account_key("alice"), "ip:127.0.0.5")
    attempts = [throttle.begin(keys) for _ in range(3)]
    for _ in range(2):
        clock.advance(seconds=31)
        attempts.append(throttle.begin(keys))
    request = rf.post("/login/")
    assert throttle.failed(attempts[0], request).locked  # five attempts counted: locked
    # Another process counted its rows before this one cleared them, and locks as well.
    LoginAttempt.objects.bulk_create(
        LoginAttempt(key=keys[0], created_at=clock.at) for _ in range(5)
    )
    assert throttle.failed(attempts[1], request).locked
    assert LoginLock.objects.count() == 1
    assert AuditEvent.objects.filter(action="login.lock").count() == 1


def test_guessing_at_the_switch_off_form_counts_too(
    world: World, clock: FakeClock, account_limits
) -> None:
    owner_mailbox = Mailbox.objects.get(pk=world.acme_mailbox.pk)
    client = Client()
    client.post("/login/", {"username": owner_mailbox.address, "password": PASSWORD})
    from owners.models import Owner

    user = Owner.objects.get(mailbox=owner_mailbox).user
    enrol(user)
    client = Client()
    client.post("/login/", {"username": owner_mailbox.address, "password": PASSWORD})
    client.post("/login/code/", {"code": next_code(user)})
    for _ in range(3):
        response = client.post("/two-factor/disable/", {"password": "guess", "code": "12345678"})
        assert "This is not your current password." in response.content.decode()
    response = client.post("/two-factor/disable/", {"password": PASSWORD, "code": "12345678"})
    assert response.status_code == 429 and DELAYED in response.content.decode()
