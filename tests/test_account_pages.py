"""The account page ("click an account"): its tabs, actions, status badge and who may do what."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.db.models import F
from django.test import Client
from django.urls import reverse

from domains.models import Domain
from mailboxes.account_forms import wall_time_to_utc
from mailboxes.models import Mailbox, MailboxState
from mailboxes.passwords import verify_password
from mailboxes.services import mailbox_create, mailbox_update
from security.models import AuditEvent
from tests.personas import ACTOR, PASSWORD, World, build_world
from webmail_settings.models import WebmailPreferences

pytestmark = pytest.mark.django_db

ZURICH = ZoneInfo("Europe/Zurich")
TABS = ["mailbox_detail", "mailbox_forwarding", "mailbox_security", "mailbox_autoresponder",
        "mailbox_webmail"]  # fmt: skip
PAGES = [*TABS, "mailbox_delete", "mailbox_status"]


@pytest.fixture
def world(domain_name: str) -> World:
    return build_world(domain_name.split(".")[0])


@pytest.fixture
def mailbox(world: World) -> Mailbox:
    return world.acme_mailbox


def url(name: str, mailbox: Mailbox) -> str:
    return reverse(name, args=[mailbox.pk])


def reload(mailbox: Mailbox) -> Mailbox:
    return Mailbox.objects.select_related("domain").get(pk=mailbox.pk)


def audit(mailbox: Mailbox, action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action, object_id=str(mailbox.pk)))


def field_error(response: Any, field: str) -> str:
    """The error text shown next to a field (its form's errors, as the template renders them)."""
    for form in (response.context.get("form"), response.context.get("password_form")):
        if form is not None and field in form.errors:
            return " ".join(form.errors[field])
    return ""


def general_data(mailbox: Mailbox, **changes: Any) -> dict[str, Any]:
    data = {
        "first_name": mailbox.first_name, "last_name": mailbox.last_name,
        "language": mailbox.language, "time_zone": mailbox.time_zone, "quota": "1G",
        "daily_send_limit": "", "imap_enabled": "on", "pop3_enabled": "on",
        "smtp_enabled": "on", "sieve_enabled": "on", "webmail_enabled": "on",
    }  # fmt: skip
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


# --- who may see and change ---------------------------------------------------------------


@pytest.mark.parametrize("name", PAGES)
def test_pages_answer_by_role(world: World, mailbox: Mailbox, name: str) -> None:
    page = url(name, mailbox)
    assert world.client("alice").get(page).status_code == 200
    assert world.client("bob").get(page).status_code == 200
    assert world.client("staff").get(page).status_code == 200
    assert world.client("charlie").get(page).status_code == 404
    assert world.client("dave").get(page).status_code == 404  # not one of dave's domains
    assert world.client("charlie").get(url(name, world.other_mailbox)).status_code == 200
    assert world.client("alice").get(reverse(name, args=[10**9])).status_code == 404
    anonymous = world.client("anonymous").get(page)
    assert anonymous.status_code == 302 and anonymous["Location"].startswith(reverse("login"))


MUTATIONS = [*TABS, "mailbox_deactivate", "mailbox_reactivate", "mailbox_delete"]


@pytest.mark.parametrize("name", MUTATIONS)
def test_posts_are_refused_to_read_only_other_tenants_and_anonymous(
    world: World, mailbox: Mailbox, name: str
) -> None:
    before = Mailbox.objects.filter(pk=mailbox.pk).values().get()
    events = AuditEvent.objects.count()
    data = {**general_data(mailbox, first_name="Hacked"), "password": PASSWORD}
    assert world.client("bob").post(url(name, mailbox), data).status_code == 403
    assert world.client("charlie").post(url(name, mailbox), data).status_code == 404
    assert world.client("dave").post(url(name, mailbox), data).status_code == 404
    anonymous = world.client("anonymous").post(url(name, mailbox), data)
    assert anonymous.status_code == 302 and anonymous["Location"].startswith(reverse("login"))
    assert Mailbox.objects.filter(pk=mailbox.pk).values().get() == before
    assert AuditEvent.objects.count() == events


@pytest.mark.parametrize("name", ["mailbox_deactivate", "mailbox_reactivate"])
def test_state_changes_are_post_only(world: World, mailbox: Mailbox, name: str) -> None:
    assert world.client("alice").get(url(name, mailbox)).status_code == 405
    assert reload(mailbox).state == MailboxState.ACTIVE


def test_status_partial_is_get_only(world: World, mailbox: Mailbox) -> None:
    assert world.client("alice").post(url("mailbox_status", mailbox)).status_code == 405


def test_read_only_member_sees_disabled_forms_without_buttons(
    world: World, mailbox: Mailbox
) -> None:
    bob = world.client("bob")
    for name in [*TABS, "mailbox_delete"]:
        body = bob.get(url(name, mailbox)).content.decode()
        main = body.split("<main>", 1)[1]
        assert "Read-only" in main, name
        assert 'type="submit"' not in main, name
        fields = re.findall(r"<(?:input|select|textarea)\b[^>]*>", main)
        editable = [f for f in fields if "disabled" not in f and 'type="hidden"' not in f]
        assert not editable, (name, editable)
        assert "Deactivate" not in main and "Delete…" not in main


def test_domain_admin_changes_accounts_of_their_domain(world: World) -> None:
    theirs = mailbox_create(
        actor=ACTOR,
        domain=world.acme_second,
        local_part="sales",
        password=PASSWORD,
        quota_bytes=1024**3,
    )
    response = world.client("dave").post(
        url("mailbox_detail", theirs), general_data(theirs, first_name="Sales team")
    )
    assert response.status_code == 302
    assert reload(theirs).first_name == "Sales team"


def test_account_list_links_to_the_account_page(world: World, mailbox: Mailbox) -> None:
    body = world.client("alice").get(reverse("mailbox_list", args=[mailbox.domain_id]))
    assert f'href="{url("mailbox_detail", mailbox)}"' in body.content.decode()


# --- General -------------------------------------------------------------------------------


def test_general_tab_shows_the_account(world: World, mailbox: Mailbox) -> None:
    body = world.client("alice").get(url("mailbox_detail", mailbox)).content.decode()
    assert mailbox.address in body
    assert mailbox.created_at.strftime("%Y-%m-%d") in body
    assert 'value="1G"' in body
    assert "not reported by the mail server yet" in body  # no invented usage
    for tab in TABS:
        assert f'href="{url(tab, mailbox)}"' in body


def test_general_tab_saves_through_the_service(world: World, mailbox: Mailbox) -> None:
    response = world.client("alice").post(
        url("mailbox_detail", mailbox),
        general_data(
            mailbox, first_name=" Info desk ", last_name="Acme", language="de",
            time_zone="Europe/Zurich", quota="2G", daily_send_limit="500", pop3_enabled=None,
        ),
    )  # fmt: skip
    assert response.status_code == 302 and response["Location"] == url("mailbox_detail", mailbox)
    saved = reload(mailbox)
    assert (saved.first_name, saved.last_name, saved.language, saved.time_zone) == (
        "Info desk",
        "Acme",
        "de",
        "Europe/Zurich",
    )
    assert saved.quota_bytes == 2 * 1024**3 and saved.daily_send_limit == 500
    assert saved.pop3_enabled is False and saved.imap_enabled is True
    assert saved.changed_version > saved.domain.applied_version  # handed to the loop
    [event] = audit(mailbox, "mailbox.update")
    assert event.changes["after"]["quota_bytes"] == 2 * 1024**3
    assert event.actor == world.users["alice"]
    follow = world.client("alice").get(url("mailbox_detail", mailbox))
    assert 'value="2G"' in follow.content.decode()


def test_saving_nothing_new_writes_nothing(world: World, mailbox: Mailbox) -> None:
    version = mailbox.changed_version
    response = world.client("alice").post(url("mailbox_detail", mailbox), general_data(mailbox))
    assert response.status_code == 302
    assert reload(mailbox).changed_version == version
    assert not audit(mailbox, "mailbox.update")


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"quota": "20G"}, "quota", "The plan allows at most 10G"),
        ({"quota": "lots"}, "quota", "is not a size"),
        ({"time_zone": "Mars/Olympus_Mons"}, "time_zone", "Select a valid choice"),
        ({"language": "xx"}, "language", "Select a valid choice"),
        ({"daily_send_limit": "-1"}, "daily_send_limit", "greater than or equal to 0"),
    ],
)
def test_general_tab_shows_errors_at_their_field(
    world: World, mailbox: Mailbox, changes: dict[str, str], field: str, message: str
) -> None:
    response = world.client("alice").post(
        url("mailbox_detail", mailbox), general_data(mailbox, first_name="Changed", **changes)
    )
    assert response.status_code == 200
    assert message in field_error(response, field)
    assert f'id="id_{field}_error"' in response.content.decode()
    assert reload(mailbox).first_name == ""  # nothing saved
    assert not audit(mailbox, "mailbox.update")


