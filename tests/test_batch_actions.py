"""Batch actions on the account list (mailboxes/batch.py, batch_views.py): ticked rows or all
accounts matching the filter; deactivate, reactivate and delete as a job with a summary that
counts skipped and failed accounts; delete behind the admin's password and a fresh session;
the CSV export (BOM, neutralised formulas); who may do what."""

from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse

from domains.models import Domain
from jobs.models import Job, JobState
from mailboxes.models import Mailbox, MailboxState, MailboxUsage
from mailboxes.services import mailbox_create, mailbox_deactivate, mailbox_update
from security.models import AuditEvent
from tempusmail.csv_safety import neutralise
from tests.otp import FakeClock
from tests.personas import ACTOR, PASSWORD, World, build_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(domain_name: str, clock: FakeClock) -> World:
    return build_world(domain_name.split(".")[0])


def _accounts(world: World, *local_parts: str) -> list[Mailbox]:
    return [
        mailbox_create(actor=ACTOR, domain=world.acme_domain, local_part=lp, password=PASSWORD)
        for lp in local_parts
    ]


def _batch_url(world: World) -> str:
    return reverse("mailbox_batch", args=[world.acme_domain.pk])


def _run(client, url: str, data: dict, capture) -> object:
    """POST, and run what waits for the commit (the job's task, eagerly) like a real request."""
    with capture(execute=True):
        return client.post(url, data)


def _job_of(response) -> Job:
    assert response.status_code == 302 and response["Location"].startswith("/jobs/"), response
    return Job.objects.get(pk=response["Location"].split("/")[2])


def _states(*mailboxes: Mailbox) -> list[str]:
    return [Mailbox.objects.get(pk=m.pk).state for m in mailboxes]


# --- selecting ---------------------------------------------------------------------------


def test_ticked_rows_are_deactivated_and_the_summary_counts_the_skipped(
    world: World, django_capture_on_commit_callbacks
) -> None:
    anna, ben, cleo, dora = _accounts(world, "anna", "ben", "cleo", "dora")
    mailbox_deactivate(actor=ACTOR, mailbox=cleo)
    version = Domain.objects.get(pk=world.acme_domain.pk).desired_version
    ids = [anna.pk, ben.pk, cleo.pk, world.other_mailbox.pk]  # another tenant's id is ignored
    response = _run(
        world.client("alice"), _batch_url(world),
        {"action": "deactivate", "selected": ids}, django_capture_on_commit_callbacks,
    )  # fmt: skip
    job = _job_of(response)
    assert job.state == JobState.DONE and (job.total, job.done, job.failed) == (3, 3, 0)
    assert job.result["summary"] == "2 deactivated, 1 was already deactivated."
    assert _states(anna, ben, cleo, dora) == ["deactivated"] * 3 + ["active"]
    assert Mailbox.objects.get(pk=world.other_mailbox.pk).state == MailboxState.ACTIVE
    # One audit row per account (cleo's own too), one bump of the domain for the chunk, and
    # the accounts changed carry its version (the node's Online/Updating follows it).
    assert AuditEvent.objects.filter(action="mailbox.deactivate").count() == 3
    assert Domain.objects.get(pk=world.acme_domain.pk).desired_version == version + 1
    assert {m.changed_version for m in Mailbox.objects.filter(pk__in=[anna.pk, ben.pk])} == {
        version + 1
    }
    page = world.client("alice").get(f"/jobs/{job.pk}/").content.decode()
    assert "2 deactivated, 1 was already deactivated." in page


