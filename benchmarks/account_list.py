"""Server time of the account list on a domain with 100,000 accounts (target: p95 <= 100 ms).

Seeds a scratch database with bulk inserts (not through the services: only the list's reads
are measured): one organization, one domain, N accounts sharing one valid SHA512-CRYPT hash,
about half of them with reported usage. Then it times, with django.test.Client as a logged-in
staff user, the list's first page, a search, the sorts by storage and by last access, and page
500. Printed beside them, measured in the same run: a trivial page of the same domain (the
provisioning tab), i.e. what the session, middleware, access check and base template cost,
so the list's own share is visible. "Where the time goes" lists each case's slowest queries.

    .venv/bin/python benchmarks/account_list.py [--accounts 100000] [--repeat 30]
        [--database-url postgres://postgres@127.0.0.1:5432/postgres] [--explain] [--keep]

Without --database-url the database is a fresh SQLite file in a temporary folder. With a
PostgreSQL URL, a scratch database tempusmail_bench is created on that server (the URL's own
database is only used to connect) and dropped at the end.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser
    from django.db.backends.base.base import BaseDatabaseWrapper
    from django.test import Client

    from domains.models import Domain

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

SCRATCH_DB = "tempusmail_bench"
TARGET_MS = 100.0


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


@contextmanager
def scratch_postgres(url: str, *, keep: bool = False) -> Iterator[str]:
    """Create tempusmail_bench on the server of url; yield its URL; drop it afterwards."""
    import psycopg
    from psycopg import sql

    drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(SCRATCH_DB))
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(drop)
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(SCRATCH_DB)))
    try:
        yield urlunsplit(urlsplit(url)._replace(path=f"/{SCRATCH_DB}"))
    finally:
        from django.db import connections

        connections.close_all()
        if keep:
            print(f"kept the database {SCRATCH_DB} for a closer look; drop it when done")
        else:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(drop)


def on_scratch_database(database_url: str, prefix: str, run: Callable[[str, Path], None]) -> None:
    """run(database URL, node folder) on a scratch database: one made on the PostgreSQL server
    of database_url and dropped afterwards, else an SQLite file; both in a temporary folder."""
    work = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        if database_url:
            with scratch_postgres(database_url) as url:
                run(url, work / "node")
        else:
            run(f"sqlite:///{work / 'bench.sqlite3'}", work / "node")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def seed(accounts: int) -> tuple[Domain, AbstractBaseUser]:
    """Bulk-insert the organization, domain, accounts and usage; return (domain, staff user)."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from domains.models import Domain
    from mailboxes.models import Mailbox, MailboxState, MailboxUsage
    from mailboxes.passwords import hash_password
    from organizations.models import Organization, Plan
    from provisioning.services import default_node

    rng = random.Random(42)
    plan = Plan.objects.create(name="Bench", max_quota_bytes=50 * 1024**3)
    organization = Organization.objects.create(name="Bench Hosting", plan=plan)
    # In sync: every account Online (or Offline), as on a settled production domain.
    domain = Domain.objects.create(
        name="big.example", organization=organization, node=default_node(),
        desired_version=2, sent_version=2, applied_version=2, applied_at=timezone.now(),
    )  # fmt: skip
    password_hash = hash_password("bench-password-1")  # once: ~10 ms per hash
    first = ["Anna", "Bruno", "Chiara", "David", "Elena", "Franz", "Giulia", "Hans", "Ines"]
    last = ["Rossi", "Müller", "Dubois", "García", "Bianchi", "Schmidt", "Martin", "Weber"]
    now = timezone.now()
    batch = 5000
    for start in range(1, accounts + 1, batch):
        Mailbox.objects.bulk_create(
            Mailbox(
                domain=domain,
                local_part=f"user{i}",
                first_name=rng.choice(first),
                last_name=rng.choice(last),
                password_hash=password_hash,
                password_changed_at=now,
                quota_bytes=1024**3,
                changed_version=rng.choice((1, 2)),
                state=MailboxState.DEACTIVATED if i % 50 == 0 else MailboxState.ACTIVE,
            )
            for i in range(start, min(start + batch, accounts + 1))
        )
    ids = list(Mailbox.objects.filter(domain=domain).values_list("id", flat=True))
    reported = [pk for pk in ids if rng.random() < 0.5]
    for start in range(0, len(reported), batch):
        MailboxUsage.objects.bulk_create(
            MailboxUsage(
                mailbox_id=pk,
                storage_bytes=rng.randrange(0, 1024**3),
                messages=rng.randrange(0, 20000),
                last_login_at=now - timedelta(seconds=rng.randrange(0, 90 * 86400)),
                sent_24h=rng.randrange(0, 300),
            )
            for pk in reported[start : start + batch]
        )
    staff = get_user_model().objects.create_user("bench-staff", is_staff=True)
    return domain, staff


