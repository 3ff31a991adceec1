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
