"""API keys and the API's way in (api/): scoping, refusals, rate limit, secrecy, the command
and the key pages. The 401/403/404 answers go through the real /api/v1/ endpoints; the
decorator's write refusal and error shape also through a test-only endpoint (urlpatterns
below, used with @pytest.mark.urls) since no write endpoint exists yet."""

from __future__ import annotations

import io
import logging
import os
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.http import JsonResponse
from django.test import Client
from django.urls import path, reverse

from api.auth import api_endpoint
from api.keys import hash_secret, parse_key
from api.models import ApiKey
from api.services import api_key_create, api_key_create_personal, api_key_revoke
from mailboxes.services import mailbox_update
from security.audit import Actor
from security.models import AuditEvent
from tests.personas import ACTOR, World, build_world, owner_of


# --- a test-only endpoint (the decorator's write path) ---------------------------------------
@api_endpoint(methods=["GET", "POST"])
def _echo(request):
    if request.method == "POST" and request.POST.get("bad"):
        raise ValidationError({"name": ["Enter a name."], "__all__": ["Nothing was changed."]})
    return JsonResponse({"actor": request.api.actor.label, "ip": request.api.actor.ip_address})


urlpatterns = [path("echo", _echo)]


# --- fixtures -----------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def _api_settings(settings):
    settings.API_RATE_LIMIT_REDIS_URL = os.environ.get(
        "TEST_MAILNODE_REDIS_URL", "redis://127.0.0.1:6379/12"
    )
    settings.API_RATE_LIMIT_PER_MINUTE = 600


@pytest.fixture
def world(db, domain_name: str) -> World:
    return build_world(domain_name.split(".")[0])


def _client(text: str | None, **extra: str) -> Client:
    headers = {"HTTP_AUTHORIZATION": f"Bearer {text}"} if text else {}
    return Client(**headers, **extra)


def _org_key(world: World, **options):
    return api_key_create(actor=ACTOR, organization=world.acme, name="crm", **options)


def _names(response) -> list[str]:
    return [d["name"] for d in response.json()["data"]]


def _error(response) -> dict:
    body = response.json()
    assert set(body) == {"error"}, body
    return body["error"]


LIST = "/api/v1/domains"


def _detail(name: str) -> str:
    return reverse("api_domain_detail", kwargs={"domain_name": name})


# --- scope ----------------------------------------------------------------------------------
def test_an_organization_key_sees_its_organizations_domains_only(world: World) -> None:
    client = _client(_org_key(world).text)
    response = client.get(LIST)
    assert response.status_code == 200
    assert _names(response) == sorted([world.acme_domain.name, world.acme_second.name])
    assert client.get(_detail(world.acme_second.name)).json()["name"] == world.acme_second.name
    answer = client.get(_detail(world.other_domain.name))
    assert answer.status_code == 404 and _error(answer)["code"] == "not_found"


def test_a_domain_scoped_key_sees_its_domain_and_404_elsewhere(world: World) -> None:
    client = _client(_org_key(world, domains=[world.acme_domain]).text)
    assert _names(client.get(LIST)) == [world.acme_domain.name]
    shown = client.get(_detail(world.acme_domain.name.upper()))
    assert shown.status_code == 200 and shown.json()["provisioning"]["desired_version"] >= 1
    for other in (world.acme_second.name, world.other_domain.name, "no-such.test", "..bad"):
        assert client.get(_detail(other)).status_code == 404, other


def test_a_key_cannot_be_given_another_organizations_domain(world: World) -> None:
    with pytest.raises(ValidationError) as excinfo:
        _org_key(world, domains=[world.other_domain])
    assert "domains" in excinfo.value.message_dict
    assert not ApiKey.objects.exists()


