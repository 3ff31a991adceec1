"""The audit pages: per organization, per domain, per account, and all events for staff.

Who may read which (another tenant and mailbox owners: 404), the filters (actor, action, UTC
dates, with field errors for bad dates), newest first by keyset pages, before/after shown as
a diff, and never a secret.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from domains.services import domain_update_settings
from mailboxes.services import mailbox_create, mailbox_set_password, mailbox_update
from owners.models import Owner
from security.audit import Actor, audit_record
from security.audit_selectors import PAGE_SIZE
from security.models import AuditEvent
from tests.personas import ACTOR, PASSWORD, World, build_world
from webmail_settings.services import preferences_update

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a-brand-new-password-7"
ALICE_IP = "198.51.100.7"


@pytest.fixture
def world(domain_name: str) -> World:
    world = build_world(domain_name.split(".")[0])
    alice = Actor.for_user(world.users["alice"], ALICE_IP)
    domain_update_settings(
        actor=alice, domain=world.acme_domain, changes={"password_min_length": 14}
    )
    mailbox_update(actor=alice, mailbox=world.acme_mailbox, changes={"first_name": "Front desk"})
    preferences_update(actor=alice, mailbox=world.acme_mailbox, changes={"date_format": "d.m.Y"})
    mailbox_update(actor=ACTOR, mailbox=world.other_mailbox, changes={"first_name": "Other desk"})
    return world


def owner_client(world: World) -> Client:
    mailbox = world.acme_mailbox
    user = get_user_model().objects.create_user(f"mailbox-{mailbox.pk}", password=None)
    Owner.objects.create(user=user, mailbox=mailbox)
    client = Client()
    client.force_login(user)
    return client


def pages(world: World) -> dict[str, str]:
    return {
        "organization": reverse("organization_audit", args=[world.acme.pk]),
        "domain": reverse("domain_audit", args=[world.acme_domain.pk]),
        "account": reverse("mailbox_audit", args=[world.acme_mailbox.pk]),
        "all": reverse("audit_all"),
    }


def body(client: Client, url: str, **params: str) -> str:
    response = client.get(url, params)
    assert response.status_code == 200, url
    return response.content.decode()


def actions_shown(html: str) -> list[str]:
    return re.findall(r"<code>([a-z_.]+)</code>", html)


def rows(html: str) -> list[str]:
    """The events' rows, each from its time cell on."""
    return html.split('<td class="audit-time">')[1:]


def shown_rows(html: str) -> int:
    return len(rows(html))


# --- who may read which -------------------------------------------------------------------


@pytest.mark.parametrize("page", ["organization", "domain", "account"])
def test_tenant_pages_answer_by_role(world: World, page: str) -> None:
    url = pages(world)[page]
    for name in ("alice", "bob", "staff"):
        assert world.client(name).get(url).status_code == 200, name
    assert world.client("charlie").get(url).status_code == 404
    assert owner_client(world).get(url).status_code == 404
    anonymous = world.client("anonymous").get(url)
    assert anonymous.status_code == 302 and anonymous["Location"].startswith(reverse("login"))
    assert world.client("alice").post(url).status_code == 405  # reading only


def test_another_tenants_and_missing_objects_answer_404(world: World) -> None:
    charlie = world.client("charlie")
    missing = 10**9
    for name, own, foreign in [
        ("organization_audit", world.other.pk, world.acme.pk),
        ("domain_audit", world.other_domain.pk, world.acme_domain.pk),
        ("mailbox_audit", world.other_mailbox.pk, world.acme_mailbox.pk),
    ]:
        assert charlie.get(reverse(name, args=[own])).status_code == 200, name
        assert charlie.get(reverse(name, args=[foreign])).status_code == 404, name
        assert charlie.get(reverse(name, args=[missing])).status_code == 404, name


def test_the_all_events_page_is_for_staff_only(world: World) -> None:
    url = pages(world)["all"]
    html = body(world.client("staff"), url)
    assert world.acme.name in html and world.other.name in html
    assert {"mailbox.update", "domain.update_settings"} <= set(actions_shown(html))
    for name in ("alice", "bob", "charlie", "dave"):
        assert world.client(name).get(url).status_code == 404, name
    assert owner_client(world).get(url).status_code == 404
    assert "Audit log of all organizations" in body(
        world.client("staff"), reverse("organization_list")
    )
    assert reverse("audit_all") not in body(world.client("alice"), reverse("organization_list"))


def test_a_domain_admin_reads_only_the_events_of_the_domains_given(world: World) -> None:
    dave = world.client("dave")
    mailbox_create(actor=ACTOR, domain=world.acme_second, local_part="sales", password=PASSWORD)
    html = body(dave, pages(world)["organization"])
    assert f"sales@{world.acme_second.name}" in html
    assert world.acme_mailbox.address not in html and "organization.create" not in html
    assert dave.get(pages(world)["domain"]).status_code == 404
    assert dave.get(reverse("domain_audit", args=[world.acme_second.pk])).status_code == 200
    # Whole-organization members also read the organization's own events.
    assert "organization.create" in body(world.client("bob"), pages(world)["organization"])


