"""Sending limits on the panel: one rule (values ≥ 0, the plan's maximum, the staff exception)
on the account page, the domain settings and the CLI; the limits each account gets in the
desired state; and "sent in 24 h" read from the policy service's Redis counters.

The counters are real: written in the format of provisioning/sent_counter.py into a Redis
database of these tests (TEST_SENDING_REDIS_URL, db 10 by default) under a prefix of their own.
"""

from __future__ import annotations

import io
import json
import os
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from django.utils import timezone

from domains.models import Domain
from domains.services import domain_update_settings
from mailboxes import sending
from mailboxes.models import Mailbox, MailboxUsage
from mailboxes.services import mailbox_create, mailbox_delete, mailbox_update
from provisioning import tasks, usage
from provisioning.desired import domain_state
from provisioning.sent_counter import sent_key, sent_member
from security.audit import Actor
from tests.personas import ACTOR, PASSWORD, World, build_world

pytestmark = pytest.mark.django_db

TEST_SENDING_REDIS = os.environ.get("TEST_SENDING_REDIS_URL", "redis://127.0.0.1:6379/10")
STAFF_ONLY = "raising above it is a staff-only action"


@dataclass
class Counters:
    """The counters a policy service would have written, in the shared format."""

    client: Any
    prefix: str

    def send(self, address: str, messages: int = 1, *, ago: float = 0, recipients: int = 1):
        """Messages of the account that has the address now (counters are keyed by its id)."""
        local, _, domain = address.partition("@")
        account = Mailbox.objects.get(local_part=local, domain__name=domain).pk
        at = time.time() - ago
        members = {sent_member(recipients, int(at * 1e9) + i): at for i in range(messages)}
        self.client.zadd(sent_key(self.prefix, account), members)


@pytest.fixture
def counters(settings) -> Iterator[Counters]:
    import redis

    client = redis.Redis.from_url(TEST_SENDING_REDIS)
    prefix = f"tmtest-{os.getpid()}-{uuid.uuid4().hex[:8]}/"
    settings.SENDING_REDIS_URL = TEST_SENDING_REDIS
    settings.SENDING_REDIS_PREFIX = prefix
    yield Counters(client, prefix)
    keys = list(client.scan_iter(match=f"{prefix}*"))
    if keys:
        client.delete(*keys)


