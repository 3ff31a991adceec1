"""An admin in headless Chromium ticks two accounts on the list, deactivates them, and watches
the job page (polled by htmx) finish while the real Celery worker runs the batch; the two
accounts then stop taking logins over IMAP."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from domains.services import domain_create
from mailboxes.models import Mailbox, MailboxState
from mailboxes.services import mailbox_create
from organizations.models import Membership, Role
from organizations.services import organization_create
from security.audit import Actor
from tests.mailclient import imap_login, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.live]
ACTOR = Actor(label="test")
PASSWORD = "batch-admin-password-1"
MAIL_PASSWORD = "batch-mail-password-1"


def test_admin_deactivates_two_ticked_accounts_and_watches_the_job(
    live, live_server, page, domain_name
) -> None:
    org = organization_create(actor=ACTOR, name=f"Batch {domain_name}")
    domain = domain_create(actor=ACTOR, name=domain_name, organization=org)
    anna, ben, cleo = (
        mailbox_create(actor=ACTOR, domain=domain, local_part=lp, password=MAIL_PASSWORD)
        for lp in ("anna", "ben", "cleo")
    )
    admin = get_user_model().objects.create_user(f"admin-{domain_name}", password=PASSWORD)
    Membership.objects.create(user=admin, organization=org, role=Role.ADMIN)
    assert wait_until(lambda: imap_login(live.ports, anna.address, MAIL_PASSWORD), timeout=30)

    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", admin.get_username())
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.goto(f"{live_server.url}/domains/{domain.pk}/")
    count = page.locator("[data-batch-count]")
    assert count.inner_text() == "Tick accounts, then choose an action."
    assert page.locator("button[name=action][value=deactivate]").is_disabled()  # nothing ticked
    page.check(f"input[name=selected][value='{anna.pk}']")
    page.check(f"input[name=selected][value='{ben.pk}']")
    assert count.inner_text() == "2 selected"
    page.shoot("two-ticked")

    page.click("button[name=action][value=deactivate]")
    page.wait_for_url("**/jobs/**")
    page.shoot("job-started")
    page.wait_for_selector("text=2 deactivated.", timeout=60_000)
    page.shoot("job-finished")
    assert "Finished · 2 of 2" in page.inner_text("#job-progress")

    states = dict(Mailbox.objects.filter(domain=domain).values_list("local_part", "state"))
    assert states == {"anna": MailboxState.DEACTIVATED, "ben": MailboxState.DEACTIVATED,
                      "cleo": MailboxState.ACTIVE}  # fmt: skip
    # Through the normal loop, to the real mail servers.
    assert wait_until(lambda: not imap_login(live.ports, anna.address, MAIL_PASSWORD), timeout=30)
    assert wait_until(lambda: not imap_login(live.ports, ben.address, MAIL_PASSWORD))
    assert imap_login(live.ports, cleo.address, MAIL_PASSWORD)