def test_the_list_pages_by_cursor_in_a_stable_order(world: World) -> None:
    client = _client(_org_key(world).text)
    first = client.get(LIST, {"limit": 1}).json()
    assert [d["name"] for d in first["data"]] == [world.acme_domain.name]
    second = client.get(LIST, {"limit": 1, "cursor": first["next_cursor"]}).json()
    assert [d["name"] for d in second["data"]] == [world.acme_second.name]
    assert second["next_cursor"] is None
    bad = client.get(LIST, {"cursor": "not-a-cursor", "limit": 0})
    assert bad.status_code == 400
    assert set(_error(bad)["fields"]) == {"limit"}  # the limit is read first
    bad = client.get(LIST, {"cursor": "bm90LWEtY3Vyc29y"})
    assert bad.status_code == 400 and set(_error(bad)["fields"]) == {"cursor"}


# --- refusals -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "header",
    ["", "Bearer", "Basic dXNlcjpwYXNz", "Bearer tm_nothex000000_x", "Bearer something-else"],
)
def test_a_missing_or_unknown_key_is_401(world: World, header: str) -> None:
    response = Client(HTTP_AUTHORIZATION=header).get(LIST)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert _error(response)["code"] == "unauthorized"


def test_a_wrong_secret_with_a_real_prefix_is_401(world: World) -> None:
    parsed = parse_key(_org_key(world).text)
    response = _client(f"tm_{parsed.prefix}_{'A' * 43}").get(LIST)
    assert response.status_code == 401


def test_a_session_is_not_a_key(world: World) -> None:
    assert world.client("alice").get(LIST).status_code == 401


def test_a_revoked_key_is_401_at_once(world: World) -> None:
    new = _org_key(world)
    client = _client(new.text)
    assert client.get(LIST).status_code == 200
    api_key_revoke(actor=ACTOR, key=new.key)
    response = client.get(LIST)
    assert response.status_code == 401 and "revoked" in _error(response)["message"]


def test_an_expired_key_is_401(world: World, clock) -> None:
    new = _org_key(world, expires_at=clock() + timedelta(hours=1))
    assert _client(new.text).get(LIST).status_code == 200
    clock.advance(hours=1)
    response = _client(new.text).get(LIST)
    assert response.status_code == 401 and "expired" in _error(response)["message"]


def test_a_key_is_refused_outside_its_networks(world: World) -> None:
    new = _org_key(world, allowed_networks="10.1.0.0/16\n2001:db8::/32")
    assert _client(new.text, REMOTE_ADDR="10.1.2.3").get(LIST).status_code == 200
    assert _client(new.text, REMOTE_ADDR="2001:db8::5").get(LIST).status_code == 200
    outside = _client(new.text, REMOTE_ADDR="192.0.2.7").get(LIST)
    assert outside.status_code == 401 and "address" in _error(outside)["message"]


def test_bad_networks_are_refused_by_field(world: World) -> None:
    with pytest.raises(ValidationError) as excinfo:
        _org_key(world, allowed_networks="10.0.0.0/33")
    assert "allowed_networks" in excinfo.value.message_dict


@pytest.mark.urls(__name__)
def test_a_read_only_key_gets_403_on_a_write(world: World) -> None:
    read_only = _client(_org_key(world, read_only=True).text)
    assert read_only.get("/echo").status_code == 200
    response = read_only.post("/echo")
    assert response.status_code == 403 and _error(response)["code"] == "forbidden"
    read_write = Client(
        enforce_csrf_checks=True, HTTP_AUTHORIZATION=f"Bearer {_org_key(world).text}"
    )
    assert read_write.post("/echo").status_code == 200  # no CSRF token needed with a key


@pytest.mark.urls(__name__)
def test_validation_errors_have_the_field_shape(world: World) -> None:
    response = _client(_org_key(world).text).post("/echo", {"bad": "1"})
    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "code": "validation",
            "message": "Nothing was changed.",
            "fields": {"name": ["Enter a name."]},
        }
    }


@pytest.mark.urls(__name__)
def test_the_actor_names_the_key_and_the_caller(world: World) -> None:
    body = _client(_org_key(world).text, REMOTE_ADDR="10.9.8.7").get("/echo").json()
    assert body == {"actor": "api:crm", "ip": "10.9.8.7"}


