"""The request guard (tempusmail/request_guard.py): what it refuses, what it lets through, the
API's errors as JSON, and the request id beside a traceback. The walk of every URL with hostile
values is tests/test_hostile_input.py."""

from __future__ import annotations

import logging

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from api.services import api_key_create
from security.models import AuditEvent, LoginAttempt
from tests.personas import ACTOR, World, build_world, owner_of

FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def world(db, domain_name: str, settings) -> World:
    settings.API_RATE_LIMIT_PER_MINUTE = 0
    return build_world(domain_name.split(".")[0])


def _client(world: World, person: str | None = None) -> Client:
    client = Client(raise_request_exception=False)
    if person == "owner":
        client.force_login(owner_of(world.acme_mailbox))
    elif person is not None:
        client.force_login(world.users[person])
    return client


def _api(world: World) -> Client:
    text = api_key_create(actor=ACTOR, organization=world.acme, name="guard").text
    return Client(raise_request_exception=False, HTTP_AUTHORIZATION=f"Bearer {text}")


# --- The five requests of issue 26 (500 on PostgreSQL before the guard) --------------------------
def test_a_nul_in_the_login_form_is_refused_before_the_throttle_writes(world: World) -> None:
    attempts, events = LoginAttempt.objects.count(), AuditEvent.objects.count()
    response = _client(world).post("/login/", "username=a%00&password=x", content_type=FORM)
    assert response.status_code == 400
    page = response.content.decode()
    assert "The field “username” contains a NUL character (0x00)" in page
    assert "Nothing was saved" in page
    assert (LoginAttempt.objects.count(), AuditEvent.objects.count()) == (attempts, events)


@pytest.mark.parametrize(
    ("person", "url"),
    [
        ("owner", "/me/address-book/?q=a%00"),
        ("alice", "/organizations/{organization}/address-book/?q=a%00"),
        ("alice", "/domains/{domain}/?q=a%00"),
    ],
)
def test_a_nul_in_a_search_box_is_refused(world: World, person: str, url: str) -> None:
    url = url.format(organization=world.acme.pk, domain=world.acme_domain.pk)
    response = _client(world, person).get(url)
    assert response.status_code == 400
    assert "The parameter “q” contains a NUL character (0x00)" in response.content.decode()


def test_a_nul_in_the_api_search_is_a_json_field_error(world: World) -> None:
    url = f"/api/v1/domains/{world.acme_domain.name}/accounts?q=a%00"
    response = _api(world).get(url)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation"
    assert error["fields"] == {"q": ["The parameter “q” contains a NUL character (0x00), "
                                     "which cannot be stored."]}  # fmt: skip


# --- Everywhere else ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "content_type", "problem"),
    [
        ("first_name=a%FFb", FORM, "bytes that are not valid UTF-8"),
        ('{"first_name": "a\\ud800"}', "application/json", "a lone surrogate (U+D800)"),
        ('{"first_name": "a\\u0000"}', "application/json", "a NUL character (0x00)"),
        (b'{"first_name": "a\xffb"}', "application/json", "bytes that are not valid UTF-8"),
    ],
)
def test_bodies_are_checked_as_sent(world: World, body, content_type: str, problem: str) -> None:
    url = f"/api/v1/domains/{world.acme_domain.name}/accounts/info"
    response = _api(world).generic("PATCH", url, body, content_type)
    assert response.status_code == 400
    assert problem in response.json()["error"]["message"]


def test_a_nul_in_a_multipart_field_is_refused(world: World) -> None:
    upload = SimpleUploadedFile("accounts.csv", b"address\n", content_type="text/csv")
    url = f"/domains/{world.acme_domain.pk}/import/"
    response = _client(world, "alice").post(url, {"note": "a\x00b", "file": upload})
    assert response.status_code == 400
    assert "The field “note” contains a NUL character" in response.content.decode()


def test_a_path_part_is_checked(world: World) -> None:
    api = _api(world)
    for part in ("a%00b", "a%FFb", "a%ED%A0%80b", "a%0Ab"):
        response = api.get(f"/api/v1/domains/{part}")
        assert response.status_code == 400, part
        assert response.json()["error"]["code"] == "bad_request"


