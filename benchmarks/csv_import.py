"""A CSV import of 10,000 accounts, end to end: from the upload until every account is Online.

Runs the real loop: the upload is parsed and checked (imports.services.import_upload_create),
the import job is started; a real Celery worker (Redis broker) runs the job, which creates
each account with mailbox_create (passwords generated, SHA512-CRYPT), and the same worker
applies the domain to the node as the agent; the clock stops when the domain's applied
version covers every account (the panel shows them all Online). Target: <= 60 s.

Baseline in the same run: mailbox_create alone (in this process, chunked as the job does) and
the password hash alone, each for a sample of --baseline accounts on another domain,
extrapolated to the full count. The hash cost is settings.MAILBOX_HASH_ROUNDS (5000 by
default); --hash-rounds changes it for the whole run and the output says so.

    .venv/bin/python benchmarks/csv_import.py [--accounts 10000] [--mode valid_lines]
        [--database-url URL] [--hash-rounds N] [--baseline 1000] [--existing N] [--then N]

--existing N seeds N accounts into the domain first; --then N imports N more lines after the
first import, into the grown domain (issue 21 measured --accounts 1000 --then 9000): the job's
lines/s should not fall as the domain grows.
"""

from __future__ import annotations

import argparse
import os
import time

from bench_bed import live_loop

TARGET_SECONDS = 60.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--mode", default="valid_lines", choices=["valid_lines", "all_or_nothing"])
    parser.add_argument("--database-url", default="")
    parser.add_argument("--hash-rounds", type=int, default=0, help="0: the settings' default")
    parser.add_argument("--baseline", type=int, default=1000, help="accounts sampled")
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--existing", type=int, default=0, help="accounts already in the domain")
    parser.add_argument("--then", type=int, default=0, help="a second import of N lines after")
    args = parser.parse_args()
    if args.hash_rounds:
        os.environ["MAILBOX_HASH_ROUNDS"] = str(args.hash_rounds)  # the worker inherits it

    with live_loop(args.database_url) as bed:
        from django.conf import settings

        rounds = settings.MAILBOX_HASH_ROUNDS
        user, actor = _admin(bed)
        if args.existing:
            _seed(bed, args.existing)
        data = _csv(args.accounts)

        started = time.perf_counter()
        upload = _upload(actor, bed.domain, data)
        checked = time.perf_counter()
        job = _start(actor, upload, args.mode)
        finished = _wait_job(job, args.timeout)
        online = _wait_online(bed.domain, args.accounts, args.timeout)
        total = online - started

        second = _second_import(bed, actor, args) if args.then else None
        creates, hashes = _baseline(bed, args.baseline)

    n = args.accounts
    print(f"CSV import of {n:,} accounts ({args.mode}), SHA512-CRYPT at {rounds} rounds"
          f"{' (set by --hash-rounds)' if args.hash_rounds else ' (the default)'}")  # fmt: skip
    print(f"  upload parsed and checked  {checked - started:7.1f} s")
    made = finished - checked
    print(
        f"  job done (accounts made)   {finished - started:7.1f} s   {n / made:7.0f} lines/s "
        f"(the job alone, into a domain of {args.existing:,} accounts)"
    )
    print(f"  all Online on the node     {total:7.1f} s   {n / total:7.0f} accounts/s")
    if second is not None:
        job_seconds, online_seconds = second
        print(f"then {args.then:,} more lines into the domain of {n + args.existing:,}:")
        print(f"  job done (accounts made)   {job_seconds:7.1f} s   "
              f"{args.then / job_seconds:7.0f} lines/s")  # fmt: skip
        print(f"  all Online on the node     {online_seconds:7.1f} s   "
              f"{args.then / online_seconds:7.0f} accounts/s")  # fmt: skip
    print(f"baseline, same run, {args.baseline:,} accounts sampled, extrapolated to {n:,}:")
    print(f"  mailbox_create alone       {creates * n:7.1f} s   {1 / creates:7.0f} accounts/s")
    print(f"  password hash alone        {hashes * n:7.1f} s   {1 / hashes:7.0f} accounts/s")
    verdict = "met" if total <= TARGET_SECONDS else "NOT met"
    print(f"target {TARGET_SECONDS:.0f} s: {verdict} ({total:.1f} s)")
    del user