def test_other_methods_are_405(world: World) -> None:
    response = _client(_org_key(world).text).post(LIST)
    assert response.status_code == 405 and response["Allow"] == "GET"


# --- personal keys --------------------------------------------------------------------------
def test_a_personal_key_needs_api_access_and_stops_when_it_is_turned_off(world: World) -> None:
    mailbox = world.acme_mailbox
    with pytest.raises(ValidationError):
        api_key_create_personal(actor=ACTOR, mailbox=mailbox, name="mine")
    mailbox = mailbox_update(actor=ACTOR, mailbox=mailbox, changes={"api_access": True})
    new = api_key_create_personal(actor=ACTOR, mailbox=mailbox, name="mine")
    client = _client(new.text)
    response = client.get(LIST)
    assert response.status_code == 200 and response.json()["data"] == []  # no domain for it
    assert client.get(_detail(world.acme_domain.name)).status_code == 404
    mailbox_update(actor=ACTOR, mailbox=mailbox, changes={"api_access": False})
    refused = client.get(LIST)
    assert refused.status_code == 401 and "API access is off" in _error(refused)["message"]
    assert ApiKey.objects.get(pk=new.key.pk).revoked_at is None  # checked, not deleted


# --- rate limit -----------------------------------------------------------------------------
def test_past_the_rate_the_answer_is_429_with_retry_after(world: World, settings, clock) -> None:
    settings.API_RATE_LIMIT_PER_MINUTE = 2
    clock.at = clock.at.replace(second=30, microsecond=0)
    client = _client(_org_key(world).text)
    assert [client.get(LIST).status_code for _ in range(2)] == [200, 200]
    refused = client.get(LIST)
    assert refused.status_code == 429 and refused["Retry-After"] == "30"
    assert _error(refused)["code"] == "rate_limited"
    other = _client(_org_key(world).text)  # counted per key
    assert other.get(LIST).status_code == 200
    clock.advance(seconds=30)
    assert client.get(LIST).status_code == 200


def test_with_redis_away_requests_pass_and_a_warning_is_logged(world: World, settings, caplog):
    settings.API_RATE_LIMIT_REDIS_URL = "redis://127.0.0.1:1/0"
    settings.API_RATE_LIMIT_PER_MINUTE = 1
    client = _client(_org_key(world).text)
    with caplog.at_level(logging.WARNING, logger="api.ratelimit"):
        assert [client.get(LIST).status_code for _ in range(2)] == [200, 200]
    assert any("rate limit not counted" in r.getMessage() for r in caplog.records)


# --- secrecy and bookkeeping ----------------------------------------------------------------
def test_the_key_is_stored_hashed_and_never_logged(world: World, caplog) -> None:
    with caplog.at_level(logging.DEBUG):
        new = _org_key(world)
        secret = parse_key(new.text).secret
        _client(new.text, REMOTE_ADDR="10.0.0.9").get(LIST)
        _client(new.text).get(_detail("missing.test"))
        _client(new.text[:-2] + "zz").get(LIST)
    row = ApiKey.objects.filter(pk=new.key.pk).values().get()
    assert row["secret_hash"] == hash_secret(secret)
    assert not [v for v in row.values() if isinstance(v, str) and secret in v]
    events = AuditEvent.objects.filter(action="api_key.create")
    assert events.count() == 1 and secret not in str(events.get().changes)
    assert all(secret not in r.getMessage() for r in caplog.records)
    assert row["last_used_ip"] in ("10.0.0.9", "127.0.0.1") and row["last_used_at"]


def test_create_and_revoke_are_audited(world: World) -> None:
    actor = Actor.for_user(world.users["alice"], "10.0.0.1")
    new = api_key_create(actor=actor, organization=world.acme, name="crm", read_only=True)
    api_key_revoke(actor=actor, key=new.key)
    events = AuditEvent.objects.filter(organization=world.acme, action__startswith="api_key")
    assert sorted(events.values_list("action", flat=True)) == ["api_key.create", "api_key.revoke"]
    assert {e.actor_label for e in events} == {world.users["alice"].get_username()}
    with pytest.raises(ValidationError):
        api_key_revoke(actor=actor, key=new.key)