def test_all_matching_the_filter_goes_beyond_the_page(
    world: World, django_capture_on_commit_callbacks, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("mailboxes.views.PAGE_SIZE", 2)
    sales = _accounts(world, "sales1", "sales2", "sales3", "sales4", "sales5")
    (support,) = _accounts(world, "support")
    alice = world.client("alice")
    listing = alice.get(reverse("mailbox_list", args=[world.acme_domain.pk]), {"q": "sales"})
    html = listing.content.decode()
    assert "Select all 5 accounts matching this filter" in html
    assert html.count('name="selected"') == 2  # the page shows two of them

    # Only the page's two rows are ticked, but "all matching" is: the filter decides.
    data = {"action": "deactivate", "scope": "all", "q": "sales", "sort": "address",
            "selected": [sales[0].pk, sales[1].pk]}  # fmt: skip
    job = _job_of(_run(alice, _batch_url(world), data, django_capture_on_commit_callbacks))
    assert job.result["summary"] == "5 deactivated."
    assert _states(*sales) == ["deactivated"] * 5
    assert _states(support, world.acme_mailbox) == ["active", "active"]


def test_without_all_matching_only_the_ticked_rows_count(
    world: World, django_capture_on_commit_callbacks
) -> None:
    first, second = _accounts(world, "sales1", "sales2")
    data = {"action": "deactivate", "q": "sales", "selected": [first.pk]}
    alice = world.client("alice")
    job = _job_of(_run(alice, _batch_url(world), data, django_capture_on_commit_callbacks))
    assert job.result["summary"] == "1 deactivated."
    assert _states(first, second) == ["deactivated", "active"]


def test_nothing_selected_or_no_action_changes_nothing(world: World) -> None:
    alice = world.client("alice")
    response = alice.post(_batch_url(world), {"action": "deactivate", "q": "x"}, follow=True)
    assert "Select at least one account first." in response.content.decode()
    response = alice.post(_batch_url(world), {"selected": [world.acme_mailbox.pk]}, follow=True)
    assert "Choose what to do with the selected accounts." in response.content.decode()
    assert not Job.objects.exists()
    assert alice.get(_batch_url(world)).status_code == 405


# --- the actions -------------------------------------------------------------------------


def test_reactivate_skips_the_active_ones(world: World, django_capture_on_commit_callbacks) -> None:
    asleep, awake = _accounts(world, "asleep", "awake")
    mailbox_deactivate(actor=ACTOR, mailbox=asleep)
    data = {"action": "reactivate", "selected": [asleep.pk, awake.pk]}
    alice = world.client("alice")
    job = _job_of(_run(alice, _batch_url(world), data, django_capture_on_commit_callbacks))
    assert job.result["summary"] == "1 reactivated, 1 was already active."
    assert _states(asleep, awake) == ["active", "active"]
    assert AuditEvent.objects.filter(action="mailbox.reactivate").count() == 1


def test_delete_asks_for_the_password_then_deletes_and_reports_the_failed(
    world: World, django_capture_on_commit_callbacks
) -> None:
    gone1, gone2, catchall = _accounts(world, "gone1", "gone2", "catchall")
    # The catch-all target cannot be deleted before the catch-all points elsewhere.
    Domain.objects.filter(pk=world.acme_domain.pk).update(catchall_target=catchall.address)
    alice = world.client("alice")
    ids = [gone1.pk, gone2.pk, catchall.pk]

    confirm = alice.post(_batch_url(world), {"action": "delete", "selected": ids})
    html = confirm.content.decode()
    assert confirm.status_code == 200 and "Delete 3 accounts of" in html
    assert gone1.address in html and 'name="password"' in html
    data = {"action": "delete", "confirm": "1", "selected": ids}
    wrong = alice.post(_batch_url(world), {**data, "password": "not-mine"})
    assert wrong.status_code == 200 and "This is not your password." in wrong.content.decode()
    assert Mailbox.objects.filter(pk__in=ids).count() == 3 and not Job.objects.exists()

    response = _run(
        alice, _batch_url(world), {**data, "password": PASSWORD}, django_capture_on_commit_callbacks
    )
    job = _job_of(response)
    assert job.failed == 1
    assert job.result["summary"].startswith(f"2 deleted, 1 failed: {catchall.address}: ")
    assert job.result["errors"][0]["item"] == catchall.address
    assert "catch-all" in job.result["errors"][0]["message"]
    assert list(Mailbox.objects.filter(pk__in=ids).values_list("pk", flat=True)) == [catchall.pk]
    assert AuditEvent.objects.filter(action="mailbox.delete").count() == 2


def test_delete_of_accounts_already_gone_counts_them_as_deleted(
    world: World, django_capture_on_commit_callbacks
) -> None:
    (doomed,) = _accounts(world, "doomed")
    data = {"action": "delete", "confirm": "1", "password": PASSWORD,
            "selected": [doomed.pk, world.acme_mailbox.pk]}  # fmt: skip
    alice = world.client("alice")
    with django_capture_on_commit_callbacks(execute=False):  # the job is made, not run yet
        response = alice.post(_batch_url(world), data)
    job = _job_of(response)
    Mailbox.objects.filter(pk=doomed.pk).delete()  # someone else was quicker
    from mailboxes.batch import batch_run

    with django_capture_on_commit_callbacks(execute=True):
        batch_run(str(job.pk))
    job.refresh_from_db()
    assert job.result["summary"] == "1 deleted, 1 was already deleted."


def test_delete_in_a_stale_session_needs_reauthentication(world: World, clock: FakeClock) -> None:
    alice = world.client("alice")
    clock.advance(minutes=6)  # past the re-authentication window
    data = {"action": "delete", "confirm": "1", "password": PASSWORD,
            "selected": [world.acme_mailbox.pk]}  # fmt: skip
    response = alice.post(_batch_url(world), data)
    assert response.status_code == 302 and response["Location"] == reverse("reauth")
    assert "delete 1 account" in alice.get(reverse("reauth")).content.decode()
    assert Mailbox.objects.filter(pk=world.acme_mailbox.pk).exists() and not Job.objects.exists()


# --- who may ----------------------------------------------------------------------------


def test_read_only_members_see_no_actions_and_may_not_post(world: World) -> None:
    bob = world.client("bob")
    html = bob.get(reverse("mailbox_list", args=[world.acme_domain.pk])).content.decode()
    assert 'name="selected"' not in html and 'name="action"' not in html
    for action in ("deactivate", "reactivate", "delete", "export"):
        response = bob.post(_batch_url(world), {"action": action, "scope": "all"})
        assert response.status_code == 403
    assert Mailbox.objects.get(pk=world.acme_mailbox.pk).state == MailboxState.ACTIVE
    html = world.client("alice").get(reverse("mailbox_list", args=[world.acme_domain.pk]))
    assert 'name="action" value="deactivate"' in html.content.decode()


def test_another_tenant_and_other_domains_admins_get_404(world: World) -> None:
    data = {"action": "deactivate", "selected": [world.acme_mailbox.pk]}
    assert world.client("charlie").post(_batch_url(world), data).status_code == 404
    # dave administers only the organization's second domain
    assert world.client("dave").post(_batch_url(world), data).status_code == 404
    assert world.client("anonymous").post(_batch_url(world), data).status_code == 302
    assert Mailbox.objects.get(pk=world.acme_mailbox.pk).state == MailboxState.ACTIVE
    assert not Job.objects.exists()


def test_a_domain_admin_acts_on_their_own_domain(
    world: World, django_capture_on_commit_callbacks
) -> None:
    mine = mailbox_create(actor=ACTOR, domain=world.acme_second, local_part="d", password=PASSWORD)
    url = reverse("mailbox_batch", args=[world.acme_second.pk])
    data = {"action": "deactivate", "selected": [mine.pk, world.acme_mailbox.pk]}
    job = _job_of(_run(world.client("dave"), url, data, django_capture_on_commit_callbacks))
    assert job.result["summary"] == "1 deactivated."  # the other domain's account is not his
    assert _states(mine, world.acme_mailbox) == ["deactivated", "active"]


# --- export -----------------------------------------------------------------------------


def _csv(response) -> tuple[bytes, list[list[str]]]:
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith("attachment; filename=")
    raw = b"".join(response.streaming_content)
    return raw, list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))


