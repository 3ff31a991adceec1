"""The DKIM tab (issue 15): tenant-scoped, errors next to the field, nothing half-done, audited
without a key; and in headless Chromium: generate, copy the record, activate."""

from __future__ import annotations

import pytest

from domains.models import DkimKey
from security.models import AuditEvent
from tests.personas import PASSWORD, build_world


@pytest.fixture
def world(db):
    return build_world("dkim")


def _url(domain) -> str:
    return f"/domains/{domain.pk}/dkim/"


def test_admin_generates_and_activates_and_nobody_sees_the_private_key(world) -> None:
    client, domain = world.client("alice"), world.acme_domain
    page = client.get(_url(domain)).content.decode()
    assert "Generate a key" in page and "goes out unsigned" in page
    response = client.post(_url(domain), {"action": "generate", "algorithm": "rsa"})
    assert response.status_code == 302
    key = DkimKey.objects.get(domain=domain)
    page = client.get(_url(domain)).content.decode()
    assert f"{key.selector}._domainkey.{domain.name}" in page and "Publish, then activate" in page
    assert key.public_key[:200] in page and 'data-copy="dkim-txt-' in page
    assert "PRIVATE" not in page and key.private_key.splitlines()[1] not in page
    client.post(_url(domain), {"action": "activate", "selector": key.selector})
    key.refresh_from_db()
    assert key.state == "active"
    page = client.get(_url(domain)).content.decode()
    assert "Signing" in page and "Rotate" in page
    changes = str(list(AuditEvent.objects.filter(action__startswith="domain.dkim").values()))
    assert key.selector in changes and "PRIVATE" not in changes


def test_bad_input_is_named_next_to_its_field_and_changes_nothing(world) -> None:
    client, domain = world.client("alice"), world.acme_domain
    page = client.post(_url(domain), {"action": "activate", "selector": ""}).content.decode()
    assert "Choose the key to activate." in page
    page = client.post(_url(domain), {"action": "rotate", "algorithm": "rsa"}).content.decode()
    assert "has no active rsa DKIM key to rotate" in page
    page = client.post(_url(domain), {"action": "activate", "selector": "nope"}).content.decode()
    assert "has no DKIM key “nope”" in page
    page = client.post(_url(domain), {"action": "generate", "algorithm": "dsa"}).content.decode()
    assert "Select a valid choice" in page
    assert (
        not DkimKey.objects.exists()
        and not AuditEvent.objects.filter(action__startswith="domain.dkim").exists()
    )


def test_other_tenants_get_404_and_read_only_members_403(world) -> None:
    domain = world.acme_domain
    assert world.client("charlie").get(_url(domain)).status_code == 404
    assert world.client("charlie").post(_url(domain), {"action": "generate"}).status_code == 404
    assert world.client("bob").get(_url(domain)).status_code == 200
    assert world.client("bob").post(_url(domain), {"action": "generate"}).status_code == 403
    assert not DkimKey.objects.exists()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_generate_copy_and_activate_in_a_browser(live_server, page, domain_name) -> None:
    world = build_world(domain_name.split(".")[0])
    domain = world.acme_domain
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", world.users["alice"].get_username())
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.goto(f"{live_server.url}/domains/{domain.pk}/dkim/")
    page.click("button[value=generate]")
    page.locator(".flash >> text=Publish the record").wait_for()
    key = DkimKey.objects.get(domain=domain)
    page.click(f"button[data-copy='dkim-txt-{key.selector}']")
    page.locator("text=Copied").wait_for()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.replace('"', "").replace("\n", "") == f"v=DKIM1; k=rsa; p={key.public_key}"
    page.shoot("dkim-tab")
    page.click(f"text=sign with {key.selector}")
    page.locator(".dkim-signing >> text=with " + key.selector).wait_for()
    key.refresh_from_db()
    assert key.state == "active"


def test_spam_scores_are_saved_or_refused_next_to_their_field(world) -> None:
    client, domain = world.client("alice"), world.acme_domain
    page = client.get(_url(domain)).content.decode()
    assert 'name="spam_junk_score" value="6.0"' in page
    bad = {"spam_junk_score": "9", "spam_reject_score": "8"}
    page = client.post(_url(domain), bad).content.decode()
    assert "The junk score cannot be above the reject score." in page
    domain.refresh_from_db()
    assert domain.spam_junk_score == 6
    good = {"spam_junk_score": "5", "spam_reject_score": "12.5"}
    assert client.post(_url(domain), good).status_code == 302
    domain.refresh_from_db()
    assert (float(domain.spam_junk_score), float(domain.spam_reject_score)) == (5.0, 12.5)
    assert world.client("bob").post(_url(domain), good).status_code == 403
    assert "disabled" in world.client("bob").get(_url(domain)).content.decode()