@pytest.fixture
def redis_down(settings) -> None:
    """A loopback port nothing listens on: connections are refused, as with Redis stopped."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.SENDING_REDIS_URL = f"redis://127.0.0.1:{port}/0"


@pytest.fixture
def world(domain_name: str) -> World:
    world = build_world(domain_name.split(".")[0])
    plan = world.acme.plan
    assert plan is not None
    plan.max_daily_send_limit = 500
    plan.max_hourly_send_limit = 100
    plan.max_recipients_per_message = 50
    plan.save()
    return world


@pytest.fixture
def mailbox(world: World) -> Mailbox:
    return world.acme_mailbox


def reload(mailbox: Mailbox) -> Mailbox:
    return Mailbox.objects.select_related("domain__organization__plan").get(pk=mailbox.pk)


def general_data(mailbox: Mailbox, **changes: Any) -> dict[str, Any]:
    data = {
        "first_name": mailbox.first_name, "last_name": mailbox.last_name,
        "language": mailbox.language, "time_zone": mailbox.time_zone, "quota": "1G",
        "imap_enabled": "on", "pop3_enabled": "on", "smtp_enabled": "on",
        "sieve_enabled": "on", "webmail_enabled": "on",
        "daily_send_limit": "", "hourly_send_limit": "", "max_recipients": "",
    }  # fmt: skip
    data.update(changes)
    return data


def form_error(response: Any, field: str) -> str:
    form = response.context["form"]
    return " ".join(form.errors.get(field, []))


# --- the rule, on the account page ------------------------------------------------------------


def test_account_page_saves_limits_within_the_plan(world: World, mailbox: Mailbox) -> None:
    response = world.client("alice").post(
        reverse("mailbox_detail", args=[mailbox.pk]),
        general_data(mailbox, daily_send_limit="500", hourly_send_limit="40", max_recipients="50"),
    )
    assert response.status_code == 302
    saved = reload(mailbox)
    assert (saved.daily_send_limit, saved.hourly_send_limit, saved.max_recipients) == (500, 40, 50)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("daily_send_limit", "501", "at most 500 messages per day; " + STAFF_ONLY),
        ("hourly_send_limit", "101", "at most 100 messages per hour; " + STAFF_ONLY),
        ("max_recipients", "51", "at most 50 recipients per message; " + STAFF_ONLY),
        ("daily_send_limit", "0", "(0 would mean no limit); " + STAFF_ONLY),
        ("hourly_send_limit", "-1", "greater than or equal to 0"),
        ("max_recipients", "many", "Enter a whole number"),
    ],
)
def test_account_page_refuses_limits_above_the_plan_next_to_the_field(
    world: World, mailbox: Mailbox, field: str, value: str, message: str
) -> None:
    response = world.client("alice").post(
        reverse("mailbox_detail", args=[mailbox.pk]),
        general_data(mailbox, first_name="Changed", **{field: value}),
    )
    assert response.status_code == 200
    assert message in form_error(response, field)
    assert f'id="id_{field}_error"' in response.content.decode()
    assert reload(mailbox).first_name == ""  # nothing saved


def test_staff_may_raise_a_limit_above_the_plan_and_it_survives_other_edits(
    world: World, mailbox: Mailbox
) -> None:
    page = reverse("mailbox_detail", args=[mailbox.pk])
    response = world.client("staff").post(page, general_data(mailbox, daily_send_limit="5000"))
    assert response.status_code == 302
    assert reload(mailbox).daily_send_limit == 5000
    # The customer's admin saves the tab with that value untouched: allowed, and kept...
    response = world.client("alice").post(
        page, general_data(mailbox, first_name="Info", daily_send_limit="5000")
    )
    assert response.status_code == 302
    assert (reload(mailbox).first_name, reload(mailbox).daily_send_limit) == ("Info", 5000)
    # ...but moving it to another value above the plan is still the provider's call.
    response = world.client("alice").post(page, general_data(mailbox, daily_send_limit="4000"))
    assert STAFF_ONLY in form_error(response, "daily_send_limit")
    assert reload(mailbox).daily_send_limit == 5000


def test_without_a_plan_maximum_any_limit_and_no_limit_are_allowed(
    world: World, mailbox: Mailbox
) -> None:
    world.acme.plan.max_daily_send_limit = None
    world.acme.plan.save()
    alice = Actor.for_user(world.users["alice"])
    mailbox_update(actor=alice, mailbox=reload(mailbox), changes={"daily_send_limit": 0})
    mailbox_update(actor=alice, mailbox=reload(mailbox), changes={"daily_send_limit": 10**6})
    with pytest.raises(ValidationError) as excinfo:
        mailbox_update(
            actor=alice, mailbox=reload(mailbox), changes={"daily_send_limit": 10**6 + 1}
        )
    assert "At most 1,000,000" in excinfo.value.message_dict["daily_send_limit"][0]


def test_creating_an_account_above_the_plan_is_refused_to_a_customer(world: World) -> None:
    alice, staff = (Actor.for_user(world.users[name]) for name in ("alice", "staff"))
    with pytest.raises(ValidationError) as excinfo:
        mailbox_create(actor=alice, domain=world.acme_domain, local_part="bulk", password=PASSWORD,
                       settings={"max_recipients": 500})  # fmt: skip
    assert STAFF_ONLY in excinfo.value.message_dict["max_recipients"][0]
    assert not Mailbox.objects.filter(local_part="bulk").exists()
    created = mailbox_create(actor=staff, domain=world.acme_domain, local_part="bulk",
                             password=PASSWORD, settings={"max_recipients": 500})  # fmt: skip
    assert created.max_recipients == 500


def test_account_page_says_what_an_empty_limit_means(world: World, mailbox: Mailbox) -> None:
    Domain.objects.filter(pk=mailbox.domain_id).update(default_daily_send_limit=300)
    body = world.client("alice").get(reverse("mailbox_detail", args=[mailbox.pk])).content.decode()
    assert "Empty: the domain&#x27;s default (300)" in body  # daily: the domain's default
    assert "Empty: the domain&#x27;s default (100)" in body  # hourly: the plan's maximum
    assert "The plan allows up to 500" in body


# --- the rule, on the domain's settings -------------------------------------------------------


def domain_data(domain: Domain, **changes: Any) -> dict[str, Any]:
    data = {
        "default_quota_bytes": "1G", "default_language": "en", "default_time_zone": "UTC",
        "password_min_length": "10", "password_expiry_days": "", "catchall_target": "",
        "default_daily_send_limit": "", "default_hourly_send_limit": "",
        "default_max_recipients": "",
    }  # fmt: skip
    data.update(changes)
    return data


def test_domain_defaults_within_the_plan_are_saved_and_sent_to_the_node(world: World) -> None:
    domain = world.acme_domain
    version = Domain.objects.get(pk=domain.pk).desired_version
    response = world.client("alice").post(
        reverse("domain_settings", args=[domain.pk]),
        domain_data(domain, default_daily_send_limit="200", default_max_recipients="20"),
    )
    assert response.status_code == 302
    saved = Domain.objects.get(pk=domain.pk)
    assert (saved.default_daily_send_limit, saved.default_max_recipients) == (200, 20)
    assert saved.default_hourly_send_limit is None
    # Accounts without their own limits send under the new default: the node must learn it.
    assert saved.desired_version == version + 1


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("default_daily_send_limit", "900", "at most 500 messages per day; " + STAFF_ONLY),
        ("default_hourly_send_limit", "0", STAFF_ONLY),
        ("default_max_recipients", "-3", "greater than or equal to 0"),
    ],
)
def test_domain_defaults_above_the_plan_are_refused_next_to_the_field(
    world: World, field: str, value: str, message: str
) -> None:
    domain = world.acme_domain
    response = world.client("alice").post(
        reverse("domain_settings", args=[domain.pk]),
        domain_data(domain, default_language="de", **{field: value}),
    )
    assert response.status_code == 200
    assert message in form_error(response, field)
    assert f'id="id_{field}_error"' in response.content.decode()
    assert Domain.objects.get(pk=domain.pk).default_language == "en"


def test_staff_may_set_a_domain_default_above_the_plan(world: World) -> None:
    domain = world.acme_domain
    staff = Actor.for_user(world.users["staff"])
    domain_update_settings(actor=staff, domain=domain, changes={"default_daily_send_limit": 900})
    # The customer changes another setting: the provider's value stays.
    alice = Actor.for_user(world.users["alice"])
    fresh = Domain.objects.select_related("organization__plan").get(pk=domain.pk)
    domain_update_settings(
        actor=alice, domain=fresh, changes={"default_daily_send_limit": 900, "force_2fa": True}
    )
    assert Domain.objects.get(pk=domain.pk).default_daily_send_limit == 900
    with pytest.raises(ValidationError) as excinfo:
        domain_update_settings(actor=alice, domain=fresh, changes={"default_daily_send_limit": 800})
    assert STAFF_ONLY in excinfo.value.message_dict["default_daily_send_limit"][0]


# --- desired state ----------------------------------------------------------------------------


def test_each_account_gets_its_own_limit_else_the_domains_else_the_plans(
    world: World, django_assert_num_queries
) -> None:
    domain = world.acme_domain
    own = {"daily_send_limit": 7, "hourly_send_limit": 0, "max_recipients": 3}
    mailbox_create(actor=ACTOR, domain=domain, local_part="own", password=PASSWORD, settings=own)
    mailbox_create(actor=ACTOR, domain=domain, local_part="inherits", password=PASSWORD)
    Domain.objects.filter(pk=domain.pk).update(default_daily_send_limit=250)
    domain = Domain.objects.get(pk=domain.pk)
    # The plan's maximums, the domain's signing keys (DKIM), then one pass over the accounts.
    with django_assert_num_queries(3):
        state = domain_state(domain, 1)
    limits = {
        a.local_part: (a.daily_limit, a.hourly_limit, a.max_recipients) for a in state.accounts
    }
    assert limits["own"] == (7, 0, 3)  # 0 set on the account itself: no hourly limit
    assert limits["inherits"] == (250, 100, 50)  # the domain's default, else the plan's maximum
    # Without a plan maximum and without a default: no limit (0).
    world.acme.plan.max_hourly_send_limit = None
    world.acme.plan.save()
    state = domain_state(domain, 2)
    inherits = next(a for a in state.accounts if a.local_part == "inherits")
    assert (inherits.daily_limit, inherits.hourly_limit) == (250, 0)
    assert type(state).from_json(state.to_json()) == state  # travels as plain JSON


# --- the command line -------------------------------------------------------------------------


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_cli_sets_limits_as_the_provider(mailbox: Mailbox) -> None:
    out = run("mailbox", "update", mailbox.address, "--daily-limit", "5000",
              "--hourly-limit", "0", "--max-recipients", "20")  # fmt: skip
    assert f"updated {mailbox.address}" in out
    saved = reload(mailbox)  # above the plan's 500: the CLI is the provider's tool
    assert (saved.daily_send_limit, saved.hourly_send_limit, saved.max_recipients) == (5000, 0, 20)
    run("mailbox", "update", mailbox.address, "--max-recipients", "")
    assert reload(mailbox).max_recipients is None  # back to the domain's default


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--daily-limit", "-1", "daily send limit: A limit cannot be negative"),
        ("--hourly-limit", "ten", "hourly send limit: “ten” is not a whole number."),
        ("--max-recipients", "2000000", "max recipients: At most 1,000,000"),
    ],
)
def test_cli_refuses_bad_limits_with_one_line(
    mailbox: Mailbox, option: str, value: str, message: str
) -> None:
    with pytest.raises(CommandError) as excinfo:
        run("mailbox", "update", mailbox.address, "--first-name", "X", option, value)
    assert message in str(excinfo.value) and "\n" not in str(excinfo.value)
    assert reload(mailbox).first_name == ""


def test_cli_usage_prints_storage_access_and_sent(mailbox: Mailbox, counters: Counters) -> None:
    login = timezone.now().replace(microsecond=0)
    MailboxUsage.objects.create(mailbox=mailbox, storage_bytes=3 * 1024**2, messages=12,
                                last_login_at=login, last_login_protocol="imap")  # fmt: skip
    counters.send(mailbox.address, 3)  # now
    counters.send(mailbox.address, 2, ago=2 * 3600)  # in the day, not the hour
    counters.send(mailbox.address, 4, ago=25 * 3600)  # older than the window
    report = json.loads(run("mailbox", "usage", mailbox.address, "--json"))
    assert report["address"] == mailbox.address
    assert (report["storage_bytes"], report["messages"]) == (3 * 1024**2, 12)
    assert report["quota_bytes"] == 1024**3
    assert report["last_login_at"] == login.isoformat() and report["last_login_protocol"] == "imap"
    assert (report["sent_24h"], report["sent_1h"], report["sent_error"]) == (5, 3, "")
    assert (report["daily_limit"], report["hourly_limit"], report["max_recipients"]) == (
        500,
        100,
        50,
    )
    text = run("mailbox", "usage", mailbox.address)
    assert "sent in 24 h   5 of 500" in text and "sent in 1 h    3 of 100" in text
    assert "3.0 MB of 1G (0 %)" in text and "(IMAP)" in text


def test_cli_usage_without_redis_still_reports_the_rest(mailbox: Mailbox, redis_down) -> None:
    report = json.loads(run("mailbox", "usage", mailbox.address, "--json"))
    assert report["sent_24h"] is None and report["sent_1h"] is None
    assert "Redis is unreachable" in report["sent_error"]
    assert report["quota_bytes"] == 1024**3
    assert "sent in 24 h   unknown" in run("mailbox", "usage", mailbox.address)


def test_cli_usage_of_an_unknown_address_is_one_line(world: World) -> None:
    with pytest.raises(CommandError) as excinfo:
        run("mailbox", "usage", f"nobody@{world.acme_domain.name}")
    assert "No mailbox nobody@" in str(excinfo.value) and "\n" not in str(excinfo.value)


# --- "sent in 24 h" on the pages --------------------------------------------------------------


def _cell(body: str, address: str) -> str:
    """The "sent" cell of the list row of address."""
    row = body.split(f">{address}</a>")[1].split("</tr>")[0]
    return row[row.rindex("<td", 0, row.index('class="num sent')) :]


def test_list_reads_the_counters_and_highlights_accounts_near_a_limit(
    world: World, counters: Counters, monkeypatch
) -> None:
    domain = world.acme_domain
    for name, settings_ in (("near", {}), ("below", {}), ("hourly", {"hourly_send_limit": 10}),
                            ("unlimited", {"daily_send_limit": 0})):  # fmt: skip
        mailbox_create(actor=ACTOR, domain=domain, local_part=name, password=PASSWORD,
                       settings=settings_)  # fmt: skip
    earlier = 2 * 3600  # in the day, not the last hour (the plan caps that at 100 too)
    counters.send(f"near@{domain.name}", 400, ago=earlier)  # 80 % of the plan's 500 a day
    counters.send(f"below@{domain.name}", 399, ago=earlier)
    counters.send(f"hourly@{domain.name}", 8)  # 80 % of its own 10 an hour
    counters.send(f"unlimited@{domain.name}", 9000, ago=earlier)
    # Count the round trips to the real Redis: one pipeline per window, not one per row.
    client = sending.sending_redis()
    trips = []

    class Counted:
        def pipeline(self, **kwargs: Any) -> Any:
            pipe = client.pipeline(**kwargs)
            execute = pipe.execute
            pipe.execute = lambda *a, **k: trips.append(1) or execute(*a, **k)
            return pipe

    monkeypatch.setattr(sending, "sending_redis", Counted)
    response = world.client("alice").get(reverse("mailbox_list", args=[domain.pk]))
    assert response.status_code == 200
    body = response.content.decode()
    near = _cell(body, f"near@{domain.name}")
    assert "near-limit" in near and 'title="Near its sending limit: 400 of 500 today;' in near
    assert ">80 % of the daily limit<" in near  # in words, not by colour alone
    below = _cell(body, f"below@{domain.name}")
    assert "near-limit" not in below and ">399<" in below and 'title="399 of 500 today;' in below
    hourly = _cell(body, f"hourly@{domain.name}")
    assert "near-limit" in hourly and "8 of 500 today; 8 of 10 this hour" in hourly
    assert ">80 % of the hourly limit<" in hourly
    unlimited = _cell(body, f"unlimited@{domain.name}")
    assert "near-limit" not in unlimited and ">9000<" in unlimited
    assert ">0<" in _cell(body, f"info@{domain.name}")
    assert len(trips) == 2  # the day for the page; the hour, as one account has an hourly limit


def test_account_page_reads_the_same_counters(
    world: World, mailbox: Mailbox, counters: Counters
) -> None:
    counters.send(mailbox.address, 450, ago=2 * 3600)
    body = world.client("alice").get(reverse("mailbox_detail", args=[mailbox.pk])).content.decode()
    assert "450 of 500 today; 0 of 100 this hour" in body
    assert "near its sending limit" in body


def test_pages_render_a_dash_that_says_why_when_redis_is_down(
    world: World, mailbox: Mailbox, redis_down
) -> None:
    alice = world.client("alice")
    response = alice.get(reverse("mailbox_list", args=[world.acme_domain.pk]))
    assert response.status_code == 200
    cell = _cell(response.content.decode(), mailbox.address)
    assert "—" in cell and "Redis is unreachable" in cell
    response = alice.get(reverse("mailbox_detail", args=[mailbox.pk]))
    assert response.status_code == 200
    assert "Redis is unreachable" in response.content.decode()


def test_a_recreated_address_starts_at_zero(world: World, counters: Counters) -> None:
    domain = world.acme_domain
    old = mailbox_create(actor=ACTOR, domain=domain, local_part="again", password=PASSWORD)
    counters.send(old.address, 7)
    mailbox_delete(actor=ACTOR, mailbox=old)
    new = mailbox_create(actor=ACTOR, domain=domain, local_part="again", password=PASSWORD)
    assert new.pk != old.pk
    body = world.client("alice").get(reverse("mailbox_list", args=[domain.pk])).content.decode()
    assert 'title="0 of 500 today;' in _cell(body, new.address)
    assert json.loads(run("mailbox", "usage", new.address, "--json"))["sent_24h"] == 0


def test_the_pages_say_when_the_node_counts_on_its_own(
    world: World, mailbox: Mailbox, redis_down
) -> None:
    node = world.acme_domain.node
    since = timezone.now() - timedelta(minutes=20)
    assert usage.record_policy_status(node.name, {"fallback_since": since.timestamp()})
    alice = world.client("alice")
    cell = _cell(alice.get(reverse("mailbox_list", args=[world.acme_domain.pk])).content.decode(),
                 mailbox.address)  # fmt: skip
    note = f"Mail node {node.name} has counted sent mail on its own since "
    assert "Redis is unreachable" in cell and note in cell
    assert timezone.localtime(since).strftime("%Y-%m-%d %H:%M") in cell
    assert note in alice.get(reverse("mailbox_detail", args=[mailbox.pk])).content.decode()
    page = alice.get(reverse("domain_provisioning", args=[world.acme_domain.pk])).content.decode()
    assert (
        "Node's own count</span> since " + timezone.localtime(since).strftime("%Y-%m-%d %H:%M:%S")
        in page
    )
    # The next report says the node is back on the shared counters.
    assert usage.record_policy_status(node.name, {"fallback_since": None, "unmerged": 0})
    page = alice.get(reverse("domain_provisioning", args=[world.acme_domain.pk])).content.decode()
    assert '<span class="badge online">Shared</span>' in page and "own count" not in page
    cell = _cell(alice.get(reverse("mailbox_list", args=[world.acme_domain.pk])).content.decode(),
                 mailbox.address)  # fmt: skip
    assert "Redis is unreachable" in cell and "on its own" not in cell
    assert not usage.record_policy_status("no-such-node", None)


# --- the stored copy the list sorts on ----------------------------------------------------------


def test_usage_task_refreshes_sent_24h_and_the_sort_follows(
    world: World, counters: Counters, monkeypatch
) -> None:
    domain = world.acme_domain
    quiet = mailbox_create(actor=ACTOR, domain=domain, local_part="quiet", password=PASSWORD)
    busy = mailbox_create(actor=ACTOR, domain=domain, local_part="busy", password=PASSWORD)
    fresh = mailbox_create(actor=ACTOR, domain=domain, local_part="fresh", password=PASSWORD)
    reported = timezone.now() - timedelta(minutes=3)
    for m in (quiet, busy):
        MailboxUsage.objects.create(mailbox=m, storage_bytes=1, sent_24h=None)
    MailboxUsage.objects.filter(mailbox__in=[quiet, busy]).update(updated_at=reported)
    counters.send(busy.address, 30)
    counters.send(fresh.address, 5)
    monkeypatch.setattr(usage, "request_usage_reports", lambda: 0)  # no node to ask here
    monkeypatch.setattr(usage, "SENT_BATCH", 1)  # several batches
    tasks.request_usage_reports()
    stored = dict(MailboxUsage.objects.values_list("mailbox__local_part", "sent_24h"))
    assert stored["busy"] == 30 and stored["quiet"] == 0
    assert "fresh" not in stored  # its row comes with the node's first report
    # The node report's time is left alone: `provision usage --wait` watches it.
    assert MailboxUsage.objects.get(mailbox=busy).updated_at == reported
    assert usage.refresh_sent_counts() == 0  # nothing changed since
    url = reverse("mailbox_list", args=[domain.pk])
    body = world.client("alice").get(url, {"sort": "-sent"}).content.decode()
    assert body.index(f">busy@{domain.name}<") < body.index(f">quiet@{domain.name}<")


def test_usage_task_keeps_the_stored_counts_when_redis_is_down(
    world: World, mailbox: Mailbox, redis_down, monkeypatch
) -> None:
    MailboxUsage.objects.create(mailbox=mailbox, sent_24h=12)
    monkeypatch.setattr(usage, "request_usage_reports", lambda: 0)
    assert tasks.request_usage_reports() == 0  # no exception: node reports still go out
    assert usage.refresh_sent_counts() is None
    assert MailboxUsage.objects.get(mailbox=mailbox).sent_24h == 12
