"""Corporate signatures: a domain admin's templates rendered into the chosen accounts'
signatures, placeholders escaped, locked copies the owner can use but not change, and the
pages scoped like every tenant page (charlie 404, bob 403 on writes)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from mailboxes.services import mailbox_create, mailbox_update
from security.models import AuditEvent
from tests.personas import ACTOR, PASSWORD, World, build_world, owner_of
from tests.test_url_walk import ROUTES
from webmail_settings.corporate import render
from webmail_settings.corporate_services import (
    contact_details_update,
    signature_template_create,
    signature_template_update,
)
from webmail_settings.models import Identity, Signature, SignatureTemplate
from webmail_settings.services import identity_delete, signature_delete, signature_update

HTML = (
    "<p><b>{first_name} {last_name}</b><br>{title}, {department}<br>{phone}<br>{address}<br>"
    '<a href="mailto:{email}">{email}</a></p>'
)
API = "/api/webmail/v1/me"


@pytest.fixture
def world(db, domain_name: str) -> World:
    world = build_world(domain_name.split(".")[0])
    mailbox_update(
        actor=ACTOR, mailbox=world.acme_mailbox,
        changes={"first_name": "Jane", "last_name": "Doe"},
    )  # fmt: skip
    return world


def _colleague(world: World, local_part: str = "boss"):
    return mailbox_create(
        actor=ACTOR, domain=world.acme_domain, local_part=local_part, password=PASSWORD,
        quota_bytes=1024**3,
    )  # fmt: skip


def _template(world: World, **options) -> SignatureTemplate:
    return signature_template_create(
        actor=ACTOR, domain=world.acme_domain, name="Corporate", html=HTML, **options
    )


def _corporate(mailbox) -> Signature:
    return Signature.objects.get(identity__mailbox=mailbox, template__isnull=False)


# --- rendering ---------------------------------------------------------------------------------
def test_placeholders_are_filled_from_the_account_and_its_contact_details(world: World) -> None:
    contact_details_update(
        actor=ACTOR, mailbox=world.acme_mailbox,
        changes={"title": "CEO", "department": "Board", "phone": "+1 555 0100",
                 "address": "1 Main St\nSpringfield"},
    )  # fmt: skip
    _template(world)
    signature = _corporate(world.acme_mailbox)
    address = world.acme_mailbox.address
    assert signature.html == (
        "<p><b>Jane Doe</b><br>CEO, Board<br>+1 555 0100<br>1 Main St<br>Springfield<br>"
        f'<a href="mailto:{address}" rel="noopener noreferrer">{address}</a></p>'
    )
    assert "Jane Doe\nCEO, Board" in signature.text and address in signature.text
    # On the account's own-address identity, made for it, and its default signature.
    assert signature.identity.address == address and signature.is_default
    assert signature.locked


def test_hostile_values_are_escaped_not_injected() -> None:
    values = dict.fromkeys(
        ["first_name", "last_name", "title", "department", "phone", "address", "email"], ""
    )
    values["first_name"] = '<script>alert(1)</script><img src=x onerror="steal()">'
    values["email"] = 'x@y.test" onmouseover="steal()'
    rendered = render('<p>{first_name}</p><a href="mailto:{email}">mail</a>', "", values)
    assert "<script" not in rendered.html and "<img" not in rendered.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in rendered.html
    assert 'onmouseover="' not in rendered.html  # the quote stayed inside the attribute


def test_hostile_template_html_is_neutralised_on_save(world: World) -> None:
    template = signature_template_create(
        actor=ACTOR, domain=world.acme_domain, name="Evil",
        html='<p onclick="x()">{first_name}<script>alert(1)</script>'
        '<a href="javascript:alert(1)">a</a><span style="width: expression(alert(1))">s</span></p>',
    )  # fmt: skip
    for html in (template.html, _corporate(world.acme_mailbox).html):
        lowered = html.lower()
        for forbidden in ("onclick", "<script", "javascript", "expression", "style"):
            assert forbidden not in lowered


def test_unknown_placeholder_is_refused_and_nothing_is_saved(world: World) -> None:
    with pytest.raises(ValidationError) as caught:
        signature_template_create(
            actor=ACTOR, domain=world.acme_domain, name="Typo", html="<p>{firstname}</p>"
        )
    assert "{firstname}" in str(caught.value)
    assert not SignatureTemplate.objects.exists() and not Signature.objects.exists()


# --- which accounts -------------------------------------------------------------------------
def test_only_chosen_accounts_get_it_and_removing_one_removes_its_signature(world: World) -> None:
    boss, other = _colleague(world), _colleague(world, "sales")
    template = _template(world, all_accounts=False, accounts=[world.acme_mailbox, boss])
    assert Signature.objects.filter(template=template).count() == 2
    assert not Signature.objects.filter(identity__mailbox=other).exists()
    assert not Signature.objects.filter(identity__mailbox=world.other_mailbox).exists()

    signature_template_update(
        actor=ACTOR, template=template, name="Corporate", html=HTML, all_accounts=False,
        accounts=[boss, other],
    )  # fmt: skip
    assert not Signature.objects.filter(identity__mailbox=world.acme_mailbox).exists()
    assert {s.identity.mailbox_id for s in Signature.objects.filter(template=template)} == {
        boss.pk, other.pk
    }  # fmt: skip
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"signature_template.update", "signature.corporate_remove",
            "signature.corporate_add"} <= actions  # fmt: skip


def test_all_accounts_covers_the_domain_but_not_the_other_domains(world: World) -> None:
    boss = _colleague(world)
    _template(world)
    assert _corporate(boss) and _corporate(world.acme_mailbox)
    assert not Signature.objects.filter(identity__mailbox__domain=world.acme_second).exists()


def test_accounts_of_another_domain_cannot_be_chosen(world: World) -> None:
    with pytest.raises(ValidationError):
        _template(world, all_accounts=False, accounts=[world.other_mailbox])
    assert not SignatureTemplate.objects.exists()


def test_a_template_change_re_renders_every_account(world: World) -> None:
    boss = _colleague(world)
    template = _template(world)
    existing_identity = Identity.objects.get(mailbox=boss)
    signature_template_update(
        actor=ACTOR, template=template, name="New look", html="<p>Regards, {first_name}</p>"
    )
    for mailbox in (world.acme_mailbox, boss):
        signature = _corporate(mailbox)
        assert signature.name == "New look" and signature.html.startswith("<p>Regards, ")
    assert _corporate(world.acme_mailbox).html == "<p>Regards, Jane</p>"
    assert Identity.objects.get(mailbox=boss) == existing_identity  # reused, not duplicated


def test_contact_details_change_re_renders_the_accounts_signature(world: World) -> None:
    _template(world)
    contact_details_update(actor=ACTOR, mailbox=world.acme_mailbox, changes={"title": "<CTO>"})
    assert "&lt;CTO&gt;" in _corporate(world.acme_mailbox).html


# --- locked or editable, for owners ------------------------------------------------------------
def test_a_locked_signature_cannot_be_changed_or_deleted_by_the_service(world: World) -> None:
    _template(world)
    signature = _corporate(world.acme_mailbox)
    with pytest.raises(ValidationError, match="administrator manages"):
        signature_update(actor=ACTOR, signature=signature, name="Mine", html="<p>mine</p>")
    with pytest.raises(ValidationError, match="administrator manages"):
        signature_delete(actor=ACTOR, signature=signature)
    with pytest.raises(ValidationError, match="administrator manages"):
        identity_delete(actor=ACTOR, identity=signature.identity)
    signature.refresh_from_db()
    assert signature.name == "Corporate"


def test_owner_pages_refuse_a_locked_signature_with_a_message(world: World) -> None:
    _template(world)
    signature = _corporate(world.acme_mailbox)
    owner = Client()
    owner.force_login(owner_of(world.acme_mailbox))
    base = f"/me/identities/{signature.identity_id}/signatures/{signature.pk}/"
    page = owner.post(base, {"name": "Mine", "html": "<p>mine</p>", "save": "1"})
    assert page.status_code == 200 and "administrator manages" in page.content.decode()
    deleted = owner.post(base + "delete/", follow=True)
    assert "administrator manages" in deleted.content.decode()
    assert Signature.objects.filter(pk=signature.pk, name="Corporate").exists()
    corporate = next(
        s for i in owner.get(API).json()["identities"] for s in i["signatures"] if s["corporate"]
    )
    assert corporate["locked"] is True and corporate["name"] == "Corporate"


def test_an_editable_copy_is_the_owners_until_the_template_changes(world: World) -> None:
    template = _template(world, owners_may_edit=True)
    signature = _corporate(world.acme_mailbox)
    assert not signature.locked
    signature_update(actor=ACTOR, signature=signature, name="Mine", html="<p>mine</p>")
    assert _corporate(world.acme_mailbox).html == "<p>mine</p>"
    signature_template_update(
        actor=ACTOR, template=template, name="Corporate", html=HTML, owners_may_edit=False
    )
    signature = _corporate(world.acme_mailbox)
    assert signature.name == "Corporate" and signature.locked


# --- the pages ---------------------------------------------------------------------------------
def _form(**values) -> dict[str, str]:
    return {"name": "Corporate", "html": HTML, "text": "", "all_accounts": "1",
            "owners_may_edit": "0", "save": "1", **values}  # fmt: skip


def test_admin_creates_previews_and_edits_a_template(world: World) -> None:
    alice = world.client("alice")
    base = f"/domains/{world.acme_domain.pk}/signatures/"
    preview = alice.post(base + "new/", _form(preview="1", save=""))
    assert preview.status_code == 200 and "<b>Jane Doe</b>" in preview.content.decode()
    assert not SignatureTemplate.objects.exists()
    assert alice.post(base + "new/", _form()).status_code == 302
    template = SignatureTemplate.objects.get()
    listing = alice.get(base)
    assert "Corporate" in listing.content.decode() and "Signatures" in listing.content.decode()
    edited = alice.post(f"{base}{template.pk}/", _form(html="<p>{last_name}</p>"))
    assert edited.status_code == 302
    assert _corporate(world.acme_mailbox).html == "<p>Doe</p>"
    assert alice.post(f"{base}{template.pk}/delete/").status_code == 302
    assert not Signature.objects.filter(template__isnull=False).exists()


def test_another_tenant_gets_404_and_read_only_gets_403(world: World) -> None:
    template = _template(world)
    base = f"/domains/{world.acme_domain.pk}/signatures/"
    charlie, bob = world.client("charlie"), world.client("bob")
    for url in (base, base + "new/", f"{base}{template.pk}/"):
        assert charlie.get(url).status_code == 404
    assert charlie.post(f"{base}{template.pk}/delete/").status_code == 404
    assert bob.get(f"{base}{template.pk}/").status_code == 200
    assert bob.post(f"{base}{template.pk}/", _form(name="Bob's")).status_code == 403
    assert bob.post(f"{base}{template.pk}/delete/").status_code == 403
    assert bob.get(base + "new/").status_code == 403
    contact = f"/accounts/{world.acme_mailbox.pk}/contact/"
    assert charlie.get(contact).status_code == 404
    assert bob.post(contact, {"title": "x"}).status_code == 403
    assert SignatureTemplate.objects.get().name == "Corporate"


def test_owner_edits_their_contact_details_in_the_portal(world: World) -> None:
    _template(world)
    owner = Client()
    owner.force_login(owner_of(world.acme_mailbox))
    response = owner.post("/me/contact/", {"title": "Chief <b>", "department": "Sales"})
    assert response.status_code == 302
    assert "Chief &lt;b&gt;, Sales" in _corporate(world.acme_mailbox).html


def test_the_url_walk_classifies_the_new_pages() -> None:
    assert ROUTES["signature_template_list"] == "tenant_read"
    assert ROUTES["signature_template_create"] == "tenant_write"
    assert ROUTES["signature_template_edit"] == "tenant_form"
    assert ROUTES["signature_template_delete"] == "tenant_action"
    assert ROUTES["mailbox_contact_details"] == "tenant_form"
    assert ROUTES["owner_contact_details"] == "owner_form"


def test_the_openapi_document_describes_the_corporate_flags(client: Client) -> None:
    schema = client.get("/api/webmail/v1/openapi.json").json()["components"]["schemas"]
    assert {"corporate", "locked"} <= set(schema["Signature"]["required"])


# --- accounts that come and change later -------------------------------------------------------
def test_an_account_created_later_gets_the_every_account_template(world: World) -> None:
    _template(world)  # all accounts of the domain
    newcomer = _colleague(world, "newcomer")
    assert "mailto:newcomer@" in _corporate(newcomer).html


def test_renaming_an_account_fills_its_corporate_signature_again(world: World) -> None:
    _template(world)
    mailbox_update(actor=ACTOR, mailbox=world.acme_mailbox, changes={"last_name": "Smith"})
    assert "<b>Jane Smith</b>" in _corporate(world.acme_mailbox).html
