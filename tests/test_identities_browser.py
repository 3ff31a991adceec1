"""An owner in headless Chromium sets up an identity with an HTML signature and an out-of-office
for tomorrow, and finds both in the webmail endpoint (the signature sanitised)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from domains.services import domain_create
from mailboxes.services import mailbox_create, mailbox_update
from organizations.services import organization_create
from security.audit import Actor

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
ACTOR = Actor(label="test")
PASSWORD = "owner-password-for-browser-1"


def test_owner_creates_identity_with_default_html_signature(live_server, page, domain_name):
    org = organization_create(actor=ACTOR, name=f"Signatures {domain_name}")
    domain = domain_create(actor=ACTOR, name=domain_name, organization=org)
    mailbox = mailbox_create(
        actor=ACTOR, domain=domain, local_part="mara", password=PASSWORD,
        first_name="Mara", last_name="Lind",
    )  # fmt: skip
    base = live_server.url

    page.goto(f"{base}/login/")
    page.fill("#id_username", mailbox.address)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/me/")
    page.goto(f"{base}/me/identities/")
    page.shoot("no-identity")
    page.click("text=New identity")
    assert page.input_value("#id_display_name") == "Mara Lind"
    page.fill("#id_display_name", "Mara Lind (Sales)")
    page.click("button:has-text('Create identity')")
    page.wait_for_selector("text=Now add a signature")

    page.click("text=Add signature")
    page.fill("#id_name", "Sales")
    page.fill(
        "#id_html",
        '<p>Mara <b>Lind</b><br>Sales</p><img src=x onerror="alert(1)">'
        '<a href="javascript:alert(2)">click</a><script>alert(3)</script>',
    )
    page.check("#id_is_default")
    page.click("button:has-text('Preview')")
    page.wait_for_selector("text=Preview (not saved yet)")
    assert page.inner_text(".sig-preview .rendered b") == "Lind"
    page.shoot("preview")
    page.click("button:has-text('Save signature')")
    page.wait_for_selector("text=Signature Sales saved.")
    page.shoot("identity-with-signature")
    assert page.locator(".sig-list .badge").inner_text() == "Default"

    # Out of office tomorrow 09:00-17:00, in the account's time zone.
    mailbox_update(actor=ACTOR, mailbox=mailbox, changes={"time_zone": "Europe/Zurich"})
    zone = ZoneInfo("Europe/Zurich")
    tomorrow = (datetime.now(zone) + timedelta(days=1)).date()
    page.goto(f"{base}/me/autoresponder/")
    page.check("#id_autoreply_enabled")
    page.fill("#id_autoreply_subject", "Out of office")
    page.fill("#id_autoreply_body", "Back the day after tomorrow.")
    page.fill("#id_autoreply_start", f"{tomorrow.isoformat()}T09:00")
    page.fill("#id_autoreply_end", f"{tomorrow.isoformat()}T17:00")
    page.click("button[type=submit] >> visible=true")
    page.wait_for_selector(".flash")
    page.shoot("out-of-office")

    page.goto(f"{base}/api/webmail/v1/me")
    data = json.loads(page.inner_text("body"))
    [identity] = data["identities"]
    assert identity["name"] == "Mara Lind (Sales)" and identity["email"] == mailbox.address
    [signature] = identity["signatures"]
    assert signature["default"] is True
    assert signature["html"].startswith("<p>Mara <b>Lind</b><br>Sales</p>")
    assert "alert" not in signature["html"] and "onerror" not in signature["html"]
    assert signature["text"].startswith("Mara Lind\nSales")
    away = data["autoresponder"]
    assert away["enabled"] is True and away["active_now"] is False  # it starts tomorrow
    assert away["subject"] == "Out of office"
    start, end = (datetime.fromisoformat(away[k]).astimezone(zone) for k in ("start", "end"))
    assert (start.date(), start.hour, end.date(), end.hour) == (tomorrow, 9, tomorrow, 17)