# --- the command ----------------------------------------------------------------------------
def _run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("apikey", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_the_command_creates_lists_and_revokes(world: World) -> None:
    out, err = _run(
        "create", "--organization", world.acme.name, "--domain", world.acme_domain.name,
        "--read-only", "--expires", "2999-12-31",
    )  # fmt: skip
    text = out.strip()
    assert parse_key(text) is not None and "shown once" in err
    key = ApiKey.objects.get()
    assert key.read_only and [d.name for d in key.domains.all()] == [world.acme_domain.name]
    assert key.expires_at.date().isoformat() == "3000-01-01"  # through the whole last day
    assert _names(_client(text).get(LIST)) == [world.acme_domain.name]
    listed, _ = _run("list", "--organization", world.acme.name)
    assert f"tm_{key.prefix}_" in listed and parse_key(text).secret not in listed
    assert "read-only" in listed and "active" in listed
    assert _run("list", "--organization", world.other.name)[0] == ""
    revoked, _ = _run("revoke", str(key.pk))
    assert "revoked" in revoked
    assert _client(text).get(LIST).status_code == 401


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--organization", "Nobody"], "organization: no organization"),
        (["--domain", "missing.test"], "domain: no domain"),
        (["--domain", "other"], "is not a domain of"),
        (["--expires", "31/12/2030"], "expires:"),
        (["--expires", "2000-01-01"], "expires at: The expiry must be in the future."),
        (["--allow-net", "300.1.1.1"], "allowed networks:"),
    ],
)
def test_the_command_refuses_bad_input_in_one_line(world: World, args, message) -> None:
    args = [world.other_domain.name if a == "other" else a for a in args]
    if "--organization" not in args:
        args = ["--organization", world.acme.name, *args]
    with pytest.raises(CommandError) as excinfo:
        _run("create", *args)
    assert message in str(excinfo.value) and "\n" not in str(excinfo.value)
    assert not ApiKey.objects.exists()


def test_the_command_refuses_to_revoke_what_is_not_there(world: World) -> None:
    with pytest.raises(CommandError, match="no API key"):
        _run("revoke", "999999")
    new = _org_key(world)
    _run("revoke", str(new.key.pk))
    with pytest.raises(CommandError, match="already revoked"):
        _run("revoke", str(new.key.pk))


# --- the organization's pages ---------------------------------------------------------------
def _pages(world: World) -> dict[str, str]:
    org = world.acme.pk
    return {
        "list": reverse("api_keys_organization", args=[org]),
        "new": reverse("api_key_create", args=[org]),
    }


def test_an_admin_creates_a_key_and_sees_it_once(world: World) -> None:
    client, pages = world.client("alice"), _pages(world)
    assert client.get(pages["new"]).status_code == 200
    response = client.post(
        pages["new"],
        {"name": "billing", "domains": [world.acme_domain.pk], "read_only": "on",
         "allowed_networks": "10.0.0.0/8"},
    )  # fmt: skip
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    text = response.context["new_key"].text
    assert text in response.content.decode()
    key = ApiKey.objects.get()
    assert (key.name, key.read_only, key.allowed_networks) == ("billing", True, ["10.0.0.0/8"])
    assert key.created_by == world.users["alice"]
    listing = client.get(pages["list"]).content.decode()
    assert "billing" in listing and f"tm_{key.prefix}_" in listing
    assert parse_key(text).secret not in listing


def test_the_create_form_shows_errors_by_field(world: World) -> None:
    response = world.client("alice").post(
        _pages(world)["new"], {"name": "x", "allowed_networks": "nonsense"}
    )
    assert response.status_code == 200
    assert "allowed_networks" in response.context["form"].errors
    assert not ApiKey.objects.exists()


def test_creating_a_key_needs_a_fresh_login(world: World, clock) -> None:
    client = world.client("alice")
    clock.advance(minutes=30)
    response = client.post(_pages(world)["new"], {"name": "late"})
    assert response.status_code == 302 and response["Location"] == reverse("reauth")
    assert not ApiKey.objects.exists()