def test_services_the_plan_lacks_are_disabled_and_left_alone(
    world: World, mailbox: Mailbox
) -> None:
    plan = world.acme.plan
    assert plan is not None and not plan.offers_activesync
    alice = world.client("alice")
    body = alice.get(url("mailbox_detail", mailbox)).content.decode()
    assert re.search(r'<input[^>]*name="activesync_enabled"[^>]*disabled', body)
    response = alice.post(
        url("mailbox_detail", mailbox), general_data(mailbox, activesync_enabled="on")
    )
    assert response.status_code == 302
    assert reload(mailbox).activesync_enabled is False
    # An account switched on before the plan changed keeps it, and its tab still saves.
    Mailbox.objects.filter(pk=mailbox.pk).update(dav_enabled=True)
    response = alice.post(url("mailbox_detail", mailbox), general_data(mailbox, first_name="X"))
    assert response.status_code == 302
    assert reload(mailbox).dav_enabled is True and reload(mailbox).first_name == "X"


# --- Forwarding ----------------------------------------------------------------------------


def test_forwarding_saves_normalised_addresses(world: World, mailbox: Mailbox) -> None:
    response = world.client("alice").post(
        url("mailbox_forwarding", mailbox),
        {"forward_to": "Boss@Example.COM, team@example.com\nboss@example.com\n",
         "spam_to_inbox": "on"},
    )  # fmt: skip
    assert response.status_code == 302
    saved = reload(mailbox)
    assert saved.forward_to == ["boss@example.com", "team@example.com"]
    assert saved.forward_keep_copy is False and saved.spam_to_inbox is True
    [event] = audit(mailbox, "mailbox.update")
    assert event.changes["after"]["forward_to"] == ["boss@example.com", "team@example.com"]
    body = world.client("alice").get(url("mailbox_forwarding", mailbox)).content.decode()
    assert "boss@example.com\nteam@example.com</textarea>" in body


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("\n".join(f"user{i}@example.com" for i in range(21)), "At most 20"),
        ("ok@example.com, not-an-address", "“not-an-address” is not a valid e-mail address."),
        ("INFO@{domain}", "cannot forward to itself"),
    ],
)
def test_forwarding_errors_at_the_field(
    world: World, mailbox: Mailbox, value: str, message: str
) -> None:
    value = value.format(domain=mailbox.domain.name)
    response = world.client("alice").post(
        url("mailbox_forwarding", mailbox), {"forward_to": value, "forward_keep_copy": "on"}
    )
    assert response.status_code == 200
    assert message in field_error(response, "forward_to")
    assert reload(mailbox).forward_to == []


