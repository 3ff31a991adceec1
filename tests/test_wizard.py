"""The "+ Email Account" wizard: four steps, a summary, one confirm that creates the account."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.contrib.sessions.backends.db import SessionStore
from django.core.exceptions import ValidationError
from django.db import IntegrityError
from django.http import HttpResponse
from django.test import Client
from django.urls import NoReverseMatch, resolve, reverse

from domains.models import Domain
from mailboxes.models import Mailbox
from mailboxes.passwords import verify_password
from mailboxes.services import mailbox_create
from mailboxes.wizard import remember_created
from organizations.models import Plan
from security.models import AuditEvent
from tests.personas import ACTOR, PASSWORD, World, build_world

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "correct-horse-42"
ACCOUNT = {
    "first_name": "Sales",
    "last_name": "Dept",
    "local_part": "Sales",
    "password1": NEW_PASSWORD,
    "password2": NEW_PASSWORD,
}
SERVICES = {"quota": "2G", "mail_access": "on", "webmail_enabled": "on"}
SECURITY = {
    "force_password_change": "on",
    "password_expiry_days": "90",
    "force_2fa": "on",
    "allowed_networks": "10.0.0.0/8\n192.0.2.7",
    "api_access": "on",
}
OPTIONS = {"forward_to": "boss@example.com\nTeam@Example.org", "spam_to_inbox": "on"}
STEP_DATA = {"account": ACCOUNT, "services": SERVICES, "security": SECURITY, "options": OPTIONS}


@pytest.fixture
def world(domain_name: str) -> World:
    return build_world(domain_name.split(".")[0])


@pytest.fixture
def alice(world: World) -> Client:
    return world.client("alice")


# --- helpers -----------------------------------------------------------------------------


def start(client: Client, domain: Domain) -> str:
    response = client.get(reverse("mailbox_wizard_start", args=[domain.pk]))
    assert response.status_code == 302, response
    match = resolve(response["Location"])
    assert match.url_name == "mailbox_wizard_step" and match.kwargs["step"] == "account"
    return str(match.kwargs["token"])


def step_url(domain: Domain, token: str, step: str) -> str:
    if step == "summary":
        return reverse("mailbox_wizard_summary", args=[domain.pk, token])
    return reverse("mailbox_wizard_step", args=[domain.pk, token, step])


def post_step(
    client: Client, domain: Domain, token: str, step: str, data: dict[str, str], action="next"
) -> HttpResponse:
    return client.post(step_url(domain, token, step), {**data, "action": action})


def run_to_summary(client: Client, domain: Domain, **changes: dict[str, str]) -> str:
    token = start(client, domain)
    for step, data in STEP_DATA.items():
        response = post_step(client, domain, token, step, {**data, **changes.get(step, {})})
        assert response.status_code == 302, response.context["form"].errors
    assert response["Location"] == step_url(domain, token, "summary")
    return token


def confirm(client: Client, domain: Domain, token: str) -> HttpResponse:
    return client.post(reverse("mailbox_wizard_confirm", args=[domain.pk, token]))


def account_url(mailbox: Mailbox) -> str:
    try:
        return reverse("mailbox_detail", args=[mailbox.pk])
    except NoReverseMatch:
        return reverse("mailbox_list", args=[mailbox.domain_id])


def flashes(response: HttpResponse) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def field_errors(response: HttpResponse) -> dict[str, list[str]]:
    assert response.status_code == 200
    return dict(response.context["form"].errors)


# --- the happy path ----------------------------------------------------------------------


def test_full_run_creates_the_account_with_every_setting(world: World, alice: Client) -> None:
    domain = world.acme_domain
    Plan.objects.filter(pk=world.acme.plan_id).update(offers_activesync=True, offers_dav=True)
    Domain.objects.filter(pk=domain.pk).update(
        default_language="fr", default_time_zone="Europe/Paris"
    )
    token = run_to_summary(
        alice, domain, services={"activesync_enabled": "on", "dav_enabled": "on"}
    )
    summary = alice.get(step_url(domain, token, "summary"))
    body = summary.content.decode()
    assert summary.status_code == 200
    assert f"sales@{domain.name}" in body and "192.0.2.7/32" in body and "team@example.org" in body
    assert "Create account" in body and NEW_PASSWORD not in body
    # Nothing exists before the confirm.
    assert not Mailbox.objects.filter(domain=domain, local_part="sales").exists()
    assert not AuditEvent.objects.filter(
        action="mailbox.create", changes__after__address=f"sales@{domain.name}"
    ).exists()

    response = confirm(alice, domain, token)

    mailbox = Mailbox.objects.get(domain=domain, local_part="sales")
    assert response.status_code == 302 and response["Location"] == account_url(mailbox)
    assert flashes(response) == [
        f"Account sales@{domain.name} created; the mail servers are being updated."
    ]
    assert verify_password(NEW_PASSWORD, mailbox.password_hash)
    assert (mailbox.first_name, mailbox.last_name) == ("Sales", "Dept")
    assert mailbox.quota_bytes == 2 * 1024**3
    assert (mailbox.language, mailbox.time_zone) == ("fr", "Europe/Paris")
    assert mailbox.imap_enabled and mailbox.pop3_enabled and mailbox.smtp_enabled
    assert mailbox.sieve_enabled and mailbox.webmail_enabled
    assert mailbox.activesync_enabled and mailbox.dav_enabled
    assert mailbox.force_password_change and mailbox.force_2fa and mailbox.api_access
    assert mailbox.password_expiry_days == 90
    assert mailbox.allowed_networks == ["10.0.0.0/8", "192.0.2.7/32"]
    assert mailbox.forward_to == ["boss@example.com", "team@example.org"]
    assert mailbox.forward_keep_copy is False and mailbox.spam_to_inbox is True
    event = AuditEvent.objects.get(action="mailbox.create", object_id=str(mailbox.pk))
    assert event.changes["after"]["address"] == mailbox.address
    assert event.actor == world.users["alice"]
    # The draft, and the password with it, is gone from the session.
    assert NEW_PASSWORD not in str(dict(alice.session))


def test_defaults_come_from_the_domain_and_the_plan(world: World, alice: Client) -> None:
    domain = world.acme_domain
    Domain.objects.filter(pk=domain.pk).update(
        default_quota_bytes=3 * 1024**3, password_expiry_days=30, force_2fa=True
    )
    token = start(alice, domain)
    post_step(alice, domain, token, "account", ACCOUNT)
    services = alice.get(step_url(domain, token, "services")).context["form"]
    assert services["quota"].value() == "3G"
    assert services["mail_access"].value() and services["webmail_enabled"].value()
    assert not services["activesync_enabled"].value()
    assert "disabled" in services["activesync_enabled"].field.widget.attrs  # not in the plan
    post_step(alice, domain, token, "services", {"quota": "3G", "mail_access": "on"})
    security = alice.get(step_url(domain, token, "security")).context["form"]
    assert security["password_expiry_days"].value() == 30
    assert security["force_2fa"].value() is True


def test_services_left_off_are_stored_off(world: World, alice: Client) -> None:
    domain = world.acme_domain
    token = run_to_summary(alice, domain, services={"mail_access": "", "webmail_enabled": ""})
    confirm(alice, domain, token)
    mailbox = Mailbox.objects.get(domain=domain, local_part="sales")
    assert not (mailbox.imap_enabled or mailbox.pop3_enabled or mailbox.smtp_enabled)
    assert not (mailbox.sieve_enabled or mailbox.webmail_enabled)


def test_a_generated_password_is_shown_once_and_used(world: World, alice: Client) -> None:
    domain = world.acme_domain
    token = start(alice, domain)
    response = post_step(
        alice, domain, token, "account", {"first_name": "Ann", "local_part": "ann"}, "generate"
    )
    assert response["Location"] == step_url(domain, token, "account")
    page = alice.get(step_url(domain, token, "account"))
    generated = page.context["revealed_password"]
    body = page.content.decode()
    assert len(generated) >= 16 and generated in body
    assert "no-store" in page["Cache-Control"]
    assert 'data-copy="#generated-password" hidden' in body and "js/wizard.js" in body
    assert page.context["form"]["first_name"].value() == "Ann"  # kept while generating
    again = alice.get(step_url(domain, token, "account")).content.decode()
    assert generated not in again and "A generated password is chosen" in again

    # Next without typing a password keeps the generated one.
    assert post_step(alice, domain, token, "account", {"local_part": "ann"}).status_code == 302
    for step in ("services", "security", "options"):
        post_step(alice, domain, token, step, STEP_DATA[step])
    confirm(alice, domain, token)
    mailbox = Mailbox.objects.get(domain=domain, local_part="ann")
    assert verify_password(generated, mailbox.password_hash)


# --- errors at their step ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("step", "data", "field", "message"),
    [
        ("account", {"local_part": "info"}, "local_part", "already exists"),
        ("account", {"local_part": "bad..part"}, "local_part", "is not allowed before the @"),
        ("account", {"local_part": ""}, "local_part", "required"),
        ("account", {"password2": "something-else-1"}, "password2", "differ"),
        ("account", {"password1": "short", "password2": "short"}, "password1", "at least 8"),
        (
            "account",
            {"password1": "nine-char", "password2": "nine-char"},
            "password1",
            "domain's policy asks for at least 10",
        ),
        ("account", {"password1": "", "password2": ""}, "password1", "Enter a password"),
        ("services", {"quota": "20G"}, "quota", "at most 10G"),
        ("services", {"quota": "0"}, "quota", "at most 10G"),
        ("services", {"quota": "lots"}, "quota", "is not a size"),
        ("services", {"activesync_enabled": "on"}, "activesync_enabled", "Not part of"),
        ("services", {"dav_enabled": "on"}, "dav_enabled", "Not part of"),
        ("security", {"allowed_networks": "10.0.0.0/33"}, "allowed_networks", "not an IP"),
        ("security", {"password_expiry_days": "0"}, "password_expiry_days", "greater than"),
        (
            "options",
            {"forward_to": "\n".join(f"u{i}@example.com" for i in range(21))},
            "forward_to",
            "At most 20",
        ),
        ("options", {"forward_to": "not an address"}, "forward_to", "not a valid e-mail"),
        ("options", {"forward_to": "SALES@{domain}"}, "forward_to", "cannot forward to itself"),
    ],
)
def test_each_error_is_shown_at_its_field_on_its_step(
    world: World, alice: Client, step: str, data: dict[str, str], field: str, message: str
) -> None:
    domain = world.acme_domain
    token = start(alice, domain)
    for earlier, earlier_data in STEP_DATA.items():
        if earlier == step:
            break
        post_step(alice, domain, token, earlier, earlier_data)
    data = {k: v.replace("{domain}", domain.name) for k, v in data.items()}

    response = post_step(alice, domain, token, step, {**STEP_DATA[step], **data})

    errors = field_errors(response)
    assert list(errors) == [field] and message in " ".join(errors[field])
    assert 'class="field-error"' in response.content.decode()
    # The next step stays closed until this one is right.
    summary = alice.get(step_url(domain, token, "summary"))
    assert summary["Location"] == step_url(domain, token, step)
    assert Mailbox.objects.filter(domain=domain).count() == 1  # only the persona's "info"


def test_a_valid_password_is_kept_when_another_field_is_wrong(world: World, alice: Client) -> None:
    domain = world.acme_domain
    token = start(alice, domain)
    response = post_step(alice, domain, token, "account", {**ACCOUNT, "local_part": "info"})
    assert "local_part" in field_errors(response)
    assert "leave both empty to keep it" in response.content.decode()
    post_step(alice, domain, token, "account", {"local_part": "sales"})
    for step in ("services", "security", "options"):
        post_step(alice, domain, token, step, STEP_DATA[step])
    confirm(alice, domain, token)
    mailbox = Mailbox.objects.get(domain=domain, local_part="sales")
    assert verify_password(NEW_PASSWORD, mailbox.password_hash)


def test_an_address_taken_meanwhile_sends_back_to_step_one(world: World, alice: Client) -> None:
    domain = world.acme_domain
    token = run_to_summary(alice, domain)
    mailbox_create(
        actor=ACTOR, domain=domain, local_part="sales", password=PASSWORD, quota_bytes=1024**3
    )

    response = confirm(alice, domain, token)

    assert response["Location"] == step_url(domain, token, "account")
    page = alice.get(response["Location"])
    assert "already exists" in " ".join(field_errors(page)["local_part"])
    assert Mailbox.objects.filter(domain=domain, local_part="sales").count() == 1
    # Fixing it on step 1 and confirming again works: the draft was kept.
    post_step(alice, domain, token, "account", {**ACCOUNT, "local_part": "sales2"})
    assert alice.get(step_url(domain, token, "summary")).status_code == 200
    confirm(alice, domain, token)
    assert Mailbox.objects.filter(domain=domain, local_part="sales2").exists()


def test_a_plan_changed_meanwhile_sends_back_to_the_services(world: World, alice: Client) -> None:
    domain = world.acme_domain
    token = run_to_summary(alice, domain)
    Plan.objects.filter(pk=world.acme.plan_id).update(offers_webmail=False)

    response = alice.get(step_url(domain, token, "summary"))

    assert response["Location"] == step_url(domain, token, "services")
    errors = field_errors(alice.get(response["Location"]))
    assert list(errors) == ["webmail_enabled"]


@pytest.mark.parametrize(
    ("key", "step", "field"),
    [
        ("local_part", "account", "local_part"),
        ("password", "account", "password1"),
        ("quota", "services", "quota"),
        ("imap_enabled", "services", "mail_access"),
        ("activesync_enabled", "services", "activesync_enabled"),
        ("allowed_networks", "security", "allowed_networks"),
        ("password_expiry_days", "security", "password_expiry_days"),
        ("forward_to", "options", "forward_to"),
    ],
)
def test_service_errors_at_confirm_go_to_the_step_of_their_field(
    world: World, alice: Client, monkeypatch: pytest.MonkeyPatch, key: str, step: str, field: str
) -> None:
    domain = world.acme_domain
    token = run_to_summary(alice, domain)

    def refuse(**kwargs: Any) -> Mailbox:
        raise ValidationError({key: "Refused by the service."})

    monkeypatch.setattr("mailboxes.wizard_views.mailbox_create", refuse)
    response = confirm(alice, domain, token)

    assert response["Location"] == step_url(domain, token, step)
    errors = field_errors(alice.get(response["Location"]))
    assert errors[field] == ["Refused by the service."]
    # Shown once: the step is back to normal on the next visit.
    assert not alice.get(response["Location"]).context["form"].is_bound


def test_a_service_error_of_no_step_is_shown_on_the_summary(
    world: World, alice: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    domain = world.acme_domain
    token = run_to_summary(alice, domain)

    def refuse(**kwargs: Any) -> Mailbox:
        raise ValidationError({"time_zone": "“Mars/Olympus” is not a known time zone."})

    monkeypatch.setattr("mailboxes.wizard_views.mailbox_create", refuse)
    response = confirm(alice, domain, token)

    assert response["Location"] == step_url(domain, token, "summary")
    summary = alice.get(response["Location"]).content.decode()
    assert "Mars/Olympus" in summary and 'class="form-error"' in summary


# --- navigation --------------------------------------------------------------------------


def test_back_and_next_keep_what_was_entered(world: World, alice: Client) -> None:
    domain = world.acme_domain
    token = start(alice, domain)
    post_step(alice, domain, token, "account", ACCOUNT)
    post_step(alice, domain, token, "services", {**SERVICES, "quota": "750M"})
    # Back from step 3 keeps what was typed there, even before it is valid.
    response = post_step(
        alice, domain, token, "security", {**SECURITY, "allowed_networks": "10.0.0.0/33"}, "back"
    )
    assert response["Location"] == step_url(domain, token, "services")
    services = alice.get(step_url(domain, token, "services")).context["form"]
    assert not services.is_bound and services["quota"].value() == "750M"
    assert services["webmail_enabled"].value() is True
    account = alice.get(step_url(domain, token, "account"))
    assert account.context["form"]["local_part"].value() == "Sales"
    assert account.context["form"]["first_name"].value() == "Sales"
    assert NEW_PASSWORD not in account.content.decode()  # never sent back to the browser
    assert "leave both empty to keep it" in account.content.decode()

    # Next without retyping the password, then forward again: all kept.
    post_step(alice, domain, token, "account", {**ACCOUNT, "password1": "", "password2": ""})
    post_step(alice, domain, token, "services", {**SERVICES, "quota": "750M"})
    security = alice.get(step_url(domain, token, "security")).context["form"]
    assert security["allowed_networks"].value() == "10.0.0.0/33"
    assert security["force_2fa"].value() is True
    assert security["password_expiry_days"].value() == "90"


def test_the_summary_sends_back_to_a_step_left_invalid(world: World, alice: Client) -> None:
    domain = world.acme_domain
    token = run_to_summary(alice, domain)
    post_step(
        alice, domain, token, "options", {**OPTIONS, "forward_to": "sales@" + domain.name}, "back"
    )
    response = alice.get(step_url(domain, token, "summary"))
    assert response["Location"] == step_url(domain, token, "options")
    assert "forward_to" in field_errors(alice.get(response["Location"]))
    response = confirm(alice, domain, token)
    assert response["Location"] == step_url(domain, token, "options")
    assert not Mailbox.objects.filter(domain=domain, local_part="sales").exists()


def test_steps_ahead_are_closed_until_reached(world: World, alice: Client) -> None:
    domain = world.acme_domain
    token = start(alice, domain)
    for step in ("services", "options", "summary"):
        response = alice.get(step_url(domain, token, step))
        assert response["Location"] == step_url(domain, token, "account")
    response = confirm(alice, domain, token)
    assert response["Location"] == step_url(domain, token, "account")
    assert alice.get(step_url(domain, token, "nonsense")).status_code == 404


def test_two_wizards_in_one_session_stay_apart(world: World, alice: Client) -> None:
    domain = world.acme_domain
    first = start(alice, domain)
    second = start(alice, domain)
    post_step(alice, domain, first, "account", {**ACCOUNT, "local_part": "one"})
    post_step(alice, domain, second, "account", {**ACCOUNT, "local_part": "two"})
    page = alice.get(step_url(domain, first, "account"))
    assert page.context["form"]["local_part"].value() == "one"


# --- never two accounts ------------------------------------------------------------------


def test_a_double_confirm_creates_one_account(world: World, alice: Client) -> None:
    domain = world.acme_domain
    token = run_to_summary(alice, domain)
    first = confirm(alice, domain, token)
    second = confirm(alice, domain, token)
    mailbox = Mailbox.objects.get(domain=domain, local_part="sales")
    assert first["Location"] == second["Location"] == account_url(mailbox)
    assert "This account has already been created." in flashes(second)
    assert (
        AuditEvent.objects.filter(action="mailbox.create", object_id=str(mailbox.pk)).count() == 1
    )
    # Back to the summary (a browser's back button): sent to the account too.
    assert alice.get(step_url(domain, token, "summary"))["Location"] == account_url(mailbox)


def test_a_click_racing_the_first_one_is_sent_to_its_account(
    world: World, alice: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    domain = world.acme_domain
    token = run_to_summary(alice, domain)

    def first_click_won(**kwargs: Any) -> Mailbox:
        # What the first click did while this one was running: created the account and
        # remembered it in the stored session.
        created = mailbox_create(**kwargs)
        stored = SessionStore(alice.session.session_key)
        remember_created(stored, token, created.pk)
        stored.save()
        raise ValidationError({"local_part": "sales already exists."})

    monkeypatch.setattr("mailboxes.wizard_views.mailbox_create", first_click_won)
    response = confirm(alice, domain, token)

    created = Mailbox.objects.get(domain=domain, local_part="sales")
    assert response["Location"] == account_url(created)
    assert Mailbox.objects.filter(domain=domain, local_part="sales").count() == 1


def test_losing_the_race_on_the_address_is_an_error_at_step_one(
    world: World, alice: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    domain = world.acme_domain
    token = run_to_summary(alice, domain)

    def integrity_error(**kwargs: Any) -> Mailbox:
        raise IntegrityError("UNIQUE constraint failed")

    monkeypatch.setattr("mailboxes.wizard_views.mailbox_create", integrity_error)
    response = confirm(alice, domain, token)

    assert response["Location"] == step_url(domain, token, "account")
    errors = field_errors(alice.get(response["Location"]))
    assert errors["local_part"] == ["This address has just been taken."]


def test_a_draft_that_no_longer_exists_gets_a_message(world: World, alice: Client) -> None:
    domain = world.acme_domain
    token = run_to_summary(alice, domain)
    other_session = world.client("alice")  # the same person, another browser
    for response in (
        confirm(other_session, domain, token),
        other_session.get(step_url(domain, token, "services")),
    ):
        assert response["Location"] == reverse("mailbox_list", args=[domain.pk])
        assert "expired or was cancelled" in flashes(response)[0]
    unknown = "00000000-0000-4000-8000-000000000000"
    assert alice.get(step_url(domain, unknown, "account")).status_code == 302
    assert not Mailbox.objects.filter(domain=domain, local_part="sales").exists()


def test_cancel_drops_the_draft(world: World, alice: Client) -> None:
    domain = world.acme_domain
    token = run_to_summary(alice, domain)
    cancel = reverse("mailbox_wizard_cancel", args=[domain.pk, token])
    assert alice.get(cancel).status_code == 405
    response = alice.post(cancel)
    assert response["Location"] == reverse("mailbox_list", args=[domain.pk])
    assert flashes(response) == ["Cancelled: no account was created."]
    assert NEW_PASSWORD not in str(dict(alice.session))
    assert confirm(alice, domain, token)["Location"] == reverse("mailbox_list", args=[domain.pk])
    assert not Mailbox.objects.filter(domain=domain, local_part="sales").exists()


# --- who may ---------------------------------------------------------------------------


def test_confirm_is_post_only(world: World, alice: Client) -> None:
    token = run_to_summary(alice, world.acme_domain)
    url = reverse("mailbox_wizard_confirm", args=[world.acme_domain.pk, token])
    assert alice.get(url).status_code == 405


def test_anonymous_is_sent_to_login(world: World) -> None:
    domain = world.acme_domain
    token = "00000000-0000-4000-8000-000000000000"
    anonymous = world.client("anonymous")
    for method, url in [
        ("get", reverse("mailbox_wizard_start", args=[domain.pk])),
        ("get", step_url(domain, token, "account")),
        ("post", step_url(domain, token, "account")),
        ("get", step_url(domain, token, "summary")),
        ("post", reverse("mailbox_wizard_confirm", args=[domain.pk, token])),
        ("post", reverse("mailbox_wizard_cancel", args=[domain.pk, token])),
    ]:
        response = getattr(anonymous, method)(url)
        assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_another_tenant_gets_404_and_read_only_403(world: World, alice: Client) -> None:
    domain = world.acme_domain
    token = run_to_summary(alice, domain)
    urls = [
        ("get", reverse("mailbox_wizard_start", args=[domain.pk])),
        ("get", step_url(domain, token, "account")),
        ("post", step_url(domain, token, "account")),
        ("get", step_url(domain, token, "summary")),
        ("post", reverse("mailbox_wizard_confirm", args=[domain.pk, token])),
    ]
    for name, status in [("charlie", 404), ("bob", 403), ("dave", 404)]:
        client = world.client(name)
        for method, url in urls:
            assert getattr(client, method)(url).status_code == status, (name, url)
    assert Mailbox.objects.filter(domain=domain).count() == 1
    # dave administers the second domain and may create accounts there.
    dave = world.client("dave")
    token = run_to_summary(dave, world.acme_second)
    confirm(dave, world.acme_second, token)
    assert Mailbox.objects.filter(domain=world.acme_second, local_part="sales").exists()


def test_an_inactive_domain_is_refused(world: World, alice: Client) -> None:
    domain = world.acme_domain
    token = run_to_summary(alice, domain)
    Domain.objects.filter(pk=domain.pk).update(is_active=False)
    listing = reverse("mailbox_list", args=[domain.pk])
    response = alice.get(reverse("mailbox_wizard_start", args=[domain.pk]))
    assert response["Location"] == listing
    assert "is not active" in flashes(response)[0]
    assert confirm(alice, domain, token)["Location"] == listing
    assert alice.get(step_url(domain, token, "summary"))["Location"] == listing
    assert not Mailbox.objects.filter(domain=domain, local_part="sales").exists()
    assert "+ Email Account" not in alice.get(listing).content.decode()


def test_the_account_list_offers_the_wizard_to_who_may_use_it(world: World) -> None:
    listing = reverse("mailbox_list", args=[world.acme_domain.pk])
    start_url = reverse("mailbox_wizard_start", args=[world.acme_domain.pk])
    assert start_url in world.client("alice").get(listing).content.decode()
    assert start_url not in world.client("bob").get(listing).content.decode()


def test_the_plans_account_limit_is_said_at_the_start(world: World, alice: Client) -> None:
    Plan.objects.filter(pk=world.acme.plan_id).update(max_accounts=1)
    response = alice.get(reverse("mailbox_wizard_start", args=[world.acme_domain.pk]))
    assert response["Location"] == reverse("mailbox_list", args=[world.acme_domain.pk])
    assert flashes(response) == ["The plan's limit of 1 accounts is reached."]
