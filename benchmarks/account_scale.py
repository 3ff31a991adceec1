"""What creating, updating and deleting one account costs at the 100th and at the 1,000,000th
account of an organization (issue 21: within 1.2x), with a plan that limits accounts.

Two organizations in one scratch database, same plan (limit 2,000,000): a small one seeded
with 99 accounts and a large one seeded with 999,999 (each with the audit row its creation
would have written), by INSERT ... SELECT over a series (not through the services: only the
services' cost afterwards is measured). Then, interleaved so both see the same machine, each
round creates one account in each organization with mailbox_create, renames it with
mailbox_update and deletes it with mailbox_delete, each call in its own transaction.

Baselines, same run: the password hash alone (part of every create), and the query the plan
check ran before the counter (COUNT of the organization's mailboxes) at both sizes.

    .venv/bin/python benchmarks/account_scale.py [--small 100] [--large 1000000] [--rounds 200]
        [--database-url postgres://postgres@127.0.0.1:5432/postgres] [--smoke]

Without --database-url the database is a fresh SQLite file in a temporary folder; with a
PostgreSQL URL a scratch database (see account_list.py) is created and dropped. --smoke: 100
vs 2,000 accounts, 5 rounds (the test suite runs it).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import warnings
from pathlib import Path
from typing import Any

import account_list  # also puts the repository on the path
from account_list import database_name, on_scratch_database

account_list.SCRATCH_DB = "tempusmail_bench_scale"  # its own scratch database


def seed_accounts(domain: Any, count: int, *, first: int = 1) -> None:
    """count accounts user<first>... in domain, with their create audit rows, in a few
    statements; then the organization's counter says how many it has."""
    from django.db import connection
    from django.utils import timezone

    from mailboxes.models import Mailbox
    from mailboxes.passwords import hash_password
    from organizations.models import Organization
    from security.models import AuditEvent

    now = timezone.now()
    template = Mailbox(
        domain=domain, local_part="x", password_hash=hash_password("bench-password-1"),
        password_changed_at=now, quota_bytes=1024**3, changed_version=1,
    )  # fmt: skip
    _insert_series(template, "local_part", "'user' || i", first, count)
    event = AuditEvent(
        actor_label="seed", action="mailbox.create", object_type="mailboxes.mailbox",
        object_id="0", object_repr="seed", organization=domain.organization, domain=domain,
    )  # fmt: skip
    _insert_series(event, "object_repr", "'user' || i", first, count)
    Organization.objects.filter(pk=domain.organization_id).update(account_count=first - 1 + count)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE" if connection.vendor == "sqlite" else "VACUUM ANALYZE")


def _insert_series(obj: Any, varying: str, expression: str, first: int, count: int) -> None:
    """INSERT count copies of obj's row, column varying set by expression of i (first...)."""
    from django.db import connection

    fields = [
        f for f in type(obj)._meta.concrete_fields if not f.primary_key and f.column != varying
    ]
    values = [f.get_db_prep_save(f.pre_save(obj, True), connection) for f in fields]
    quote = connection.ops.quote_name
    columns = ", ".join([*(quote(f.column) for f in fields), quote(varying)])
    select = ", ".join(["%s"] * len(fields) + [expression])
    table = quote(type(obj)._meta.db_table)
    last = first + count - 1
    if connection.vendor == "postgresql":
        sql = f"INSERT INTO {table} ({columns}) SELECT {select} FROM generate_series(%s, %s) i"  # noqa: S608 (names from the models)
    else:
        series = "WITH RECURSIVE s(i) AS (SELECT %s UNION ALL SELECT i + 1 FROM s WHERE i < %s)"
        sql = f"{series} INSERT INTO {table} ({columns}) SELECT {select} FROM s"  # noqa: S608
        values = [first, last, *values]
    params = [*values, first, last] if connection.vendor == "postgresql" else values
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _organization(name: str, plan: Any) -> Any:
    from domains.services import domain_create
    from organizations.services import organization_create
    from security.audit import Actor

    actor = Actor(label="benchmark")
    org = organization_create(actor=actor, name=name, plan=plan)
    return domain_create(actor=actor, name=f"{name.lower()}.example", organization=org)