def test_twenty_forwards_are_accepted(world: World, mailbox: Mailbox) -> None:
    addresses = [f"user{i}@example.com" for i in range(20)]
    response = world.client("alice").post(
        url("mailbox_forwarding", mailbox), {"forward_to": "\n".join(addresses)}
    )
    assert response.status_code == 302
    assert reload(mailbox).forward_to == addresses


# --- Security ------------------------------------------------------------------------------


def test_password_change(world: World, mailbox: Mailbox) -> None:
    new = "a-new-secret-42"
    response = world.client("alice").post(
        url("mailbox_security", mailbox),
        {"form": "password", "pw-password": new, "pw-password_confirm": new},
    )
    assert response.status_code == 302 and response["Location"] == url("mailbox_security", mailbox)
    saved = reload(mailbox)
    assert verify_password(new, saved.password_hash)
    assert saved.changed_version > saved.domain.applied_version
    [event] = audit(mailbox, "mailbox.set_password")
    assert new not in str(event.changes)


@pytest.mark.parametrize(
    ("first", "second", "field", "message"),
    [
        ("a-new-secret-42", "a-new-secret-43", "password_confirm", "The two passwords differ."),
        ("short", "short", "password", "at least 8 characters"),
    ],
)
def test_password_errors_at_the_field(
    world: World, mailbox: Mailbox, first: str, second: str, field: str, message: str
) -> None:
    response = world.client("alice").post(
        url("mailbox_security", mailbox),
        {"form": "password", "pw-password": first, "pw-password_confirm": second},
    )
    assert response.status_code == 200
    assert message in field_error(response, field)
    assert reload(mailbox).password_hash == mailbox.password_hash
    assert first not in response.content.decode()  # never rendered back


