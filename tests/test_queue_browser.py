"""The Queue tab in headless Chromium (issue 22): a domain admin sees the domain's queued mail
with the node's reason and age, retries one with a click, and the page says so."""

from __future__ import annotations

import time

import pytest

from provisioning.queue import record_queue
from security.models import AuditEvent
from tests.personas import PASSWORD, build_world

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_domain_admin_retries_a_queued_message(live_server, page, domain_name) -> None:
    world = build_world(domain_name.split(".")[0])
    sender = world.acme_mailbox.address
    reason = "host smarthost[127.0.0.1] said: 451 4.3.0 try again later (in reply to RCPT TO)"
    row = {
        "id": "9F1E2D3C4B", "state": "deferred", "arrival": int(time.time()) - 2 * 3600,
        "size": 2048, "sender": sender, "recipients": ["customer@far.test"], "reason": reason,
    }  # fmt: skip
    record_queue(world.acme_domain.node.name, [row])

    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", world.users["alice"].get_username())
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.goto(f"{live_server.url}/domains/{world.acme_domain.pk}/")
    page.click("nav.tabs >> text=Queue")
    table = page.locator("table.queue")
    table.locator("text=9F1E2D3C4B").wait_for()
    text = table.inner_text()
    assert sender in text and "customer@far.test" in text and "451 4.3.0" in text
    assert "2\xa0hours" in text or "2 hours" in text
    page.shoot("queue-tab")
    page.click("table.queue >> text=Retry now")
    page.locator(".flash >> text=Retry asked for 9F1E2D3C4B").wait_for()
    page.shoot("queue-tab-retried")
    assert AuditEvent.objects.filter(action="queue.retry", domain=world.acme_domain).count() == 1
