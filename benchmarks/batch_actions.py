"""Panel time of the account list's batch actions on 1,000 accounts (issue 21: <= 5 s each):
deactivate, reactivate, then delete, each a job run by mailboxes.batch.batch_run as its
Celery task would (a chunk per transaction, one audit row per account, one bump per chunk).

The domain is seeded with --accounts accounts plus --others that are not selected (by the
INSERT of account_scale.py). The clock runs from the job's start to its finish; the mail
node is left out (no broker: nothing is sent), as the panel's share is what is measured.

Baseline, same run: the one-account services the batch used before (mailbox_deactivate,
mailbox_reactivate, mailbox_delete, each its own transaction) on a sample of --baseline
other accounts, extrapolated to --accounts.

    .venv/bin/python benchmarks/batch_actions.py [--accounts 1000] [--others 10000]
        [--baseline 100] [--database-url postgres://postgres@127.0.0.1:5432/postgres] [--smoke]
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from pathlib import Path
from typing import Any

import account_list  # also puts the repository on the path
from account_list import database_name, on_scratch_database
from account_scale import seed_accounts

account_list.SCRATCH_DB = "tempusmail_bench_batch"  # its own scratch database
TARGET_SECONDS = 5.0


def run_batch(domain: Any, action: str, ids: list[int]) -> tuple[float, str]:
    from jobs.models import Job
    from mailboxes.batch import batch_run, batch_start
    from security.audit import Actor

    job = batch_start(actor=Actor(label="benchmark"), domain=domain, action=action, ids=ids)
    started = time.perf_counter()
    batch_run(str(job.pk))
    seconds = time.perf_counter() - started
    return seconds, Job.objects.get(pk=job.pk).result["summary"]


def one_by_one(domain: Any, ids: list[int]) -> dict[str, float]:
    """Seconds per account through the single-account services."""
    from mailboxes.models import Mailbox
    from mailboxes.services import mailbox_deactivate, mailbox_delete, mailbox_reactivate
    from security.audit import Actor

    actor = Actor(label="benchmark")
    per_account = {}
    for name, service in (("deactivate", mailbox_deactivate), ("reactivate", mailbox_reactivate),
                          ("delete", mailbox_delete)):  # fmt: skip
        accounts = list(Mailbox.objects.filter(pk__in=ids).select_related("domain__organization"))
        started = time.perf_counter()
        for mailbox in accounts:
            service(actor=actor, mailbox=mailbox)
        per_account[name] = (time.perf_counter() - started) / len(accounts)
    return per_account


def run(args: argparse.Namespace, database_url: str, node_dir: Path) -> None:
    os.environ.update(
        DJANGO_SETTINGS_MODULE="tempusmail.settings",
        DATABASE_URL=database_url,
        MAILNODE_DIR=str(node_dir),
        DEBUG="false",
        CELERY_BROKER_URL="memory://localhost/",  # sends go nowhere: the panel's time only
    )
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from domains.services import domain_create
    from mailboxes.models import Mailbox
    from organizations.models import Plan
    from organizations.services import organization_create
    from security.audit import Actor

    warnings.filterwarnings("ignore", "No directory at", UserWarning)
    call_command("migrate", verbosity=0)
    actor = Actor(label="benchmark")
    plan = Plan.objects.create(name="Bench", max_accounts=10 * (args.accounts + args.others))
    org = organization_create(actor=actor, name="Bench", plan=plan)
    domain = domain_create(actor=actor, name="bench.example", organization=org)
    total = args.accounts + args.others + args.baseline
    seed_accounts(domain, total)
    ids = list(Mailbox.objects.filter(domain=domain).order_by("pk").values_list("pk", flat=True))
    picked, sample = ids[: args.accounts], ids[-args.baseline :]
    print(f"database: {database_name(connection)}; a domain of {total:,} accounts, "
          f"batches of {args.accounts:,}")  # fmt: skip

    results = []
    for action in ("deactivate", "reactivate", "delete"):
        seconds, summary = run_batch(domain, action, picked)
        results.append(seconds)
        print(f"  batch {action:<11} {seconds:6.2f} s  {args.accounts / seconds:7.0f} accounts/s"
              f"   ({summary})")  # fmt: skip
    per_account = one_by_one(domain, sample)
    print(f"baseline, same run: one account per transaction through the single-account "
          f"services, {args.baseline} accounts, extrapolated to {args.accounts:,}:")  # fmt: skip
    for action, seconds in per_account.items():
        print(f"  one by one {action:<11} {seconds * args.accounts:6.2f} s  "
              f"{1 / seconds:7.0f} accounts/s")  # fmt: skip
    worst = max(results)
    verdict = "met" if worst <= TARGET_SECONDS else "NOT met"
    print(f"target {TARGET_SECONDS:.0f} s per batch of 1,000: {verdict} (slowest {worst:.2f} s"
          f"{'' if args.accounts == 1000 else f' for {args.accounts:,}'})")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--others", type=int, default=10_000)
    parser.add_argument("--baseline", type=int, default=100)
    parser.add_argument("--database-url", default="", help="a PostgreSQL server to use")
    parser.add_argument("--smoke", action="store_true", help="100 accounts, 20 in the baseline")
    args = parser.parse_args()
    if args.smoke:
        args.accounts, args.others, args.baseline = 100, 100, 20

    on_scratch_database(
        args.database_url, "tempusmail-bench-batch-", lambda url, node: run(args, url, node)
    )


if __name__ == "__main__":
    main()