def test_security_policy_saves(world: World, mailbox: Mailbox) -> None:
    response = world.client("alice").post(
        url("mailbox_security", mailbox),
        {"form": "policy", "force_password_change": "on", "password_expiry_days": "90",
         "force_2fa": "on", "allowed_networks": "192.0.2.7\n10.1.2.3/8\n2001:DB8::/32",
         "api_access": "on"},
    )  # fmt: skip
    assert response.status_code == 302
    saved = reload(mailbox)
    assert saved.force_password_change and saved.force_2fa and saved.api_access
    assert saved.password_expiry_days == 90
    assert saved.allowed_networks == ["192.0.2.7/32", "10.0.0.0/8", "2001:db8::/32"]
    assert saved.password_hash == mailbox.password_hash
    [event] = audit(mailbox, "mailbox.update")
    assert event.changes["after"]["force_2fa"] is True


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"allowed_networks": "10.0.0.0/8\n300.1.1.1/24"}, "allowed_networks", "“300.1.1.1/24”"),
        ({"allowed_networks": "192.0.2.0/33"}, "allowed_networks", "not an IP address"),
        ({"password_expiry_days": "0"}, "password_expiry_days", "greater than or equal to 1"),
    ],
)
def test_security_policy_errors_at_the_field(
    world: World, mailbox: Mailbox, changes: dict[str, str], field: str, message: str
) -> None:
    response = world.client("alice").post(
        url("mailbox_security", mailbox), {"form": "policy", "force_2fa": "on", **changes}
    )
    assert response.status_code == 200
    assert message in field_error(response, field)
    saved = reload(mailbox)
    assert saved.force_2fa is False and saved.allowed_networks == []


def test_security_post_without_a_known_form_changes_nothing(world: World, mailbox: Mailbox) -> None:
    response = world.client("alice").post(url("mailbox_security", mailbox), {"force_2fa": "on"})
    assert response.status_code == 200
    assert reload(mailbox).force_2fa is False


# --- Autoresponder -------------------------------------------------------------------------


@pytest.fixture
def zurich_mailbox(mailbox: Mailbox) -> Mailbox:
    return mailbox_update(actor=ACTOR, mailbox=mailbox, changes={"time_zone": "Europe/Zurich"})


def autoreply(**changes: str) -> dict[str, str]:
    return {"autoreply_enabled": "on", "autoreply_subject": "Out of office",
            "autoreply_body": "Back on Monday.", **changes}  # fmt: skip


