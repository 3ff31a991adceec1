"""A domain admin makes a corporate signature in Chromium, previews it with an account's
details, saves it for every account, and the owner sees it locked in their portal."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from domains.services import domain_create
from mailboxes.services import mailbox_create
from organizations.models import Membership, Role
from organizations.services import organization_create
from security.audit import Actor
from webmail_settings.corporate_services import contact_details_update
from webmail_settings.models import Signature

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ACTOR = Actor(label="test")
PASSWORD = "admin-password-1"
HTML = "<p><b>{first_name} {last_name}</b><br>{title}<br>{address}</p>"


def test_admin_creates_a_corporate_signature(live_server, page, domain_name) -> None:
    org = organization_create(actor=ACTOR, name=f"Corporate {domain_name}")
    domain = domain_create(actor=ACTOR, name=domain_name, organization=org)
    mara = mailbox_create(
        actor=ACTOR, domain=domain, local_part="mara", password=PASSWORD,
        first_name="Mara", last_name="<Lind>",
    )  # fmt: skip
    contact_details_update(
        actor=ACTOR, mailbox=mara, changes={"title": "Sales", "address": "1 Main St\nSpringfield"}
    )
    user = get_user_model().objects.create_user("alice", password=PASSWORD)
    Membership.objects.create(user=user, organization=org, role=Role.ADMIN)
    base = live_server.url

    page.goto(f"{base}/login/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login/" not in url)
    page.goto(f"{base}/domains/{domain.pk}/")
    page.click("nav.tabs >> text=Signatures")
    page.shoot("empty-list")
    page.click("text=New signature")
    page.fill("#id_name", "Example Corp")
    page.fill("#id_html", HTML + "<script>alert(1)</script>")
    page.click("button:has-text('Preview')")
    page.wait_for_selector(f"text=Preview for {mara.address}")
    assert page.inner_text(".sig-preview .rendered b") == "Mara <Lind>"  # escaped, shown as text
    assert page.locator(".sig-preview script").count() == 0
    page.shoot("preview")
    page.click("button:has-text('Save and apply')")
    page.wait_for_selector("text=Signature Example Corp saved for its accounts.")
    page.shoot("list")
    signature = Signature.objects.get(template__isnull=False)
    assert signature.locked and "&lt;Lind&gt;" in signature.html

    # The owner, in a browser context of their own (no admin session).
    owner_context = page.context.browser.new_context(viewport={"width": 1280, "height": 860})
    owner_page = owner_context.new_page()
    owner_page.goto(f"{base}/login/")
    owner_page.fill("#id_username", mara.address)
    owner_page.fill("#id_password", PASSWORD)
    owner_page.click("button[type=submit]")
    owner_page.wait_for_url(f"{base}/me/")
    owner_page.goto(f"{base}/me/identities/{signature.identity_id}/")
    assert "Corporate · locked" in owner_page.inner_text(".sig-list")
    page.shoot.page = owner_page
    page.shoot("owner-identity")
    owner_page.goto(f"{base}/me/identities/{signature.identity_id}/signatures/{signature.pk}/")
    assert "you can use it, not change it" in owner_page.content()
    page.shoot("owner-locked-signature")
    owner_context.close()