@pytest.mark.parametrize(
    "header",
    ["HTTP_X_FORWARDED_FOR", "HTTP_HOST", "HTTP_AUTHORIZATION", "HTTP_HX_REQUEST",
     "HTTP_HX_CURRENT_URL", "HTTP_COOKIE", "HTTP_X_REQUEST_ID", "HTTP_USER_AGENT"],
)  # fmt: skip
@pytest.mark.parametrize("value", ["a\x00b", "a\x1bb", "a\r\nb"])
def test_control_characters_in_headers_are_refused(world: World, settings, header, value) -> None:
    settings.TRUSTED_PROXIES = ["127.0.0.0/8"]  # X-Forwarded-For is read
    for url in ("/login/", f"/domains/{world.acme_domain.pk}/", "/api/v1/domains"):
        response = _client(world, "alice").get(url, **{header: value})
        assert response.status_code == 400, (url, header)


@pytest.mark.parametrize(
    ("header", "value"),
    [("HTTP_X_FORWARDED_FOR", "not-an-ip, ::zz"), ("HTTP_HOST", "evil.example"),
     ("HTTP_AUTHORIZATION", "Bearer tm_zz_" + "x" * 5000), ("HTTP_HX_REQUEST", "maybe"),
     ("HTTP_X_FORWARDED_FOR", "\u00e9\u00e9"), ("HTTP_COOKIE", "sessionid=" + "z" * 4000)],
)  # fmt: skip
def test_garbage_in_headers_is_never_a_500(world: World, settings, header, value) -> None:
    settings.TRUSTED_PROXIES = ["127.0.0.0/8"]
    for url in ("/login/", f"/domains/{world.acme_domain.pk}/", "/api/v1/domains"):
        response = _client(world, "alice").get(url, **{header: value})
        assert response.status_code < 500, (url, header)
        if url.startswith("/api/") and response.status_code >= 400:
            assert response["Content-Type"] == "application/json"


def test_what_the_guard_lets_through(world: World) -> None:
    alice = _client(world, "alice")
    # Non-ASCII text, and newlines and tabs in a form body (a textarea), are fine.
    assert alice.get(f"/domains/{world.acme_domain.pk}/?q=Z%C3%BCrich").status_code == 200
    url = f"/accounts/{world.acme_mailbox.pk}/autoresponder/"
    response = alice.post(url, "subject=Away&body=Line+1%0D%0A%09Line+2", content_type=FORM)
    assert response.status_code != 400


# --- The API's errors are JSON, a 500 included ----------------------------------------------------
def test_the_api_s_other_errors_are_json(world: World) -> None:
    client = Client()
    missing = client.get("/api/v1/no-such-thing")
    assert missing.status_code == 404
    assert missing.json() == {"error": {"code": "not_found", "message": "Not found."}}
    refused = client.post("/api/v1/openapi.json")
    assert refused.status_code == 405 and refused["Allow"] == "GET"
    assert refused.json()["error"]["code"] == "method_not_allowed"
    webmail = client.get("/api/webmail/v1/me?address=a%00")
    assert webmail.status_code == 400 and "NUL" in webmail.json()["error"]


def test_an_unexpected_error_is_json_with_the_id_of_its_logged_traceback(
    world: World, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(domain):
        raise RuntimeError("a bug")

    monkeypatch.setattr("api.views._domain", broken)  # the list's serialiser
    with caplog.at_level(logging.ERROR, logger="django.request"):
        response = _api(world).get("/api/v1/domains")
    assert response.status_code == 500
    error = response.json()["error"]
    request_id = response["X-Request-ID"]
    assert error["code"] == "server_error" and error["request_id"] == request_id
    assert request_id in error["message"]
    [record] = [r for r in caplog.records if r.name == "django.request"]
    assert request_id in record.getMessage() and record.exc_info[0] is RuntimeError


def test_a_page_s_500_shows_the_request_id(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr("organizations.views.organizations_for", broken)
    response = _client(world, "alice").get("/organizations/")
    assert response.status_code == 500
    assert response["X-Request-ID"] in response.content.decode()