def analyze() -> None:
    """Statistics and, on PostgreSQL, the visibility map, as autovacuum leaves a settled table
    (without it a COUNT(*) cannot be answered from the index alone)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE" if connection.vendor == "sqlite" else "VACUUM ANALYZE")


def cases(domain_id: int) -> list[tuple[str, str]]:
    from django.urls import reverse

    accounts = reverse("mailbox_list", args=[domain_id])
    return [
        ("baseline: provisioning tab", reverse("domain_provisioning", args=[domain_id])),
        ("first page", accounts),
        ("search ?q=user12345", f"{accounts}?q=user12345"),
        ("sort by storage", f"{accounts}?sort=storage"),
        ("sort by storage, descending", f"{accounts}?sort=-storage"),
        ("sort by last access", f"{accounts}?sort=last_access"),
        ("page 500", f"{accounts}?page=500"),
    ]


def time_requests(client: Client, url: str, repeat: int) -> list[float]:
    response = client.get(url)  # warm-up: template loading, first-use caches
    assert response.status_code == 200, (url, response.status_code)
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get(url)
        timings.append(time.perf_counter() - started)
        assert response.status_code == 200
    return timings


def slowest_queries(client: Client, url: str, explain: bool) -> list[str]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        client.get(url)
    queries = sorted(captured.captured_queries, key=lambda q: -float(q["time"]))
    total = sum(float(q["time"]) for q in queries) * 1000
    lines = [f"{len(queries)} queries, {total:.1f} ms in SQL"]
    for query in queries[:2]:
        sql = " ".join(query["sql"].split())
        lines.append(f"{float(query['time']) * 1000:7.1f} ms  {sql[:150]}")
        if explain:
            with connection.cursor() as cursor:
                prefix = "EXPLAIN QUERY PLAN " if connection.vendor == "sqlite" else "EXPLAIN "
                cursor.execute(prefix + query["sql"])
                lines += ["           " + " ".join(map(str, row)) for row in cursor.fetchall()]
    return lines


def database_name(connection: BaseDatabaseWrapper) -> str:
    if connection.vendor == "sqlite":
        import sqlite3

        return f"SQLite {sqlite3.sqlite_version}"
    connection.ensure_connection()
    major, minor = divmod(connection.pg_version, 10000)
    return f"PostgreSQL {major}.{minor}"


def run(args: argparse.Namespace, database_url: str, node_dir: Path) -> None:
    os.environ.update(
        DJANGO_SETTINGS_MODULE="tempusmail.settings",
        DATABASE_URL=database_url,
        MAILNODE_DIR=str(node_dir),
        DEBUG="false",
    )
    os.environ.pop("CELERY_BROKER_URL", None)  # nothing is provisioned; stay eager and local
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from mailboxes.views import PAGE_SIZE

    if args.accounts < 500 * PAGE_SIZE:
        raise SystemExit(f"page 500 needs at least {500 * PAGE_SIZE} accounts")
    # whitenoise: no collectstatic in a scratch run, and no static file is requested.
    warnings.filterwarnings("ignore", "No directory at", UserWarning)
    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    domain, staff = seed(args.accounts)
    analyze()
    seeded = time.perf_counter() - started
    print(f"database: {database_name(connection)}, {args.accounts:,} accounts "
          f"seeded in {seeded:.1f} s, {args.repeat} requests per case")  # fmt: skip

    client = Client(HTTP_HOST="localhost")  # no test environment: no context capturing
    client.force_login(staff)
    results = []
    print(f"{'case':<30} {'p50':>8} {'p95':>8} {'p95 - baseline':>15}")
    baseline_p95 = 0.0
    for name, url in cases(domain.pk):
        timings = time_requests(client, url, args.repeat)
        p50, p95 = statistics.median(timings) * 1000, percentile(timings, 95) * 1000
        if name.startswith("baseline"):
            baseline_p95 = p95
            print(f"{name:<30} {p50:>5.1f} ms {p95:>5.1f} ms")
            continue
        verdict = "ok" if p95 <= TARGET_MS else "OVER TARGET"
        own = p95 - baseline_p95
        print(f"{name:<30} {p50:>5.1f} ms {p95:>5.1f} ms {own:>12.1f} ms  {verdict}")
        results.append((name, url, p95))
    met = all(p95 <= TARGET_MS for _, _, p95 in results)
    print(f"target p95 <= {TARGET_MS:.0f} ms for every case: {'met' if met else 'NOT met'}")

    print("\nwhere the time goes (one more request each, slowest queries first):")
    for name, url, _ in results:
        print(f"- {name}: " + "\n    ".join(slowest_queries(client, url, args.explain)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--database-url", default="", help="a PostgreSQL server to use")
    parser.add_argument("--explain", action="store_true", help="print the slowest plans")
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL scratch db")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="tempusmail-bench-list-"))
    try:
        if args.database_url:
            if not args.database_url.startswith(("postgres://", "postgresql://")):
                parser.error("--database-url must be a PostgreSQL URL")
            with scratch_postgres(args.database_url, keep=args.keep) as url:
                run(args, url, work / "node")
        else:
            run(args, f"sqlite:///{work / 'bench.sqlite3'}", work / "node")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
