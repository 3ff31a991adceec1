"""Owner identities and signatures: the sanitiser, the owner pages (scoped to the owner's own
mailbox) and the webmail integration endpoint GET /api/webmail/v1/me."""

from __future__ import annotations

import pytest
from django.test import Client

from security.models import AuditEvent
from tests.personas import ACTOR, PASSWORD, World, build_world, owner_of
from webmail_settings.models import Identity, Signature
from webmail_settings.sanitize import html_to_text, sanitize_html
from webmail_settings.services import identity_create, signature_create

API = "/api/webmail/v1/me"
KEY = "test-webmail-service-key-0123456789"


@pytest.fixture
def world(db, domain_name: str) -> World:
    return build_world(domain_name.split(".")[0])


def _owner_client(mailbox) -> Client:
    client = Client()
    client.force_login(owner_of(mailbox))
    return client


def _identity_with_signature(mailbox) -> tuple[Identity, Signature]:
    identity = identity_create(
        actor=ACTOR, mailbox=mailbox, display_name="Info Desk", address=mailbox.address
    )
    signature = signature_create(
        actor=ACTOR, identity=identity, name="Work", html="<p>Info <b>Desk</b></p>",
        is_default=True,
    )  # fmt: skip
    return identity, signature


# --- the sanitiser -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("dirty", "forbidden"),
    [
        ("<p>Hi<script>alert(1)</script></p>", ["<script", "alert"]),
        ('<img src="https://x.test/a.png" onerror="alert(1)">', ["onerror", "alert"]),
        ('<p onclick="steal()" onmouseover="x()">Hi</p>', ["onclick", "onmouseover", "steal"]),
        ('<a href="javascript:alert(1)">x</a>', ["javascript", "alert"]),
        ('<a href=" JaVaScRiPt:alert(1)">x</a>', ["javascript", "alert"]),
        ('<a href="data:text/html,<script>alert(1)</script>">x</a>', ["data:", "alert"]),
        ('<img src="data:image/svg+xml;base64,PHN2Zz4=">', ["svg"]),
        ('<div style="width: expression(alert(1))">s</div>', ["style", "expression"]),
        ("<style>p { background: url(javascript:x) }</style><p>s</p>", ["<style", "javascript"]),
        ('<iframe src="https://evil.test"></iframe><form action="/x"><input></form>',
         ["iframe", "form", "input"]),
        ("<p>a<!-- <script>x</script> -->b</p>", ["<!--", "script"]),
    ],
)  # fmt: skip
def test_sanitiser_neutralises_active_content(dirty: str, forbidden: list[str]) -> None:
    clean = sanitize_html(dirty).lower()
    for text in forbidden:
        assert text.lower() not in clean, f"{dirty!r} kept {text!r}: {clean!r}"


def test_sanitiser_keeps_the_allowed_set() -> None:
    html = (
        "<p>Jane <b>Doe</b><br><i>CEO</i> <u>Acme</u></p><div><span>x</span></div>"
        '<a href="https://acme.test">web</a> <a href="mailto:jane@acme.test">mail</a>'
        '<img src="https://acme.test/logo.png" alt="Acme"><img src="data:image/png;base64,iVBO">'
        '<table><tbody><tr><td colspan="2">cell</td></tr></tbody></table>'
    )
    clean = sanitize_html(html)
    for kept in ["<b>Doe</b>", "<br>", "<i>CEO</i>", "<u>Acme</u>", "<span>x</span>",
                 'href="https://acme.test"', 'href="mailto:jane@acme.test"',
                 'src="https://acme.test/logo.png"', 'src="data:image/png;base64,iVBO"',
                 '<td colspan="2">cell</td>']:  # fmt: skip
        assert kept in clean


def test_plain_text_is_derived_from_the_html() -> None:
    html = '<p>Jane <b>Doe</b><br>CEO</p><p><a href="https://acme.test">Acme</a></p>'
    assert html_to_text(html) == "Jane Doe\nCEO\n\nAcme <https://acme.test>"