# --- what each page shows -----------------------------------------------------------------


def test_the_domain_page_shows_the_domain_and_its_accounts_only(world: World) -> None:
    mailbox_create(actor=ACTOR, domain=world.acme_second, local_part="sales", password=PASSWORD)
    html = body(world.client("bob"), pages(world)["domain"])
    assert {"domain.create", "domain.update_settings", "mailbox.create", "mailbox.update",
            "webmail_preferences.update"} <= set(actions_shown(html))  # fmt: skip
    assert "organization.create" not in html
    assert "sales@" not in html and world.other_mailbox.address not in html
    assert 'aria-current="page">Audit</a>' in html  # its tab in the domain's tabs


def test_the_account_page_shows_that_account_only(world: World) -> None:
    other = mailbox_create(
        actor=ACTOR, domain=world.acme_domain, local_part="other", password=PASSWORD
    )
    mailbox_update(actor=ACTOR, mailbox=other, changes={"first_name": "Someone else"})
    html = body(world.client("alice"), pages(world)["account"])
    assert actions_shown(html) == ["webmail_preferences.update", "mailbox.update", "mailbox.create"]
    assert "Someone else" not in html and "domain.update_settings" not in html
    assert 'aria-current="page">Audit</a>' in html
    tabs = body(world.client("alice"), reverse("mailbox_detail", args=[world.acme_mailbox.pk]))
    assert pages(world)["account"] in tabs


