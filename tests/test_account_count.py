"""The organization's account counter (Organization.account_count, issue 21): kept right by
every path that creates or deletes accounts, and the plan's limit enforced through it, also
when two workers race for the last free account (on SQLite and on PostgreSQL)."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction

from domains.models import Domain
from domains.services import domain_create
from imports.models import ImportMode
from imports.services import import_rows
from mailboxes.batch import batch_run, batch_start
from mailboxes.models import Mailbox
from mailboxes.services import mailbox_create, mailbox_delete, mailbox_delete_many
from organizations.models import Organization, Plan
from organizations.services import organization_create
from tests.personas import ACTOR, PASSWORD


def _count(org: Organization) -> int:
    return Organization.objects.values_list("account_count", flat=True).get(pk=org.pk)


def _real(org: Organization) -> int:
    return Mailbox.objects.filter(domain__organization=org).count()


def _org(name: str, max_accounts: int | None) -> tuple[Organization, Domain, Domain]:
    plan = Plan.objects.create(name=f"Plan {name}", max_accounts=max_accounts)
    org = organization_create(actor=ACTOR, name=name, plan=plan)
    first = domain_create(actor=ACTOR, name=f"{name}-a.test", organization=org)
    second = domain_create(actor=ACTOR, name=f"{name}-b.test", organization=org)
    return org, first, second


def _create(domain: Domain, local_part: str) -> Mailbox:
    return mailbox_create(actor=ACTOR, domain=domain, local_part=local_part, password=PASSWORD)


def _row(line: int, local_part: str) -> dict:
    return {"line": line, "local_part": local_part, "first_name": "", "last_name": "",
            "quota_bytes": None, "settings": {}, "password": PASSWORD}  # fmt: skip


@pytest.mark.django_db
def test_the_counter_follows_create_delete_batch_and_import(domain_name: str) -> None:
    org, first, second = _org(domain_name.split(".")[0], max_accounts=None)
    accounts = [_create(first, f"u{i}") for i in range(4)] + [_create(second, "v0")]
    assert _count(org) == _real(org) == 5

    mailbox_delete(actor=ACTOR, mailbox=accounts[0])
    assert _count(org) == _real(org) == 4

    # A failed create (an address taken) leaves the counter as it was.
    with pytest.raises(ValidationError):
        _create(first, "u1")
    assert _count(org) == 4

    # Batch delete: the catch-all target is refused and stays counted; a gone id counts nothing.
    Domain.objects.filter(pk=first.pk).update(catchall_target=accounts[1].address)
    first.refresh_from_db()
    outcome = mailbox_delete_many(
        actor=ACTOR, domain=first, ids=[accounts[1].pk, accounts[2].pk, accounts[0].pk]
    )
    assert (outcome.done, list(outcome.refused), outcome.missing) == (
        [accounts[2].pk], [accounts[1].pk], [accounts[0].pk],
    )  # fmt: skip
    assert _count(org) == _real(org) == 3

    # The batch job (chunked) and the CSV import, valid-lines mode with one failing line.
    job = batch_start(actor=ACTOR, domain=first, action="delete", ids=[accounts[3].pk])
    batch_run(str(job.pk))
    assert _count(org) == _real(org) == 2
    rows = [_row(2, "w0"), _row(3, "v0"), _row(4, "w1")]  # v0 exists: that line fails
    created, errors, _ = import_rows(
        actor=ACTOR, domain=second, rows=rows, mode=ImportMode.VALID_LINES,
        progress=lambda done, failed: None,
    )  # fmt: skip
    assert (created, len(errors)) == (2, 1)
    assert _count(org) == _real(org) == 4

    # All or nothing rolls the counter back with the accounts.
    rows = [_row(2, "x0"), _row(3, "w0")]  # w0 exists now
    created, errors, _ = import_rows(
        actor=ACTOR, domain=second, rows=rows, mode=ImportMode.ALL_OR_NOTHING,
        progress=lambda done, failed: None,
    )  # fmt: skip
    assert created == 0 and errors
    assert _count(org) == _real(org)


@pytest.mark.django_db
def test_the_plan_limit_counts_the_whole_organization(domain_name: str) -> None:
    org, first, second = _org(domain_name.split(".")[0], max_accounts=2)
    _create(first, "a")
    _create(second, "b")
    with pytest.raises(ValidationError) as caught:
        _create(first, "c")
    assert caught.value.message_dict == {
        "local_part": ["The plan's limit of 2 accounts is reached."]
    }
    assert _count(org) == _real(org) == 2
    mailbox_delete(actor=ACTOR, mailbox=Mailbox.objects.get(domain=second, local_part="b"))
    _create(first, "c")  # a deleted account frees its place
    assert _count(org) == _real(org) == 2


def _in_thread(target: Callable[[], None], results: list, name: str) -> threading.Thread:
    def run() -> None:
        try:
            target()
            results.append((name, "created"))
        except ValidationError as exc:
            results.append((name, " ".join(exc.messages)))
        finally:
            connection.close()

    thread = threading.Thread(target=run, name=name)
    thread.start()
    return thread


@pytest.mark.django_db(transaction=True)  # real commits by two connections
def test_two_workers_racing_for_the_last_free_account_one_wins(domain_name: str) -> None:
    """Worker A takes the last place and holds its transaction open; worker B, on another
    domain of the organization (so the domain's row does not already serialise them), tries
    meanwhile. Counting committed mailboxes, B would see a free place and both would win."""
    org, first, second = _org(domain_name.split(".")[0], max_accounts=3)
    _create(first, "a")
    _create(second, "b")
    a_created, b_started = threading.Event(), threading.Event()
    results: list[tuple[str, str]] = []

    def worker_a() -> None:
        with transaction.atomic():
            _create(first, "last-a")
            a_created.set()
            b_started.wait(10)
            # B is now waiting for the organization's row (PostgreSQL) or for the database's
            # write lock (SQLite); give it time to get there before committing.
            threading.Event().wait(0.3)

    def worker_b() -> None:
        a_created.wait(10)
        b_started.set()
        _create(second, "last-b")

    threads = [_in_thread(worker_a, results, "a"), _in_thread(worker_b, results, "b")]
    for thread in threads:
        thread.join(30)
    assert sorted(results) == [
        ("a", "created"), ("b", "The plan's limit of 3 accounts is reached."),
    ]  # fmt: skip
    assert _count(org) == _real(org) == 3


@pytest.mark.django_db(transaction=True)
def test_many_workers_released_together_fill_exactly_the_free_places(domain_name: str) -> None:
    org, first, second = _org(domain_name.split(".")[0], max_accounts=3)
    _create(first, "a")
    go = threading.Barrier(4)
    results: list[tuple[str, str]] = []

    def worker(index: int) -> Callable[[], None]:
        def run() -> None:
            go.wait(10)
            _create(first if index % 2 else second, f"racer{index}")

        return run

    threads = [_in_thread(worker(i), results, f"w{i}") for i in range(4)]
    for thread in threads:
        thread.join(30)
    outcomes = sorted(outcome for _, outcome in results)
    assert outcomes == ["The plan's limit of 3 accounts is reached."] * 2 + ["created"] * 2
    assert _count(org) == _real(org) == 3