def test_service_stores_sanitised_html_and_derives_text(world: World) -> None:
    mailbox = world.acme_mailbox
    identity = identity_create(
        actor=ACTOR, mailbox=mailbox, display_name="I", address=mailbox.address
    )
    signature = signature_create(
        actor=ACTOR, identity=identity, name="S",
        html='<p onclick="x()">Hi <a href="javascript:alert(1)">there</a></p><script>1</script>',
    )  # fmt: skip
    signature.refresh_from_db()
    assert "onclick" not in signature.html and "javascript" not in signature.html
    assert "script" not in signature.html
    assert signature.text == "Hi there"
    assert AuditEvent.objects.filter(action="signature.create", mailbox=mailbox).exists()


def test_one_default_signature_per_identity(world: World) -> None:
    identity, first = _identity_with_signature(world.acme_mailbox)
    second = signature_create(
        actor=ACTOR, identity=identity, name="Short", text="I.", is_default=True
    )
    first.refresh_from_db()
    assert second.is_default and not first.is_default


def test_identity_address_must_be_the_owners(world: World) -> None:
    client = _owner_client(world.acme_mailbox)
    response = client.post(
        "/me/identities/new/", {"display_name": "X", "address": world.other_mailbox.address}
    )
    assert response.status_code == 200 and "field-error" in response.content.decode()
    assert not Identity.objects.exists()


# --- the owner pages ----------------------------------------------------------------------
def test_owner_creates_identity_and_signature_with_preview(world: World) -> None:
    mailbox = world.acme_mailbox
    client = _owner_client(mailbox)
    response = client.post(
        "/me/identities/new/", {"display_name": "Info", "address": mailbox.address}
    )
    identity = Identity.objects.get(mailbox=mailbox)
    assert response["Location"] == f"/me/identities/{identity.pk}/"

    url = f"/me/identities/{identity.pk}/signatures/new/"
    form = {"name": "Work", "html": '<p>Hi<img src=x onerror="alert(1)"></p>', "text": "",
            "is_default": "on", "preview": "1"}  # fmt: skip
    preview = client.post(url, form)
    page = preview.content.decode()
    assert preview.status_code == 200 and "Preview (not saved yet)" in page
    assert "<p>Hi<img></p>" in page and 'onerror="alert' not in page.split("<textarea")[0]
    assert not Signature.objects.exists()  # a preview saves nothing

    del form["preview"]
    assert client.post(url, form).status_code == 302
    signature = Signature.objects.get(identity=identity)
    assert signature.html == "<p>Hi<img></p>" and signature.is_default
    listing = client.get("/me/identities/").content.decode()
    assert "Work" in listing and "Default" in listing


def test_another_owners_identity_is_404(world: World) -> None:
    identity, signature = _identity_with_signature(world.other_mailbox)
    client = _owner_client(world.acme_mailbox)
    base = f"/me/identities/{identity.pk}/"
    sig = f"{base}signatures/{signature.pk}/"
    for url in [base, f"{base}signatures/new/", sig]:
        assert client.get(url).status_code == 404, url
    for url in [base, f"{base}delete/", f"{sig}delete/", f"{sig}default/", sig]:
        assert client.post(url, {"display_name": "x", "name": "x", "html": "x"}).status_code == 404
    assert Identity.objects.filter(pk=identity.pk).exists()
    assert Signature.objects.get(pk=signature.pk).name == "Work"
    assert "Info Desk" not in client.get("/me/identities/").content.decode()


def test_admins_get_404_on_owner_pages(world: World) -> None:
    identity, signature = _identity_with_signature(world.acme_mailbox)
    for person in ["alice", "staff"]:
        client = world.client(person)
        for url in ["/me/identities/", "/me/identities/new/", f"/me/identities/{identity.pk}/",
                    f"/me/identities/{identity.pk}/signatures/{signature.pk}/"]:  # fmt: skip
            assert client.get(url).status_code == 404, (person, url)


def test_owner_deletes_identity(world: World) -> None:
    identity, _ = _identity_with_signature(world.acme_mailbox)
    client = _owner_client(world.acme_mailbox)
    assert client.get(f"/me/identities/{identity.pk}/delete/").status_code == 405
    assert client.post(f"/me/identities/{identity.pk}/delete/").status_code == 302
    assert not Identity.objects.exists() and not Signature.objects.exists()


