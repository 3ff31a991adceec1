"""Who sees what: tenant scoping through organizations.access, for every panel page so far."""

from __future__ import annotations

import pytest
from django.urls import reverse

from domains.models import Domain
from mailboxes.models import MailboxUsage
from mailboxes.services import mailbox_create
from tests.personas import ACTOR, PASSWORD, World, build_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(domain_name: str) -> World:
    return build_world(domain_name.split(".")[0])


def test_login_page_logs_in_and_out(world: World) -> None:
    client = world.client("anonymous")
    response = client.post(
        reverse("login"), {"username": world.users["alice"].username, "password": PASSWORD}
    )
    assert response.status_code == 302
    home = client.get(reverse("home"))
    assert home["Location"] == reverse("domain_list", args=[world.acme.pk])
    assert client.post(reverse("logout")).status_code == 302
    assert client.get(reverse("organization_list")).status_code == 302


def test_wrong_password_is_refused_with_a_message(world: World) -> None:
    response = world.client("anonymous").post(
        reverse("login"), {"username": world.users["alice"].username, "password": "nope"}
    )
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()


@pytest.mark.parametrize(
    "url_name", ["organization_list", "domain_list", "domain_activate", "mailbox_list"]
)
def test_anonymous_is_sent_to_login(world: World, url_name: str) -> None:
    args = {
        "organization_list": [],
        "domain_list": [world.acme.pk],
        "domain_activate": [world.acme.pk],
        "mailbox_list": [world.acme_domain.pk],
    }[url_name]
    response = world.client("anonymous").get(reverse(url_name, args=args))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_organization_list_shows_only_ones_own(world: World) -> None:
    body = world.client("alice").get(reverse("organization_list")).content.decode()
    assert world.acme.name in body and world.other.name not in body
    staff = world.client("staff").get(reverse("organization_list")).content.decode()
    assert world.acme.name in staff and world.other.name in staff


def test_another_tenants_objects_answer_404_like_missing_ones(world: World) -> None:
    charlie = world.client("charlie")
    missing = 10**9
    for name, own, foreign in [
        ("domain_list", world.other.pk, world.acme.pk),
        ("domain_activate", world.other.pk, world.acme.pk),
        ("mailbox_list", world.other_domain.pk, world.acme_domain.pk),
        ("domain_provisioning", world.other_domain.pk, world.acme_domain.pk),
    ]:
        assert charlie.get(reverse(name, args=[own])).status_code == 200, name
        assert charlie.get(reverse(name, args=[foreign])).status_code == 404, name
        assert charlie.get(reverse(name, args=[missing])).status_code == 404, name


def test_domain_admin_sees_only_the_domains_given(world: World) -> None:
    dave = world.client("dave")
    body = dave.get(reverse("domain_list", args=[world.acme.pk])).content.decode()
    assert world.acme_second.name in body and world.acme_domain.name not in body
    assert dave.get(reverse("mailbox_list", args=[world.acme_second.pk])).status_code == 200
    assert dave.get(reverse("mailbox_list", args=[world.acme_domain.pk])).status_code == 404
    assert dave.get(reverse("domain_activate", args=[world.acme.pk])).status_code == 403


def test_activate_a_domain(world: World) -> None:
    alice = world.client("alice")
    url = reverse("domain_activate", args=[world.acme.pk])
    assert "Activate a domain" in alice.get(url).content.decode()
    response = alice.post(url, {"name": "Nouveau-Bücher.TEST"}, follow=True)
    domain = Domain.objects.get(name="xn--nouveau-bcher-4ob.test")
    assert domain.organization == world.acme
    assert response.redirect_chain[-1][0] == reverse("mailbox_list", args=[domain.pk])
    assert "is active" in response.content.decode()


@pytest.mark.parametrize(
    ("name", "message"),
    [("not a domain", "is not a valid domain name"), ("", "This field is required")],
)
def test_activate_a_domain_shows_errors_at_the_field(world: World, name: str, message: str) -> None:
    before = Domain.objects.count()
    response = world.client("alice").post(
        reverse("domain_activate", args=[world.acme.pk]), {"name": name}
    )
    assert response.status_code == 200
    assert message in response.content.decode()
    assert 'class="field has-error"' in response.content.decode()
    assert Domain.objects.count() == before


def test_activating_an_existing_domain_is_refused_at_the_field(world: World) -> None:
    response = world.client("alice").post(
        reverse("domain_activate", args=[world.acme.pk]), {"name": world.other_domain.name}
    )
    assert "already exists" in response.content.decode()


def test_read_only_member_sees_but_cannot_activate(world: World) -> None:
    bob = world.client("bob")
    assert bob.get(reverse("mailbox_list", args=[world.acme_domain.pk])).status_code == 200
    assert bob.get(reverse("domain_activate", args=[world.acme.pk])).status_code == 403
    before = Domain.objects.count()
    assert (
        bob.post(reverse("domain_activate", args=[world.acme.pk]), {"name": "x.test"}).status_code
        == 403
    )
    assert Domain.objects.count() == before


