"""The password guard in the panel, in headless Chromium (issue 27): staff ban an address
(a bad one is refused next to its field), see it and the worst clients of the node, and unban
it; the organization's admin sees the failed logins on the account's Security tab, and the
owner on their own page."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from provisioning.policy.guard_rules import GuardRules
from provisioning.policy.guard_store import RedisStore
from security.models import AuditEvent
from tests.personas import PASSWORD, build_world

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TEST_REDIS = os.environ.get("TEST_SENDING_REDIS_URL", "redis://127.0.0.1:6379/11")


def record_failures(prefix: str, node: str, login: str, client: str, count: int) -> None:
    """Failed logins as a node's guard counts them (the same code, the same keys)."""

    async def run() -> None:
        store = RedisStore(TEST_REDIS, prefix, GuardRules(), node)
        for _ in range(count):
            await store.failure(client, login, "imap", time.time())
        await store.close()

    # Playwright's event loop runs in this thread: the store's own loop gets another one.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, run()).result()


def login(page, base: str, username: str) -> None:
    page.goto(f"{base}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login/" not in url)


def test_staff_ban_and_unban_and_the_account_shows_its_failed_logins(
    live_server, page, domain_name, settings
) -> None:
    settings.GUARD_REDIS_URL = TEST_REDIS
    settings.GUARD_REDIS_PREFIX = prefix = f"tm-guard-browser-{uuid.uuid4().hex}/"
    world = build_world(domain_name.split(".")[0])
    mailbox, node = world.acme_mailbox, world.acme_domain.node.name
    record_failures(prefix, node, mailbox.address, "203.0.113.9", 3)
    base = live_server.url

    login(page, base, world.users["staff"].get_username())
    page.goto(f"{base}/guard/")
    page.fill("#id_address", "not-an-address")
    page.click("#ban-form button[type=submit]")
    page.locator("#ban-form >> text=is not an IP address").wait_for()
    page.shoot("bad-address")
    page.fill("#id_address", "198.51.100.23")
    page.fill("#id_reason", "guessing on IMAP")
    page.click("#ban-form button[type=submit]")
    page.locator(".flash >> text=Banned 198.51.100.23 on every mail server.").wait_for()
    assert "guessing on IMAP" in page.inner_text("#bans")
    assert "203.0.113.9" in page.inner_text(f"#worst-{node}")
    page.shoot("banned")
    page.select_option("#id_organization", str(world.acme_domain.organization_id))
    page.click("#worst-organization button[type=submit]")
    page.locator("#worst-organization >> text=203.0.113.9").wait_for()
    page.shoot("organization-worst")
    page.click("text=Unban 198.51.100.23")
    page.locator(".flash >> text=Unbanned 198.51.100.23").wait_for()
    assert "No address is banned." in page.inner_text("#bans")
    assert list(AuditEvent.objects.filter(action__startswith="guard.").values_list(
        "action", flat=True).order_by("pk")) == ["guard.ban", "guard.unban"]  # fmt: skip

    admin = page.context.browser.new_context()
    admin_page = admin.new_page()
    login(admin_page, base, world.users["alice"].get_username())
    admin_page.goto(f"{base}/accounts/{mailbox.pk}/security/")
    text = admin_page.inner_text("#failed-logins")
    assert "3 failed logins" in text and "203.0.113.9" in text and "IMAP" in text
    page.shoot.page = admin_page
    page.shoot("account-security")
    admin.close()

    owner = page.context.browser.new_context()
    owner_page = owner.new_page()
    login(owner_page, base, mailbox.address)
    owner_page.goto(f"{base}/me/")
    assert "203.0.113.9" in owner_page.inner_text("#failed-logins")
    page.shoot.page = owner_page
    page.shoot("owner-home")
    owner.close()
