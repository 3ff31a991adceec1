"""What the panel shows, in headless Chromium, while a node counts sent mail on its own
(issue 19): the node's report says so, the counters' Redis cannot be read by the panel."""

from __future__ import annotations

import socket
from datetime import timedelta

import pytest
from django.utils import timezone

from provisioning import usage
from tests.personas import PASSWORD, build_world

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_account_list_and_the_provisioning_tab_show_the_fallback(
    live_server, page, domain_name, settings
) -> None:
    with socket.socket() as probe:  # a port nothing listens on: Redis stopped
        probe.bind(("127.0.0.1", 0))
        settings.SENDING_REDIS_URL = f"redis://127.0.0.1:{probe.getsockname()[1]}/0"
    world = build_world(domain_name.split(".")[0])
    node = world.acme_domain.node
    since = timezone.now() - timedelta(minutes=42)
    usage.record_policy_status(node.name, {"fallback_since": since.timestamp(), "unmerged": 7})

    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", world.users["alice"].get_username())
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.goto(f"{live_server.url}/domains/{world.acme_domain.pk}/")
    cell = page.locator("td.sent").first
    title = cell.get_attribute("title") or ""
    assert "Redis is unreachable" in title
    assert f"Mail node {node.name} has counted sent mail on its own since " in title
    assert cell.inner_text().strip() == "—"
    page.shoot("account-list-dash")
    page.click("nav.tabs >> text=Provisioning")
    facts = page.locator("dl.facts")
    facts.locator("text=Node's own count").wait_for()
    assert since.strftime("%Y-%m-%d %H:%M:%S") in facts.inner_text()
    page.shoot("provisioning-tab-fallback")