def test_account_list_shows_honest_dashes_until_usage_is_reported(world: World) -> None:
    body = (
        world.client("alice")
        .get(reverse("mailbox_list", args=[world.acme_domain.pk]))
        .content.decode()
    )
    assert f"info@{world.acme_domain.name}" in body
    assert "Updating" in body  # nothing committed, nothing applied in this test
    assert body.count("—") >= 2  # storage, last access; "sent" is live: test_sending_limits.py
    MailboxUsage.objects.create(mailbox=world.acme_mailbox, storage_bytes=512 * 1024**2, sent_24h=7)
    body = (
        world.client("alice")
        .get(reverse("mailbox_list", args=[world.acme_domain.pk]))
        .content.decode()
    )
    assert "512.0\xa0MB" in body and 'value="50"' in body


def test_account_list_search_filter_sort_and_pages(world: World) -> None:
    for i in range(60):
        mailbox_create(
            actor=ACTOR, domain=world.acme_domain, local_part=f"user{i:02d}", password=PASSWORD,
            last_name="Zimmer" if i == 7 else "", quota_bytes=1024**3,
        )  # fmt: skip
    alice = world.client("alice")
    url = reverse("mailbox_list", args=[world.acme_domain.pk])
    first = alice.get(url).content.decode()
    assert "61 accounts" in first and "Page 1 of 2" in first
    assert "info@" in first and "user48@" in first and "user49@" not in first
    assert "user07@" in alice.get(url, {"q": "zimm"}).content.decode()
    searched = alice.get(url, {"q": "user1"}).content.decode()
    assert "10 accounts" in searched  # user10 .. user19
    desc = alice.get(url, {"sort": "-address"}).content.decode()
    assert desc.index("user59@") < desc.index("user58@")
    online = alice.get(url, {"status": "online"}).content.decode()
    assert "0 accounts" in online  # nothing applied here
    Domain.objects.filter(pk=world.acme_domain.pk).update(
        applied_version=world.acme_domain.desired_version + 100,
        desired_version=world.acme_domain.desired_version + 100,
    )
    assert "61 accounts" in alice.get(url, {"status": "online"}).content.decode()
    assert alice.get(url, {"page": "999"}).status_code == 200
    assert alice.get(url, {"sort": "password_hash"}).status_code == 200  # unknown sort ignored


def test_list_pages_use_a_fixed_number_of_queries(world: World) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    alice = world.client("alice")
    urls = [
        reverse("organization_list"),
        reverse("domain_list", args=[world.acme.pk]),
        reverse("mailbox_list", args=[world.acme_domain.pk]),
        reverse("mailbox_list", args=[world.acme_domain.pk]) + "?sort=-storage",
    ]

    def queries() -> list[int]:
        counts = []
        for url in urls:
            with CaptureQueriesContext(connection) as captured:
                assert alice.get(url).status_code == 200
            counts.append(len(captured))
        return counts

    few = queries()
    for i in range(40):
        mailbox = mailbox_create(
            actor=ACTOR, domain=world.acme_domain, local_part=f"q{i}", password=PASSWORD,
            quota_bytes=1024**3,
        )  # fmt: skip
        MailboxUsage.objects.create(mailbox=mailbox, storage_bytes=i * 1000, sent_24h=i)
    assert queries() == few  # the same number of queries with 1 or 41 accounts


@pytest.mark.parametrize(
    "sort", ["storage", "-storage", "last_access", "-last_access", "sent", "-sent", "-address"]
)
def test_list_rows_page_like_the_full_ordering(world: World, sort: str) -> None:
    import random
    from datetime import timedelta

    from django.utils import timezone

    from mailboxes.models import Mailbox
    from mailboxes.selectors import MailboxListRows, mailbox_list

    rng = random.Random(7)
    for i in range(37):
        mailbox = mailbox_create(
            actor=ACTOR, domain=world.acme_domain, local_part=f"m{i:02d}", password=PASSWORD,
            quota_bytes=1024**3,
        )  # fmt: skip
        if rng.random() < 0.6:
            MailboxUsage.objects.create(
                mailbox=mailbox,
                storage_bytes=rng.choice([None, rng.randint(0, 5) * 1000]),
                last_login_at=timezone.now() - timedelta(hours=rng.randint(0, 3)),
                sent_24h=rng.randint(0, 3),
            )
    expected = list(mailbox_list(world.acme_domain, sort=sort).values_list("id", flat=True))
    rows = MailboxListRows(world.acme_domain, sort=sort)
    assert rows.count() == len(expected) == Mailbox.objects.filter(domain=world.acme_domain).count()
    paged = [m.pk for start in range(0, len(expected), 10) for m in rows[start : start + 10]]
    assert paged == expected