def test_export_of_the_ticked_rows_with_bom_and_neutralised_formulas(world: World) -> None:
    evil, _unticked = _accounts(world, "evil", "plain")
    mailbox_update(actor=ACTOR, mailbox=evil, changes={
        "first_name": '=HYPERLINK("http://x.test","click")', "last_name": "-2+3",
        "forward_to": ["boss@example.test"], "quota_bytes": 1024**3, "pop3_enabled": False,
    })  # fmt: skip
    MailboxUsage.objects.create(mailbox=evil, storage_bytes=12345)
    response = world.client("alice").post(
        _batch_url(world), {"action": "export", "selected": [evil.pk, world.other_mailbox.pk]}
    )
    raw, rows = _csv(response)
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM, for Excel
    assert rows[0] == [
        "address", "first_name", "last_name", "state", "quota_bytes", "storage_used_bytes",
        "last_login", "services", "forwards",
    ]  # fmt: skip
    assert rows[1:] == [[
        evil.address, '\'=HYPERLINK("http://x.test","click")', "'-2+3", "active",
        str(1024**3), "12345", "", "imap smtp sieve webmail", "boss@example.test",
    ]]  # fmt: skip
    assert AuditEvent.objects.filter(action="mailbox.export").exists()


def test_export_of_all_matching_accounts(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("mailboxes.views.PAGE_SIZE", 2)
    _accounts(world, "sales1", "sales2", "sales3", "support")
    response = world.client("alice").post(
        _batch_url(world), {"action": "export", "scope": "all", "q": "sales", "sort": "-address"}
    )
    _, rows = _csv(response)
    assert [row[0].split("@")[0] for row in rows[1:]] == ["sales3", "sales2", "sales1"]


@pytest.mark.parametrize(
    ("cell", "safe"),
    [
        ("=1+2", "'=1+2"),
        ("+41 44 000 00 00", "'+41 44 000 00 00"),
        ("-5", "'-5"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("anna@example.test", "anna@example.test"),
        ("a=b", "a=b"),
        ("", ""),
    ],
)
def test_neutralise_prefixes_cells_a_spreadsheet_would_run(cell: str, safe: str) -> None:
    assert neutralise(cell) == safe
