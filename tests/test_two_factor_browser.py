"""Two-factor login in headless Chromium: an admin whose organization requires it is sent to
enrolment at login, reads the key off the page, computes the code as an app would, and then
logs in with a code and with a backup code."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django_otp.plugins.otp_static.models import StaticToken

from organizations.models import Membership, Role
from organizations.services import organization_create
from security.audit import Actor
from security.services import organization_set_two_factor_policy
from tests.otp import code_at, current_step, next_code

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
ACTOR = Actor(label="test")
PASSWORD = "erin-password-1"


@pytest.fixture
def erin(domain_name: str):
    org = organization_create(actor=ACTOR, name=f"Forced {domain_name}")
    organization_set_two_factor_policy(actor=ACTOR, organization=org, force_2fa=True, grace_days=7)
    user = get_user_model().objects.create_user("erin", password=PASSWORD)
    Membership.objects.create(user=user, organization=org, role=Role.ADMIN)
    return user


def _log_in(page, base: str) -> None:
    page.goto(f"{base}/login/")
    page.fill("#id_username", "erin")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")


def _log_out(page) -> None:
    page.click("header button:has-text('Log out')")
    page.wait_for_selector("#id_username")


def test_admin_with_forced_2fa_enrols_then_logs_in_with_a_code_and_a_backup_code(
    live_server, page, erin
) -> None:
    from base64 import b32decode

    base = live_server.url
    _log_in(page, base)
    page.wait_for_selector("text=Set up two-factor login")
    assert "required by the organization" in page.inner_text(".acct-notice")
    assert "7 more days" in page.inner_text(".acct-notice")
    assert page.locator("svg.segno").is_visible()
    page.shoot("enrol")

    shown = page.inner_text("#manual-key").replace(" ", "")
    key = b32decode(shown + "=" * (-len(shown) % 8)).hex()
    page.fill("#id_code", "000000" if code_at(key, current_step()) != "000000" else "111111")
    page.click("button:has-text('Turn on two-factor login')")
    page.wait_for_selector(".field-error")
    page.shoot("enrol-wrong-code")
    page.fill("#id_code", code_at(key, current_step()))
    page.click("button:has-text('Turn on two-factor login')")
    page.wait_for_selector("text=shown only this once")
    codes = page.locator(".backup-codes code").all_inner_texts()
    assert len(codes) == 10
    page.shoot("backup-codes")
    page.click("text=I have saved them")
    page.wait_for_selector("text=Activate a domain")
    page.shoot("domain-list")
    _log_out(page)

    _log_in(page, base)
    page.wait_for_selector("#id_code")
    page.shoot("code-step")
    page.fill("#id_code", next_code(erin))
    page.click("button:has-text('Verify')")
    page.wait_for_selector("text=Activate a domain")
    _log_out(page)

    _log_in(page, base)
    page.fill("#id_code", codes[0])
    page.click("button:has-text('Verify')")
    page.wait_for_selector("text=Activate a domain")
    page.shoot("logged-in-with-backup-code")
    assert StaticToken.objects.filter(device__user=erin).count() == 9
    page.goto(f"{base}/two-factor/")
    page.wait_for_selector("text=9 unused")
    page.shoot("two-factor-status")
    page.click("text=Organization policy >> xpath=.. >> a")
    page.wait_for_selector("text=Members")
    assert page.locator("#id_force_2fa").is_checked()
    page.shoot("organization-policy")
