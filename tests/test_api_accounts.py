"""Accounts through the JSON API (api/v1_accounts.py, api/v1_me.py): the page's list query,
create/update/state changes through the same services (validation messages, audit rows,
provisioning versions), scope (404 outside it), read-only keys (403), personal keys' /me."""

from __future__ import annotations

import json
import os

import pytest
from django.test import Client

from api.services import api_key_create, api_key_create_personal
from mailboxes.models import Mailbox, MailboxState
from mailboxes.passwords import verify_password
from mailboxes.services import mailbox_create, mailbox_update
from security.models import AuditEvent
from tests.personas import ACTOR, PASSWORD, World, build_world

NEW_PASSWORD = "Plum-Harbour-Lantern-93"


@pytest.fixture(autouse=True)
def _api_settings(settings):
    settings.API_RATE_LIMIT_REDIS_URL = os.environ.get(
        "TEST_MAILNODE_REDIS_URL", "redis://127.0.0.1:6379/12"
    )
    settings.API_RATE_LIMIT_PER_MINUTE = 0


@pytest.fixture
def world(db, domain_name: str) -> World:
    return build_world(domain_name.split(".")[0])


class Api:
    """A client with a key, speaking JSON."""

    def __init__(self, text: str) -> None:
        self.client = Client(HTTP_AUTHORIZATION=f"Bearer {text}")

    def get(self, url: str, params: dict | None = None):
        return self.client.get(url, params or {})

    def send(self, method: str, url: str, body: object = None):
        data = "" if body is None else json.dumps(body)
        return getattr(self.client, method)(url, data, content_type="application/json")


def _key(world: World, **options) -> Api:
    return Api(api_key_create(actor=ACTOR, organization=world.acme, name="crm", **options).text)


def _accounts(domain: str) -> str:
    return f"/api/v1/domains/{domain}/accounts"


def _account(address: str, suffix: str = "") -> str:
    local, domain = address.split("@")
    return f"{_accounts(domain)}/{local}{suffix}"


def _fields(response) -> dict:
    assert response.status_code == 400, response.content
    return response.json()["error"]["fields"]


# --- list -----------------------------------------------------------------------------------
def test_the_list_searches_filters_sorts_and_pages_like_the_page(world: World) -> None:
    domain = world.acme_domain
    for local, name in (("zeta", "Anna"), ("beta", "Bruno"), ("alpha", "Zoe")):
        mailbox_create(actor=ACTOR, domain=domain, local_part=local, password=PASSWORD,
                       first_name=name)  # fmt: skip
    api = _key(world)
    first = api.get(_accounts(domain.name), {"per_page": 2}).json()
    assert [a["local_part"] for a in first["data"]] == ["alpha", "beta"]
    assert (first["total"], first["next_page"]) == (4, 2)
    second = api.get(_accounts(domain.name), {"per_page": 2, "page": 2}).json()
    assert [a["local_part"] for a in second["data"]] == ["info", "zeta"]
    assert second["next_page"] is None
    found = api.get(_accounts(domain.name), {"q": "bruno"}).json()["data"]
    assert [a["address"] for a in found] == [f"beta@{domain.name}"]
    by_name = api.get(_accounts(domain.name), {"sort": "-name"}).json()["data"]
    assert [a["local_part"] for a in by_name][:1] == ["alpha"]  # Zoe's last name is empty
    assert api.get(_accounts(domain.name), {"status": "offline"}).json()["total"] == 0


def test_bad_list_parameters_are_field_errors(world: World) -> None:
    api = _key(world)
    url = _accounts(world.acme_domain.name)
    assert set(_fields(api.get(url, {"status": "asleep"}))) == {"status"}
    assert set(_fields(api.get(url, {"sort": "password"}))) == {"sort"}
    assert set(_fields(api.get(url, {"page": "0"}))) == {"page"}
    assert set(_fields(api.get(url, {"per_page": "201"}))) == {"per_page"}


