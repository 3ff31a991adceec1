"""The domain's Provisioning tab in headless Chromium says whether TLS is active on the
domain's node, from the node's report (issue 15)."""

from __future__ import annotations

import pytest

from provisioning import usage
from tests.personas import PASSWORD, build_world

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_provisioning_tab_shows_tls_and_why_not(live_server, page, domain_name) -> None:
    world = build_world(domain_name.split(".")[0])
    domain = world.acme_domain
    status = {"hostname": "mx.node.test", "not_after": 1893456000.0, "error": "",
              "sni": [f"mail.{domain.name}"]}  # fmt: skip
    usage.record_tls_status(domain.node.name, status)

    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", world.users["alice"].get_username())
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.goto(f"{live_server.url}/domains/{domain.pk}/")
    page.click("nav.tabs >> text=Provisioning")
    row = page.locator("dd.tls-status")
    row.locator("text=Active").wait_for()
    assert f"mail.{domain.name} by SNI" in row.inner_text()
    page.shoot("provisioning-tab-tls-active")

    usage.record_tls_status(domain.node.name, {**status, "error": "no certificate at /x.crt"})
    page.reload()
    assert "No TLS" in row.inner_text() and "no certificate at /x.crt" in row.inner_text()
    page.shoot("provisioning-tab-no-tls")