# --- the webmail endpoint -------------------------------------------------------------------
def test_endpoint_with_the_owners_session(world: World) -> None:
    _identity_with_signature(world.acme_mailbox)
    response = _owner_client(world.acme_mailbox).get(API)
    assert response.status_code == 200 and response["Cache-Control"].startswith("max-age=0")
    data = response.json()
    assert data["address"] == world.acme_mailbox.address
    [identity] = data["identities"]
    assert identity["name"] == "Info Desk" and identity["email"] == world.acme_mailbox.address
    [signature] = identity["signatures"]
    assert signature["html"] == "<p>Info <b>Desk</b></p>" and signature["text"] == "Info Desk"
    assert signature["default"] is True and signature["bcc_sender"] is False
    assert data["preferences"] == {
        "language": "en", "time_zone": "UTC", "date_format": "Y-m-d", "time_format": "H:i"
    }  # fmt: skip
    assert data["autoresponder"]["enabled"] is False


def test_endpoint_with_the_service_key(world: World, settings) -> None:
    settings.WEBMAIL_SERVICE_KEY = KEY
    _identity_with_signature(world.other_mailbox)
    response = Client().get(
        API, {"address": world.other_mailbox.address}, HTTP_AUTHORIZATION=f"Bearer {KEY}"
    )
    assert response.status_code == 200
    assert response.json()["identities"][0]["signatures"][0]["default"] is True
    unknown = Client().get(
        API, {"address": f"nobody@{world.acme_domain.name}"}, HTTP_AUTHORIZATION=f"Bearer {KEY}"
    )
    assert unknown.status_code == 404


@pytest.mark.parametrize(
    ("configured", "header"),
    [
        (KEY, None),
        (KEY, f"Bearer {KEY}x"),
        (KEY, "Bearer wrong"),
        (KEY, f"Basic {KEY}"),
        ("", "Bearer "),
        ("", "Bearer anything"),
    ],
)
def test_endpoint_401_without_session_or_valid_key(
    world: World, settings, configured: str, header: str | None
) -> None:
    settings.WEBMAIL_SERVICE_KEY = configured
    extra = {"HTTP_AUTHORIZATION": header} if header is not None else {}
    response = Client().get(API, {"address": world.acme_mailbox.address}, **extra)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert world.acme_mailbox.address not in response.content.decode()


def test_endpoint_404_for_an_admins_session(world: World) -> None:
    assert world.client("alice").get(API).status_code == 404


def test_openapi_document_lists_the_endpoint() -> None:
    response = Client().get("/api/webmail/v1/openapi.json")
    document = response.json()
    assert document["openapi"].startswith("3.")
    operation = document["paths"]["/me"]["get"]
    assert document["servers"][0]["url"] + "/me" == API
    assert set(operation["responses"]) == {"200", "401", "404"}
    assert "serviceKey" in document["components"]["securitySchemes"]
    assert PASSWORD not in response.content.decode()


def test_the_domains_date_and_time_formats_are_the_accounts_until_it_chooses(
    world: World,
) -> None:
    from domains.services import domain_update_settings
    from webmail_settings.services import preferences_update

    domain_update_settings(
        actor=ACTOR, domain=world.acme_domain,
        changes={"default_date_format": "d.m.Y", "default_time_format": "h:i A"},
    )  # fmt: skip
    client = _owner_client(world.acme_mailbox)
    assert client.get("/api/webmail/v1/me").json()["preferences"]["date_format"] == "d.m.Y"
    # Saving another setting keeps the domain's formats the account had.
    preferences_update(actor=ACTOR, mailbox=world.acme_mailbox, changes={"language": "de"})
    preferences_update(
        actor=ACTOR, mailbox=world.acme_mailbox, changes={"address_book_visible": False}
    )
    prefs = client.get("/api/webmail/v1/me").json()["preferences"]
    assert (prefs["date_format"], prefs["time_format"]) == ("d.m.Y", "h:i A")