def test_autoresponder_times_are_in_the_accounts_zone(
    world: World, zurich_mailbox: Mailbox
) -> None:
    alice = world.client("alice")
    page = url("mailbox_autoresponder", zurich_mailbox)
    response = alice.post(
        page, autoreply(autoreply_start="2026-07-01T08:00", autoreply_end="2026-12-24T17:30")
    )
    assert response.status_code == 302
    saved = reload(zurich_mailbox)
    assert saved.autoreply_enabled and saved.autoreply_subject == "Out of office"
    assert saved.autoreply_start == datetime(2026, 7, 1, 6, 0, tzinfo=UTC)  # CEST, UTC+2
    assert saved.autoreply_end == datetime(2026, 12, 24, 16, 30, tzinfo=UTC)  # CET, UTC+1
    [event] = [e for e in audit(saved, "mailbox.update") if "autoreply_start" in e.changes["after"]]
    assert event.changes["after"]["autoreply_start"] == "2026-07-01T06:00:00+00:00"
    body = alice.get(page).content.decode()
    assert 'value="2026-07-01T08:00"' in body and 'value="2026-12-24T17:30"' in body
    assert "Europe/Zurich" in body


def test_autoresponder_refuses_a_time_in_the_spring_gap(
    world: World, zurich_mailbox: Mailbox
) -> None:
    response = world.client("alice").post(
        url("mailbox_autoresponder", zurich_mailbox),
        autoreply(autoreply_start="2026-03-29T02:30", autoreply_end="2026-04-05T10:00"),
    )
    assert response.status_code == 200
    assert "does not exist in Europe/Zurich" in field_error(response, "autoreply_start")
    assert reload(zurich_mailbox).autoreply_start is None


def test_autoresponder_takes_the_first_of_two_autumn_times(
    world: World, zurich_mailbox: Mailbox
) -> None:
    alice = world.client("alice")
    page = url("mailbox_autoresponder", zurich_mailbox)
    response = alice.post(
        page, autoreply(autoreply_start="2026-10-25T02:30", autoreply_end="2026-10-26T09:00")
    )
    assert response.status_code == 302
    # 02:30 happens twice that night; fold=0 is the first one, still in summer time (UTC+2).
    assert reload(zurich_mailbox).autoreply_start == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)


def test_an_unchanged_second_occurrence_is_kept(world: World, zurich_mailbox: Mailbox) -> None:
    second = datetime(2026, 10, 25, 1, 30, tzinfo=UTC)  # 02:30 CET, after the clocks went back
    mailbox_update(
        actor=ACTOR,
        mailbox=zurich_mailbox,
        changes={"autoreply_start": second, "autoreply_end": datetime(2026, 11, 1, tzinfo=UTC)},
    )
    alice = world.client("alice")
    page = url("mailbox_autoresponder", zurich_mailbox)
    assert 'value="2026-10-25T02:30"' in alice.get(page).content.decode()
    response = alice.post(
        page, autoreply(autoreply_start="2026-10-25T02:30", autoreply_end="2026-11-01T01:00")
    )
    assert response.status_code == 302
    assert reload(zurich_mailbox).autoreply_start == second


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"autoreply_start": "2026-08-10T09:00", "autoreply_end": "2026-08-01T09:00"},
         "autoreply_end", "The end must be after the start."),
        ({"autoreply_start": "2026-08-10T09:00", "autoreply_end": "2026-08-10T09:00"},
         "autoreply_end", "The end must be after the start."),
        ({"autoreply_subject": ""}, "autoreply_subject", "needs a subject"),
        ({"autoreply_start": "next tuesday"}, "autoreply_start", "Enter a valid date/time."),
        ({"autoreply_start": "0001-01-01T00:00"}, "autoreply_start", "between 1970 and 9998"),
    ],
)  # fmt: skip
def test_autoresponder_errors_at_the_field(
    world: World, zurich_mailbox: Mailbox, changes: dict[str, str], field: str, message: str
) -> None:
    response = world.client("alice").post(
        url("mailbox_autoresponder", zurich_mailbox), autoreply(**changes)
    )
    assert response.status_code == 200
    assert message in field_error(response, field)
    assert reload(zurich_mailbox).autoreply_enabled is False