def test_the_list_costs_a_fixed_number_of_queries(world: World, django_assert_max_num_queries):
    for i in range(30):
        mailbox_create(actor=ACTOR, domain=world.acme_domain, local_part=f"u{i}", password=PASSWORD)
    api = _key(world)
    with django_assert_max_num_queries(12):
        response = api.get(_accounts(world.acme_domain.name), {"per_page": 25})
    assert len(response.json()["data"]) == 25


# --- create ---------------------------------------------------------------------------------
def test_create_with_a_password_goes_through_the_service(world: World) -> None:
    domain = world.acme_domain
    before = domain.desired_version
    response = _key(world).send("post", _accounts(domain.name), {
        "local_part": "Sales", "password": NEW_PASSWORD, "first_name": "Sales team",
        "quota_bytes": 2 * 1024**3, "forward_to": ["boss@example.net"], "pop3_enabled": False,
    })  # fmt: skip
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["address"] == f"sales@{domain.name}" and "password" not in body
    assert body["status"] == "updating"  # the mail servers follow after the commit
    mailbox = Mailbox.objects.get(domain=domain, local_part="sales")
    assert verify_password(NEW_PASSWORD, mailbox.password_hash)
    assert (mailbox.quota_bytes, mailbox.forward_to, mailbox.pop3_enabled) == (
        2 * 1024**3, ["boss@example.net"], False,
    )  # fmt: skip
    domain.refresh_from_db()
    assert domain.desired_version > before
    event = AuditEvent.objects.get(action="mailbox.create", mailbox=mailbox)
    assert event.actor_label == "api:crm"


def test_create_without_a_password_returns_a_generated_one_once(world: World) -> None:
    api = _key(world)
    body = api.send("post", _accounts(world.acme_domain.name), {"local_part": "gen"}).json()
    mailbox = Mailbox.objects.get(local_part="gen", domain=world.acme_domain)
    assert verify_password(body["password"], mailbox.password_hash)
    assert "password" not in api.get(_account(mailbox.address)).json()


def test_create_refuses_with_the_pages_messages_and_changes_nothing(world: World) -> None:
    api = _key(world)
    url = _accounts(world.acme_domain.name)
    count = Mailbox.objects.count()
    taken = _fields(api.send("post", url, {"local_part": "info", "password": NEW_PASSWORD}))
    assert taken == {"local_part": [f"info@{world.acme_domain.name} already exists."]}
    errors = _fields(api.send("post", url, {
        "local_part": "new", "password": NEW_PASSWORD, "quota_bytes": 50 * 1024**3,
        "autoreply_enabled": True,
    }))  # fmt: skip
    assert errors == {
        "quota_bytes": ["The plan allows at most 10G per account."],
        "autoreply_subject": ["An automatic reply needs a subject."],
    }
    typed = _fields(api.send("post", url, {
        "local_part": "new", "pop3_enabled": "yes", "quota_bytes": "2G", "colour": "red",
        "autoreply_start": "2030-01-01T10:00",
    }))  # fmt: skip
    assert set(typed) == {"pop3_enabled", "quota_bytes", "colour", "autoreply_start"}
    weak = _fields(api.send("post", url, {"local_part": "new", "password": "new"}))
    assert set(weak) == {"password"}
    bad_json = api.client.post(url, "{", content_type="application/json")
    assert bad_json.status_code == 400 and "not valid JSON" in bad_json.json()["error"]["message"]
    assert Mailbox.objects.count() == count


