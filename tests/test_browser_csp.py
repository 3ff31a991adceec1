"""The panel's pages under its Content-Security-Policy, in Chromium: no violation reported.

Chromium logs every blocked inline script, style or handler as a console error naming the
"Content Security Policy"; the page's own securitypolicyviolation events are collected too.
htmx (the account page's status badge polls) must work with no inline style of its own.
"""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from domains.models import Domain
from tests.personas import World, build_world, owner_of

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Collects the page's own CSP reports (an init script runs before the page's scripts).
_LISTEN = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  const where = `${e.sourceFile}:${e.lineNumber}`;
  window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI} ${where}`);
});
"""


class CspWatch:
    """Console errors about the CSP and page errors, across every page the test visits."""

    def __init__(self, page: object) -> None:
        self.page = page
        self.console: list[str] = []
        self.errors: list[str] = []
        page.add_init_script(_LISTEN)  # type: ignore[attr-defined]
        page.on("console", self._on_console)  # type: ignore[attr-defined]
        page.on("pageerror", lambda error: self.errors.append(str(error)))  # type: ignore[attr-defined]

    def _on_console(self, message: object) -> None:
        if "Content Security Policy" in message.text:  # type: ignore[attr-defined]
            self.console.append(f"{self.page.url}: {message.text}")  # type: ignore[attr-defined]

    def visit(self, url: str, label: str) -> list[str]:
        """Loads the page; returns the violations it reported itself."""
        self.page.goto(url)  # type: ignore[attr-defined]
        self.page.wait_for_load_state("load")  # type: ignore[attr-defined]
        self.page.shoot(label)  # type: ignore[attr-defined]
        return self.page.evaluate("window.__cspViolations")  # type: ignore[attr-defined]


def _log_in(page: object, base_url: str, user: object) -> None:
    """The user's session in the browser (the login form has a test of its own)."""
    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    page.context.clear_cookies()  # type: ignore[attr-defined]
    page.context.add_cookies(  # type: ignore[attr-defined]
        [{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": base_url}]
    )


def _admin_pages(world: World) -> list[tuple[str, str]]:
    domain, mailbox = world.acme_domain.pk, world.acme_mailbox.pk
    pages = [
        ("organizations", reverse("organization_list")),
        ("domains", reverse("domain_list", args=[world.acme.pk])),
        ("activate", reverse("domain_activate", args=[world.acme.pk])),
        ("accounts", reverse("mailbox_list", args=[domain])),
        ("provisioning", reverse("domain_provisioning", args=[domain])),
        ("domain-settings", reverse("domain_settings", args=[domain])),
        ("organization-audit", reverse("organization_audit", args=[world.acme.pk])),
        ("organization-2fa", reverse("organization_two_factor", args=[world.acme.pk])),
        ("account-audit", reverse("mailbox_audit", args=[mailbox])),
        ("two-factor", reverse("two_factor")),
        ("two-factor-enrol", reverse("two_factor_enrol")),  # the QR code: inline <svg>
    ]
    pages += [
        (f"account-{name}", reverse(name, args=[mailbox]))
        for name in ["mailbox_detail", "mailbox_forwarding", "mailbox_security",
                     "mailbox_autoresponder", "mailbox_webmail", "mailbox_delete"]
    ]  # fmt: skip
    return pages


def test_main_pages_report_no_csp_violation(live_server, page, domain_name: str) -> None:
    world = build_world(domain_name.split(".")[0])
    watch = CspWatch(page)
    base = live_server.url
    seen: dict[str, list[str]] = {}

    seen["login"] = watch.visit(f"{base}{reverse('login')}", "login")

    _log_in(page, base, world.users["alice"])
    for label, path in _admin_pages(world):
        seen[label] = watch.visit(f"{base}{path}", label)

    # An account whose change the mail node has not acknowledged yet: htmx polls its badge.
    Domain.objects.filter(pk=world.acme_domain.pk).update(
        applied_version=world.acme_mailbox.changed_version - 1
    )
    with page.expect_response(lambda r: "/status/" in r.url, timeout=5_000):
        seen["account-polling"] = watch.visit(
            f"{base}{reverse('mailbox_detail', args=[world.acme_mailbox.pk])}", "account-polling"
        )

    # The wizard's steps, with its script (copy button, one submit per click).
    page.goto(f"{base}{reverse('mailbox_list', args=[world.acme_domain.pk])}")
    page.click("text=+ Email Account")
    page.fill("#id_first_name", "Csp")
    page.fill("#id_last_name", "Check")
    page.fill("#id_local_part", "csp")
    page.click("button[value=generate] >> visible=true")
    page.wait_for_selector("button[data-copy]:visible")
    for step in ("account", "services", "security", "options"):
        page.click("button.primary[value=next]")
        page.wait_for_load_state("load")
        page.shoot(f"wizard-after-{step}")
        seen[f"wizard-{step}"] = page.evaluate("window.__cspViolations")
    assert "/summary/" in page.url
    seen["wizard-summary"] = watch.visit(page.url, "wizard-summary")

    _log_in(page, base, world.users["staff"])
    seen["organizations-staff"] = watch.visit(f"{base}{reverse('organization_list')}", "staff")
    seen["audit-staff"] = watch.visit(f"{base}{reverse('audit_all')}", "audit-staff")

    _log_in(page, base, owner_of(world.acme_mailbox))
    seen["owner-home"] = watch.visit(f"{base}{reverse('owner_home')}", "owner-home")
    seen["owner-password"] = watch.visit(f"{base}{reverse('owner_password_change')}", "owner-pw")

    reported = {label: found for label, found in seen.items() if found}
    assert not reported, f"CSP violations reported by the pages: {reported}"
    assert not watch.console, "CSP errors in the console:\n" + "\n".join(watch.console)
    assert not watch.errors, f"script errors: {watch.errors}"


def test_the_policy_is_enforced_and_would_be_reported(live_server, page, domain_name) -> None:
    """The watch above is not blind: an injected inline script is blocked and reported."""
    world = build_world(domain_name.split(".")[0])
    watch = CspWatch(page)
    _log_in(page, live_server.url, world.users["alice"])
    watch.visit(f"{live_server.url}{reverse('organization_list')}", "organizations")
    ran = page.evaluate("""() => {
        window.__ran = false;
        const script = document.createElement("script");
        script.textContent = "window.__ran = true";
        document.body.append(script);
        const div = document.createElement("div");
        div.setAttribute("style", "color: red");
        document.body.append(div);
        return new Promise((done) => setTimeout(() => done(window.__ran), 200));
    }""")
    assert ran is False
    page.wait_for_function("window.__cspViolations.length >= 2")
    directives = " ".join(page.evaluate("window.__cspViolations"))
    assert "script-src" in directives and "style-src" in directives
    assert any("inline script" in line for line in watch.console), watch.console
