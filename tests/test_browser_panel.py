"""The panel in headless Chromium, as an admin clicks through it."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from domains.models import Domain
from organizations.models import Membership, Role
from organizations.services import organization_create
from security.audit import Actor

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "admin-password-1"


@pytest.fixture
def admin_user(domain_name: str):
    org = organization_create(actor=Actor(label="test"), name=f"Browser {domain_name}")
    user = get_user_model().objects.create_user("alice", password=PASSWORD)
    Membership.objects.create(user=user, organization=org, role=Role.ADMIN)
    return user


def test_admin_logs_in_and_activates_a_domain(live_server, page, admin_user, domain_name) -> None:
    page.goto(f"{live_server.url}/")
    page.shoot("login")
    page.fill("#id_username", "alice")
    page.fill("#id_password", "wrong")
    page.click("button[type=submit]")
    assert "correct username and password" in page.content()
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("text=Activate a domain")
    page.shoot("domain-list-empty")

    page.click("text=Activate a domain")
    page.fill("#id_name", "not a domain")
    page.click("button:has-text('Activate')")
    assert page.locator(".field-error").inner_text().endswith("is not a valid domain name.")
    page.shoot("activate-error")
    page.fill("#id_name", domain_name)
    page.click("button:has-text('Activate')")
    page.wait_for_selector(f"text=The domain {domain_name} is active.")
    assert Domain.objects.filter(name=domain_name).exists()
    page.shoot("account-list-empty")
    page.click("nav.tabs >> text=Provisioning")
    page.wait_for_selector("text=Desired version")
    page.shoot("provisioning-tab")


@pytest.mark.live
def test_admin_creates_an_account_in_the_wizard_and_manages_it(
    live, live_server, page, admin_user, domain_name
) -> None:
    from mailboxes.models import Mailbox
    from tests.mailclient import imap_login, wait_until

    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.click("text=Activate a domain")
    page.fill("#id_name", domain_name)
    page.click("button:has-text('Activate')")
    page.wait_for_selector(f"text=The domain {domain_name} is active.")

    # Step 1, with an error corrected.
    page.click("text=+ Email Account")
    page.fill("#id_first_name", "Carla")
    page.fill("#id_last_name", "Rossi")
    page.fill("#id_local_part", "carla rossi")
    page.fill("#id_password1", "a-fine-password-9")
    page.fill("#id_password2", "a-fine-password-9")
    page.click("button:has-text('Next ›') >> visible=true")
    assert "is not allowed before the @" in page.locator(".field-error").first.inner_text()
    page.shoot("wizard-step1-error")
    page.fill("#id_local_part", "carla")
    page.fill("#id_password1", "a-fine-password-9")
    page.fill("#id_password2", "a-fine-password-9")
    page.click("button:has-text('Next ›') >> visible=true")
    page.wait_for_selector("#id_quota")
    page.shoot("wizard-step2")
    page.click("button:has-text('Next ›') >> visible=true")

    # Step 3, with an error corrected.
    page.fill("#id_allowed_networks", "127.0.0.0/8\nnot-a-network")
    page.click("button:has-text('Next ›') >> visible=true")
    assert "not-a-network" in page.locator(".field-error").first.inner_text()
    page.shoot("wizard-step3-error")
    page.fill("#id_allowed_networks", "127.0.0.0/8")
    page.click("button:has-text('Next ›') >> visible=true")
    page.wait_for_selector("#id_forward_to")
    page.shoot("wizard-step4")
    page.click("button:has-text('Review ›') >> visible=true")
    page.wait_for_selector("text=Create account")
    page.shoot("wizard-summary")
    assert not Mailbox.objects.filter(local_part="carla").exists()
    page.click("button:has-text('Create account')")

    # The account page turns Online by itself (htmx polls the status).
    page.wait_for_selector(f"text=Account carla@{domain_name} created")
    page.wait_for_selector(".badge.online", timeout=20_000)
    page.shoot("account-online")
    address = f"carla@{domain_name}"
    assert wait_until(lambda: imap_login(live.ports, address, "a-fine-password-9"))

    # Change the quota.
    page.fill("#id_quota", "3G")
    page.click("button:has-text('Save')")
    page.wait_for_selector(".flash")
    page.shoot("account-quota-saved")
    assert Mailbox.objects.get(local_part="carla").quota_bytes == 3 * 1024**3

    # Deactivate, reactivate.
    page.click("button:has-text('Deactivate')")
    page.wait_for_selector(".badge.offline", timeout=20_000)
    page.shoot("account-offline")
    assert wait_until(lambda: not imap_login(live.ports, address, "a-fine-password-9"))
    page.click("button:has-text('Reactivate')")
    page.wait_for_selector(".badge.online", timeout=20_000)
    assert wait_until(lambda: imap_login(live.ports, address, "a-fine-password-9"))

    # Delete, with the admin's own password (a wrong one first).
    page.click("text=Delete…")
    page.fill("#id_password", "not my password")
    page.click("button:has-text('Delete the account permanently')")
    page.wait_for_selector(".field-error")
    page.shoot("delete-wrong-password")
    assert Mailbox.objects.filter(local_part="carla").exists()
    page.fill("#id_password", PASSWORD)
    page.click("button:has-text('Delete the account permanently')")
    page.wait_for_selector("text=No e-mail account on this domain yet.")
    page.shoot("account-list-after-delete")
    assert not Mailbox.objects.filter(local_part="carla").exists()
    assert wait_until(lambda: not imap_login(live.ports, address, "a-fine-password-9"))