def _admin(bed):  # type: ignore[no-untyped-def]
    from django.contrib.auth import get_user_model

    from organizations.models import Membership, Role
    from security.audit import Actor

    user = get_user_model().objects.create_user("bench-admin", password="bench-admin-pw-1")
    Membership.objects.create(user=user, organization=bed.domain.organization, role=Role.ADMIN)
    return user, Actor.for_user(user)


def _seed(bed, count: int) -> None:  # type: ignore[no-untyped-def]
    """Accounts already in the domain (bulk INSERT, see account_scale.py), applied."""
    from account_scale import seed_accounts
    from bench_bed import wait_applied
    from django.db import transaction

    from provisioning.services import domain_bump

    seed_accounts(bed.domain, count, first=100_000)  # not the file's user00000...
    with transaction.atomic():
        domain_bump(bed.domain)
    wait_applied()


def _second_import(bed, actor, args) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """--then: N more lines into the same domain, timed like the first (job, all Online)."""
    upload = _upload(actor, bed.domain, _csv(args.then, first=args.accounts))
    started = time.perf_counter()
    job = _start(actor, upload, args.mode)
    finished = _wait_job(job, args.timeout)
    online = _wait_online(bed.domain, args.accounts + args.then, args.timeout)
    return finished - started, online - started


def _csv(count: int, first: int = 0) -> bytes:
    lines = ["address;first_name;last_name;quota;services;forward_to;password"]
    lines += [f"user{i:05d};First{i};Last{i};;;;" for i in range(first, first + count)]
    return ("\ufeff" + "\r\n".join(lines) + "\r\n").encode()


def _upload(actor, domain, data: bytes):  # type: ignore[no-untyped-def]
    from imports.services import import_upload_create

    upload = import_upload_create(actor=actor, domain=domain, filename="bench.csv", data=data)
    if upload.errors:
        raise SystemExit(f"the benchmark file was rejected: {upload.errors[:3]}")
    return upload


def _start(actor, upload, mode: str):  # type: ignore[no-untyped-def]
    from imports.services import import_start

    return import_start(actor=actor, upload=upload, mode=mode)


def _wait_job(job, timeout: float) -> float:  # type: ignore[no-untyped-def]
    from jobs.models import Job

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        fresh = Job.objects.get(pk=job.pk)
        if fresh.finished:
            if fresh.failed:
                raise SystemExit(f"the import failed: {fresh.result}")
            return time.perf_counter()
        time.sleep(0.1)
    raise SystemExit("the import job did not finish in time")


def _wait_online(domain, count: int, timeout: float) -> float:  # type: ignore[no-untyped-def]
    from django.db.models import Max

    from domains.models import Domain
    from mailboxes.models import Mailbox

    accounts = Mailbox.objects.filter(domain=domain, local_part__startswith="user")
    if accounts.count() != count:
        raise SystemExit(f"{accounts.count()} accounts made, {count} expected")
    newest = accounts.aggregate(v=Max("changed_version"))["v"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if Domain.objects.values_list("applied_version", flat=True).get(pk=domain.pk) >= newest:
            return time.perf_counter()
        time.sleep(0.05)
    raise SystemExit("the node did not apply every account in time")


def _baseline(bed, sample: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """Seconds per account: mailbox_create in chunks of the job's size; the hash alone."""
    from django.db import transaction

    from domains.services import domain_create
    from imports.services import CHUNK
    from mailboxes.passwords import generate_password, hash_password
    from mailboxes.services import mailbox_create

    domain = domain_create(
        actor=bed.actor, name="baseline.test", organization=bed.domain.organization
    )
    passwords = [generate_password() for _ in range(sample)]
    started = time.perf_counter()
    for start in range(0, sample, CHUNK):
        with transaction.atomic():
            for i in range(start, min(start + CHUNK, sample)):
                mailbox_create(
                    actor=bed.actor, domain=domain, local_part=f"b{i}", password=passwords[i]
                )
    creates = (time.perf_counter() - started) / sample
    started = time.perf_counter()
    for password in passwords:
        hash_password(password)
    return creates, (time.perf_counter() - started) / sample


if __name__ == "__main__":
    main()