# --- one account ----------------------------------------------------------------------------
def test_show_update_and_the_sub_resources(world: World) -> None:
    api = _key(world)
    address = world.acme_mailbox.address
    shown = api.get(_account(address)).json()
    assert shown["settings"]["quota_bytes"] == 1024**3 and shown["usage"]["storage_bytes"] is None
    changed = api.send("patch", _account(address), {"language": "de", "daily_send_limit": 100})
    assert changed.status_code == 200, changed.content
    assert changed.json()["settings"]["language"] == "de"
    forwarding = api.send("patch", _account(address, "/forwarding"),
                          {"forward_to": ["a@example.net", "B@Example.net"]}).json()  # fmt: skip
    assert forwarding["forward_to"] == ["a@example.net", "b@example.net"]
    reply = api.send("patch", _account(address, "/autoresponder"), {
        "autoreply_enabled": True, "autoreply_subject": "Away",
        "autoreply_start": "2030-01-01T10:00:00+02:00",
    }).json()  # fmt: skip
    assert reply["autoreply_start"] == "2030-01-01T08:00:00+00:00"
    wrong = api.send("patch", _account(address, "/autoresponder"), {"forward_to": []})
    assert set(_fields(wrong)) == {"forward_to"}
    mailbox = Mailbox.objects.get(pk=world.acme_mailbox.pk)
    assert (mailbox.language, mailbox.daily_send_limit, mailbox.autoreply_subject) == (
        "de", 100, "Away",
    )  # fmt: skip
    assert AuditEvent.objects.filter(action="mailbox.update", mailbox=mailbox).count() == 3
    usage = api.get(_account(address, "/usage")).json()
    assert usage["quota_bytes"] == 1024**3 and usage["sent_24h"]["day"] == 0
    provisioning = api.get(_account(address, "/provisioning")).json()
    # Changed, and not applied yet (the loop runs after the commit): the versions say so.
    assert provisioning["status"] == "updating" and not provisioning["domain"]["in_sync"]
    assert provisioning["changed_version"] == provisioning["domain"]["desired_version"]


def test_deactivate_reactivate_password_and_delete(world: World) -> None:
    api = _key(world)
    address = world.acme_mailbox.address
    off = api.send("post", _account(address, "/deactivate"))
    assert off.status_code == 200 and off.json()["state"] == MailboxState.DEACTIVATED
    again = api.send("post", _account(address, "/deactivate"))
    assert _fields(again) == {"state": [f"{address} is already deactivated."]}
    assert api.send("post", _account(address, "/reactivate")).json()["state"] == "active"
    assert api.send("post", _account(address, "/password"), {"password": NEW_PASSWORD}).json() == {}
    assert verify_password(
        NEW_PASSWORD, Mailbox.objects.get(pk=world.acme_mailbox.pk).password_hash
    )
    generated = api.send("post", _account(address, "/password")).json()["password"]
    assert verify_password(generated, Mailbox.objects.get(pk=world.acme_mailbox.pk).password_hash)
    assert api.client.delete(_account(address)).status_code == 204
    assert not Mailbox.objects.filter(pk=world.acme_mailbox.pk).exists()
    assert AuditEvent.objects.filter(action="mailbox.delete", actor_label="api:crm").exists()


# --- scope and access -----------------------------------------------------------------------
def test_outside_the_keys_scope_everything_is_404(world: World) -> None:
    other = mailbox_create(actor=ACTOR, domain=world.acme_second, local_part="x", password=PASSWORD)
    api = _key(world, domains=[world.acme_domain])
    assert api.get(_account(world.acme_mailbox.address)).status_code == 200
    for address in (other.address, world.other_mailbox.address, f"nobody@{world.acme_domain}"):
        for suffix in ("", "/usage", "/forwarding", "/provisioning"):
            assert api.get(_account(address, suffix)).status_code == 404, (address, suffix)
        assert api.client.delete(_account(address)).status_code == 404
    for domain in (world.acme_second.name, world.other_domain.name):
        assert api.get(_accounts(domain)).status_code == 404
        created = api.send("post", _accounts(domain), {"local_part": "sneaky"})
        assert created.status_code == 404
    assert Mailbox.objects.filter(pk=world.other_mailbox.pk).exists()
    assert not Mailbox.objects.filter(local_part="sneaky").exists()