def test_wall_time_to_utc() -> None:
    assert wall_time_to_utc(datetime(2026, 1, 15, 12, 0), ZURICH) == datetime(
        2026, 1, 15, 11, 0, tzinfo=UTC
    )
    assert wall_time_to_utc(datetime(2026, 10, 25, 2, 30), ZURICH) == datetime(
        2026, 10, 25, 0, 30, tzinfo=UTC
    )
    with pytest.raises(ValidationError, match="does not exist"):
        wall_time_to_utc(datetime(2026, 3, 29, 2, 0), ZURICH)
    assert wall_time_to_utc(datetime(2026, 3, 29, 3, 0), ZURICH) == datetime(
        2026, 3, 29, 1, 0, tzinfo=UTC
    )


# --- Webmail settings ----------------------------------------------------------------------


def test_webmail_tab_saves_preferences_and_the_accounts_locale(
    world: World, mailbox: Mailbox
) -> None:
    alice = world.client("alice")
    page = url("mailbox_webmail", mailbox)
    alice.get(page)
    assert not WebmailPreferences.objects.filter(mailbox=mailbox).exists()  # a GET writes nothing
    version = mailbox.changed_version
    response = alice.post(
        page, {"language": "fr", "time_zone": "America/New_York", "date_format": "d.m.Y",
               "time_format": "h:i A"},
    )  # fmt: skip
    assert response.status_code == 302 and response["Location"] == page
    prefs = WebmailPreferences.objects.get(mailbox=mailbox)
    assert (prefs.date_format, prefs.time_format, prefs.address_book_visible) == (
        "d.m.Y",
        "h:i A",
        False,
    )
    saved = reload(mailbox)
    assert (saved.language, saved.time_zone) == ("fr", "America/New_York")
    assert saved.changed_version > version
    [event] = AuditEvent.objects.filter(action="webmail_preferences.update")
    assert event.object_id == str(prefs.pk)
    assert event.changes == {
        "before": {"date_format": "Y-m-d", "time_format": "H:i", "address_book_visible": True},
        "after": {"date_format": "d.m.Y", "time_format": "h:i A", "address_book_visible": False},
    }
    assert audit(mailbox, "mailbox.update")[0].changes["after"]["language"] == "fr"
    body = alice.get(page).content.decode()
    assert re.search(r'<option value="d\.m\.Y" selected>', body)


def test_webmail_tab_errors_change_nothing(world: World, mailbox: Mailbox) -> None:
    response = world.client("alice").post(
        url("mailbox_webmail", mailbox),
        {"language": "de", "time_zone": "Nowhere/Land", "date_format": "Y-m-d",
         "time_format": "H:i", "address_book_visible": "on"},
    )  # fmt: skip
    assert response.status_code == 200
    assert "Select a valid choice" in field_error(response, "time_zone")
    assert reload(mailbox).language == "en"
    assert not WebmailPreferences.objects.filter(mailbox=mailbox).exists()


# --- Deactivate, reactivate, delete --------------------------------------------------------


def test_deactivate_and_reactivate(world: World, mailbox: Mailbox) -> None:
    alice = world.client("alice")
    body = alice.get(url("mailbox_detail", mailbox)).content.decode()
    assert "stays billable" in body
    response = alice.post(url("mailbox_deactivate", mailbox), follow=True)
    assert response.redirect_chain[0][0] == url("mailbox_detail", mailbox)
    assert reload(mailbox).state == MailboxState.DEACTIVATED
    assert "stays billable" in response.content.decode()
    assert len(audit(mailbox, "mailbox.deactivate")) == 1
    assert reverse("mailbox_reactivate", args=[mailbox.pk]) in response.content.decode()

    response = alice.post(
        url("mailbox_reactivate", mailbox), {"next": url("mailbox_security", mailbox)}
    )
    assert response["Location"] == url("mailbox_security", mailbox)
    assert reload(mailbox).state == MailboxState.ACTIVE
    assert len(audit(mailbox, "mailbox.reactivate")) == 1


def test_reactivating_an_active_account_says_so(world: World, mailbox: Mailbox) -> None:
    response = world.client("alice").post(
        url("mailbox_reactivate", mailbox), {"next": "https://evil.example/"}, follow=True
    )
    assert response.redirect_chain[0][0] == url("mailbox_detail", mailbox)  # no open redirect
    assert "is already active" in response.content.decode()
    assert not audit(mailbox, "mailbox.reactivate")