def _timed(call: Any, *args: Any, **kwargs: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    result = call(*args, **kwargs)
    return time.perf_counter() - started, result


def measure(domains: dict[str, Any], rounds: int) -> dict[str, dict[str, list[float]]]:
    from mailboxes.services import mailbox_create, mailbox_delete, mailbox_update
    from security.audit import Actor

    actor = Actor(label="benchmark")
    times: dict[str, dict[str, list[float]]] = {
        size: {"create": [], "update": [], "delete": []} for size in domains
    }
    for i in range(rounds + 1):  # round 0 warms up (first queries, template caches)
        for size, domain in domains.items():
            took: dict[str, float] = {}
            took["create"], mailbox = _timed(
                mailbox_create, actor=actor, domain=domain, local_part=f"new{i}",
                password="Bench-password-1", first_name="New",
            )  # fmt: skip
            took["update"], _ = _timed(
                mailbox_update, actor=actor, mailbox=mailbox, changes={"first_name": "N"}
            )
            took["delete"], _ = _timed(mailbox_delete, actor=actor, mailbox=mailbox)
            if i:
                for op, seconds in took.items():
                    times[size][op].append(seconds)
    return times


def old_limit_check(domain: Any, repeat: int = 5) -> float:
    """The COUNT the plan check ran per create before the counter (median seconds)."""
    from mailboxes.models import Mailbox

    rows = Mailbox.objects.filter(domain__organization=domain.organization)
    return statistics.median(_timed(rows.count)[0] for _ in range(repeat))


def hash_alone(repeat: int) -> float:
    from mailboxes.passwords import hash_password

    return statistics.median(_timed(hash_password, "Bench-password-1")[0] for _ in range(repeat))


def run(args: argparse.Namespace, database_url: str, node_dir: Path) -> None:
    os.environ.update(
        DJANGO_SETTINGS_MODULE="tempusmail.settings",
        DATABASE_URL=database_url,
        MAILNODE_DIR=str(node_dir),
        DEBUG="false",
    )
    # Nothing reaches a mail node: without a broker the sends run eagerly into node_dir, so
    # every create also applies its domain; keep that out of the figures (no broker, no task).
    os.environ["CELERY_BROKER_URL"] = "memory://localhost/"
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from organizations.models import Plan

    warnings.filterwarnings("ignore", "No directory at", UserWarning)
    call_command("migrate", verbosity=0)
    plan = Plan.objects.create(name="Bench", max_accounts=2 * args.large)
    domains = {"small": _organization("Small", plan), "large": _organization("Large", plan)}
    started = time.perf_counter()
    seed_accounts(domains["small"], args.small - 1)
    seed_accounts(domains["large"], args.large - 1)
    seeded = time.perf_counter() - started
    print(
        f"database: {database_name(connection)}; organizations of {args.small - 1:,} and "
        f"{args.large - 1:,} accounts seeded in {seeded:.1f} s; {args.rounds} rounds"
    )

    times = measure(domains, args.rounds)
    print(f"{'p50 per call':<14} {f'{args.small:,}th':>12} {f'{args.large:,}th':>12} {'ratio':>7}")
    for op in ("create", "update", "delete"):
        small = statistics.median(times["small"][op]) * 1000
        large = statistics.median(times["large"][op]) * 1000
        print(f"{op:<14} {small:9.2f} ms {large:9.2f} ms {large / small:6.2f}x")
    print("baselines, same run:")
    print(f"  password hash alone (in every create)   {hash_alone(args.rounds) * 1000:7.2f} ms")
    for size, domain in domains.items():
        count = args.small if size == "small" else args.large
        old = old_limit_check(domain) * 1000
        print(f"  old plan check (COUNT) at the {count:,}th  {old:7.2f} ms  (no longer run)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", type=int, default=100)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--database-url", default="", help="a PostgreSQL server to use")
    parser.add_argument("--smoke", action="store_true", help="100 vs 2,000 accounts, 5 rounds")
    args = parser.parse_args()
    if args.smoke:
        args.small, args.large, args.rounds = 100, 2000, 5

    on_scratch_database(
        args.database_url, "tempusmail-bench-scale-", lambda url, node: run(args, url, node)
    )


if __name__ == "__main__":
    main()