def test_an_admin_revokes_a_key(world: World) -> None:
    new = _org_key(world)
    url = reverse("api_key_revoke", args=[world.acme.pk, new.key.pk])
    assert world.client("alice").get(url).status_code == 405
    response = world.client("alice").post(url)
    assert response.status_code == 302
    assert ApiKey.objects.get().revoked_at is not None
    assert _client(new.text).get(LIST).status_code == 401


def test_a_read_only_member_sees_the_list_but_changes_nothing(world: World) -> None:
    new = _org_key(world)
    bob, pages = world.client("bob"), _pages(world)
    listing = bob.get(pages["list"])
    assert listing.status_code == 200 and "crm" in listing.content.decode()
    assert "Revoke" not in listing.content.decode()
    assert bob.get(pages["new"]).status_code == 403
    assert bob.post(pages["new"], {"name": "sneaky"}).status_code == 403
    revoke = reverse("api_key_revoke", args=[world.acme.pk, new.key.pk])
    assert bob.post(revoke).status_code == 403
    assert ApiKey.objects.get().revoked_at is None and ApiKey.objects.count() == 1


def test_another_tenant_gets_404(world: World) -> None:
    new = _org_key(world)
    charlie, pages = world.client("charlie"), _pages(world)
    assert charlie.get(pages["list"]).status_code == 404
    assert charlie.get(pages["new"]).status_code == 404
    assert charlie.post(pages["new"], {"name": "x"}).status_code == 404
    revoke = reverse("api_key_revoke", args=[world.acme.pk, new.key.pk])
    assert charlie.post(revoke).status_code == 404
    # Their own organization's URL with tenant A's key id: 404 as well.
    own = reverse("api_key_revoke", args=[world.other.pk, new.key.pk])
    assert charlie.post(own).status_code == 404
    assert ApiKey.objects.get().revoked_at is None


def test_anonymous_is_sent_to_login(world: World) -> None:
    response = Client().get(_pages(world)["list"])
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


# --- the owner's page -----------------------------------------------------------------------
def test_an_owner_without_api_access_is_told_so(world: World) -> None:
    client = Client()
    client.force_login(owner_of(world.acme_mailbox))
    page = client.get(reverse("api_keys_owner"))
    assert page.status_code == 200 and "API access is not enabled" in page.content.decode()
    assert client.post(reverse("api_keys_owner"), {"name": "mine"}).status_code == 200
    assert not ApiKey.objects.exists()


def test_an_owner_creates_uses_and_revokes_a_personal_key(world: World) -> None:
    mailbox = mailbox_update(actor=ACTOR, mailbox=world.acme_mailbox, changes={"api_access": True})
    client = Client()
    client.force_login(owner_of(mailbox))
    response = client.post(reverse("api_keys_owner"), {"name": "my script"})
    assert response.status_code == 200
    text = response.context["new_key"].text
    key = ApiKey.objects.get()
    assert key.mailbox == mailbox and key.organization == world.acme
    assert _client(text).get(LIST).status_code == 200
    assert f"tm_{key.prefix}_" in client.get(reverse("api_keys_owner")).content.decode()
    revoke = reverse("api_key_revoke_owner", args=[key.pk])
    assert client.post(revoke).status_code == 302
    assert _client(text).get(LIST).status_code == 401


def test_an_owner_cannot_revoke_someone_elses_key(world: World) -> None:
    new = _org_key(world)
    other = mailbox_update(actor=ACTOR, mailbox=world.other_mailbox, changes={"api_access": True})
    personal = api_key_create_personal(actor=ACTOR, mailbox=other, name="theirs")
    client = Client()
    client.force_login(owner_of(world.acme_mailbox))
    for key in (new.key, personal.key):
        assert client.post(reverse("api_key_revoke_owner", args=[key.pk])).status_code == 404
    assert not ApiKey.objects.filter(revoked_at__isnull=False).exists()
    assert world.client("alice").get(reverse("api_keys_owner")).status_code == 404