def test_a_read_only_key_reads_and_gets_403_on_every_write(world: World) -> None:
    api = _key(world, read_only=True)
    address = world.acme_mailbox.address
    assert api.get(_account(address)).status_code == 200
    writes = [
        ("post", _accounts(world.acme_domain.name), {"local_part": "new"}),
        ("patch", _account(address), {"language": "de"}),
        ("patch", _account(address, "/forwarding"), {"forward_to": []}),
        ("post", _account(address, "/deactivate"), None),
        ("post", _account(address, "/password"), None),
        ("delete", _account(address), None),
    ]
    for method, url, body in writes:
        assert api.send(method, url, body).status_code == 403, (method, url)
    assert Mailbox.objects.get(pk=world.acme_mailbox.pk).language == "en"


def test_other_methods_are_405(world: World) -> None:
    api = _key(world)
    assert api.send("put", _account(world.acme_mailbox.address), {}).status_code == 405
    assert api.get(_account(world.acme_mailbox.address, "/deactivate")).status_code == 405


# --- personal keys --------------------------------------------------------------------------
def _personal(world: World, **changes) -> Api:
    mailbox = mailbox_update(
        actor=ACTOR, mailbox=world.acme_mailbox, changes={"api_access": True, **changes}
    )
    return Api(api_key_create_personal(actor=ACTOR, mailbox=mailbox, name="mine").text)


def test_a_personal_key_reads_and_changes_its_own_settings_only(world: World) -> None:
    api = _personal(world)
    me = api.get("/api/v1/me").json()
    assert me["address"] == world.acme_mailbox.address
    assert me["permissions"] == {"may_forward": True, "may_change_password": True}
    reply = api.send("patch", "/api/v1/me/autoresponder",
                     {"autoreply_enabled": True, "autoreply_subject": "Out"})  # fmt: skip
    assert reply.status_code == 200 and reply.json()["autoreply_subject"] == "Out"
    forwarding = api.send("patch", "/api/v1/me/forwarding", {"forward_to": ["me@example.net"]})
    assert forwarding.json()["forward_to"] == ["me@example.net"]
    assert api.get("/api/v1/me/usage").json()["quota_bytes"] == 1024**3
    settings = api.send("patch", "/api/v1/me/forwarding", {"quota_bytes": 1})
    assert set(_fields(settings)) == {"quota_bytes"}
    assert api.get(_account(world.acme_mailbox.address)).status_code == 404
    assert api.get(_accounts(world.acme_domain.name)).status_code == 404


def test_an_owner_who_may_not_forward_gets_403_and_nothing_changes(world: World) -> None:
    api = _personal(world, owner_may_forward=False)
    refused = api.send("patch", "/api/v1/me/forwarding", {"forward_to": ["me@example.net"]})
    assert refused.status_code == 403
    assert "administrator manages the forwarding" in refused.json()["error"]["message"]
    spam = api.send("patch", "/api/v1/me/forwarding", {"spam_to_inbox": True})
    assert spam.status_code == 200  # not forwarding: the owner's own choice, as on the page
    mailbox = Mailbox.objects.get(pk=world.acme_mailbox.pk)
    assert (mailbox.forward_to, mailbox.spam_to_inbox) == ([], True)


def test_an_organization_key_has_no_me(world: World) -> None:
    assert _key(world).get("/api/v1/me").status_code == 404


def test_no_key_raises_a_limit_above_the_plan_whoever_made_it(world: World) -> None:
    plan = world.acme.plan
    plan.max_daily_send_limit = 500
    plan.save()
    api = _key(world)  # made by a system actor (as the CLI makes them): still not the provider
    url = _account(world.acme_mailbox.address)
    refused = _fields(api.send("patch", url, {"daily_send_limit": 900}))
    assert "staff-only" in " ".join(refused["daily_send_limit"])
    assert Mailbox.objects.get(pk=world.acme_mailbox.pk).daily_send_limit is None
    assert api.send("patch", url, {"daily_send_limit": 400}).status_code == 200