def test_rows_show_time_actor_ip_action_object_and_a_diff(world: World) -> None:
    html = body(world.client("alice"), pages(world)["domain"])
    event = AuditEvent.objects.get(action="domain.update_settings")
    [row] = [r for r in rows(html) if "domain.update_settings" in r]
    assert row.startswith(event.created_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S<"))
    assert world.users["alice"].username in row and ALICE_IP in row
    assert "<code>domain.update_settings</code>" in row and world.acme_domain.name in row
    assert re.search(r"Password min length</th>\s*<td><del>10</del>.*<ins>14</ins>", row)
    assert "Time (UTC)" in html
    account = body(world.client("alice"), pages(world)["account"])
    assert re.search(r"Name / description</th>\s*<td><del>\(empty\)</del>.*<ins>Front desk</ins>",
                     account)  # fmt: skip
    assert f"webmail preferences of {world.acme_mailbox.address}" in account


def test_newest_first(world: World) -> None:
    html = body(world.client("alice"), pages(world)["organization"])
    times = re.findall(r'<td class="audit-time">([^<]+)</td>', html)
    assert times == sorted(times, reverse=True) and len(times) >= 6
    assert actions_shown(html)[0] == "webmail_preferences.update"
    assert actions_shown(html)[-1] == "organization.create"


# --- filters ------------------------------------------------------------------------------


def test_filter_by_actor(world: World) -> None:
    alice = world.users["alice"].username
    html = body(world.client("bob"), pages(world)["organization"], actor=alice)
    assert shown_rows(html) == 3 and "mailbox.create" not in html
    assert f'?actor={alice}"' in html  # each actor links to their own events
    assert "No event matches." in body(
        world.client("bob"), pages(world)["organization"], actor="ali"
    )


def test_filter_by_action_and_by_family(world: World) -> None:
    url = pages(world)["organization"]
    exact = body(world.client("alice"), url, action="mailbox.update")
    assert actions_shown(exact) == ["mailbox.update"]
    family = body(world.client("alice"), url, action="mailbox")
    assert set(actions_shown(family)) == {"mailbox.update", "mailbox.create"}
    assert "webmail_preferences.update" not in family


def test_filter_by_utc_dates_both_ends_included(world: World) -> None:
    def at(action: str, when: datetime) -> None:
        AuditEvent.objects.filter(organization=world.acme, action=action).update(created_at=when)

    at("organization.create", datetime(2026, 3, 1, 0, 0, tzinfo=UTC))
    at("domain.create", datetime(2026, 3, 2, 23, 59, 59, tzinfo=UTC))
    at("mailbox.create", datetime(2026, 3, 3, 0, 0, tzinfo=UTC))
    url = pages(world)["organization"]
    html = body(world.client("alice"), url, since="2026-03-01", until="2026-03-02")
    assert sorted(actions_shown(html)) == ["domain.create", "domain.create", "organization.create"]
    html = body(world.client("alice"), url, since="2026-03-03", until="2026-03-03")
    assert actions_shown(html) == ["mailbox.create"]
    html = body(world.client("alice"), url, until="2026-03-01")
    assert actions_shown(html) == ["organization.create"]


@pytest.mark.parametrize(
    "params, field, message",
    [
        ({"since": "yesterday"}, "since", "Enter a date as YYYY-MM-DD (UTC)."),
        ({"until": "2026-02-30"}, "until", "Enter a date as YYYY-MM-DD (UTC)."),
        ({"since": "2026-03-02", "until": "2026-03-01"}, "until",
         "The end date is before the start date."),
    ],
)  # fmt: skip
def test_bad_dates_get_a_field_error_and_no_events(
    world: World, params: dict[str, str], field: str, message: str
) -> None:
    response = world.client("alice").get(pages(world)["organization"], params)
    assert response.status_code == 200
    assert response.context["form"].errors[field] == [message]
    html = response.content.decode()
    assert f'<div class="field-error" id="id_{field}_error">{message}</div>' in html
    assert shown_rows(html) == 0 and "Correct the filters above" in html


def test_the_last_day_of_the_calendar_is_accepted(world: World) -> None:
    html = body(world.client("alice"), pages(world)["organization"], until="9999-12-31")
    assert shown_rows(html) >= 6


# --- pages --------------------------------------------------------------------------------


def test_keyset_pages_walk_every_event_once_even_with_equal_times(world: World) -> None:
    mailbox = world.acme_mailbox
    same_time = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    total = 2 * PAGE_SIZE + 7
    AuditEvent.objects.bulk_create(
        AuditEvent(actor_label="bulk", action="test.bulk", object_type="mailboxes.mailbox",
                   object_id=str(mailbox.pk), object_repr=mailbox.address,
                   organization=world.acme, domain=mailbox.domain, mailbox=mailbox)
        for _ in range(total)
    )  # fmt: skip
    AuditEvent.objects.filter(action="test.bulk").update(created_at=same_time)
    client, url = world.client("alice"), pages(world)["account"]

    def walk(html: str, link: str) -> str | None:
        found = re.search(rf'href="\?([^"]*)">{link}</a>', html)
        return found.group(1).replace("&amp;", "&") if found else None

    seen: list[int] = []
    html = body(client, url, actor="bulk")
    while True:
        seen.append(shown_rows(html))
        older = walk(html, "Older ›")
        if older is None:
            break
        html = client.get(f"{url}?{older}").content.decode()
    assert seen == [PAGE_SIZE, PAGE_SIZE, 7]
    assert "actor=bulk" in walk(html, "‹ Newer")  # the filter travels with the page links
    back = client.get(f"{url}?{walk(html, '‹ Newer')}").content.decode()
    assert shown_rows(back) == PAGE_SIZE and walk(back, "‹ Newer") is not None
    newest = client.get(f"{url}?{walk(back, '‹ Newer')}").content.decode()
    assert shown_rows(newest) == PAGE_SIZE and walk(newest, "‹ Newer") is None


def test_a_hand_edited_cursor_shows_the_newest_page(world: World) -> None:
    for cursor in ("x", "12-ab", "9" * 40, "-"):
        html = body(world.client("alice"), pages(world)["organization"], before=cursor)
        assert shown_rows(html) >= 6


def test_query_count_does_not_grow_with_the_events(world: World) -> None:
    client, url = world.client("staff"), pages(world)["all"]

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            body(client, url)
        return len(captured)

    few = queries()
    for i in range(30):
        mailbox_update(actor=ACTOR, mailbox=world.other_mailbox, changes={"last_name": f"n{i}"})
    assert queries() == few


# --- no secret ever shown -----------------------------------------------------------------


def test_no_password_hash_or_secret_is_ever_shown(world: World) -> None:
    mailbox = world.acme_mailbox
    mailbox_set_password(actor=ACTOR, mailbox=mailbox, password=NEW_PASSWORD)
    mailbox.refresh_from_db()
    audit_record(actor=ACTOR, action="test.secret", obj=mailbox, organization=world.acme,
                 after={"otp_secret": "JBSWY3DPEHPK3PXP"})  # fmt: skip
    # A row written unscrubbed (by older code, or a name learned later) stays hidden too.
    AuditEvent.objects.create(
        actor_label="old", action="test.legacy", object_type="mailboxes.mailbox",
        object_id=str(mailbox.pk), object_repr=mailbox.address, organization=world.acme,
        domain=mailbox.domain, mailbox=mailbox,
        changes={"before": {"api_key": "RAW-KEY-1"},
                 "after": {"password_hash": mailbox.password_hash}},
    )  # fmt: skip
    for url in (*pages(world).values(),):
        client = world.client("staff" if url == reverse("audit_all") else "alice")
        html = body(client, url)
        for secret in (
            PASSWORD,
            NEW_PASSWORD,
            mailbox.password_hash,
            "JBSWY3DPEHPK3PXP",
            "RAW-KEY-1",
        ):
            assert secret not in html, url
    html = body(world.client("alice"), pages(world)["account"])
    assert html.count("(hidden)") == 3 and "mailbox.set_password" in html