def test_delete_page_warns_and_asks_for_the_admins_password(world: World, mailbox: Mailbox) -> None:
    body = world.client("alice").get(url("mailbox_delete", mailbox)).content.decode()
    assert "cannot be undone" in body and "All messages" in body and "settings" in body
    assert 'type="password" name="password"' in body


def test_wrong_admin_password_deletes_nothing(world: World, mailbox: Mailbox) -> None:
    alice = world.client("alice")
    for password in ["wrong-password", ""]:
        response = alice.post(url("mailbox_delete", mailbox), {"password": password})
        assert response.status_code == 200
        assert field_error(response, "password")
    response = alice.post(url("mailbox_delete", mailbox), {"password": "nope"})
    assert "This is not your password." in field_error(response, "password")
    assert Mailbox.objects.filter(pk=mailbox.pk).exists()
    assert not audit(mailbox, "mailbox.delete")


def test_delete_with_the_admins_password(world: World, mailbox: Mailbox) -> None:
    version = Domain.objects.get(pk=mailbox.domain_id).desired_version
    response = world.client("alice").post(url("mailbox_delete", mailbox), {"password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == reverse("mailbox_list", args=[mailbox.domain_id])
    assert not Mailbox.objects.filter(pk=mailbox.pk).exists()
    assert len(audit(mailbox, "mailbox.delete")) == 1
    assert Domain.objects.get(pk=mailbox.domain_id).desired_version > version


# --- the status badge ----------------------------------------------------------------------


def _status(client: Client, mailbox: Mailbox) -> str:
    return client.get(url("mailbox_status", mailbox)).content.decode()


def test_status_polls_only_while_updating(world: World, mailbox: Mailbox) -> None:
    alice = world.client("alice")
    Domain.objects.filter(pk=mailbox.domain_id).update(apply_error="postmap: disk full")
    updating = _status(alice, mailbox)
    assert "Updating" in updating
    assert f'hx-get="{url("mailbox_status", mailbox)}"' in updating
    assert 'hx-trigger="every 1s"' in updating and 'hx-swap="outerHTML"' in updating
    assert 'class="badge error"' in updating and "postmap: disk full" in updating
    assert 'hx-trigger="every 1s"' in alice.get(url("mailbox_forwarding", mailbox)).content.decode()

    Domain.objects.filter(pk=mailbox.domain_id).update(applied_version=F("desired_version"))
    online = _status(alice, mailbox)
    assert "Online" in online and "hx-" not in online and "disk full" not in online

    Mailbox.objects.filter(pk=mailbox.pk).update(state=MailboxState.DEACTIVATED)
    offline = _status(alice, mailbox)
    assert "Offline" in offline and "hx-" not in offline


def test_htmx_is_loaded_from_our_static_files_without_inline_script(
    world: World, mailbox: Mailbox
) -> None:
    alice = world.client("alice")
    for name in [*TABS, "mailbox_delete"]:
        body = alice.get(url(name, mailbox)).content.decode()
        scripts = re.findall(r"<script\b[^>]*>", body)
        assert scripts == ['<script src="/static/vendor/htmx.min.js" defer>'], name
        assert not re.search(r"\son[a-z]+=", body), name  # no inline event handlers
    listing = alice.get(reverse("mailbox_list", args=[mailbox.domain_id])).content.decode()
    assert "htmx" not in listing


def test_deleting_the_catch_all_target_is_refused_with_a_message(world: World) -> None:
    Domain.objects.filter(pk=world.acme_domain.pk).update(
        catchall_target=world.acme_mailbox.address
    )
    response = world.client("alice").post(
        reverse("mailbox_delete", args=[world.acme_mailbox.pk]), {"password": PASSWORD}
    )
    assert response.status_code == 200
    assert "catch-all" in response.content.decode()
    assert Mailbox.objects.filter(pk=world.acme_mailbox.pk).exists()
