"""Server time of the audit pages on a trail of 500,000 events (target: p95 <= 100 ms).

Seeds a scratch database with bulk inserts (only the pages' reads are measured): two
organizations, three domains, 2,000 accounts and N events over a year, from 20 actors, half of
them in the measured organization. Then it times, with django.test.Client as a logged-in
staff user, the organization, domain, account and all-events pages: newest first, filtered by
actor, by action family and by a month, and 20 pages deep through the "Older" cursor. Printed
beside them, measured in the same run: a trivial page of the same domain (what the session,
middleware, access check and base template cost), and what a COUNT(*) of the organization's
events costs, i.e. what a numbered paginator would add to every page.

    .venv/bin/python benchmarks/audit_pages.py [--events 500000] [--repeat 20]
        [--database-url postgres://postgres@127.0.0.1:5432/postgres]

Without --database-url the database is a fresh SQLite file in a temporary folder. With a
PostgreSQL URL, a scratch database tempusmail_bench_audit is created on that server and
dropped at the end.
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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))
from account_list import database_name, percentile, slowest_queries  # noqa: E402

SCRATCH_DB = "tempusmail_bench_audit"
TARGET_MS = 100.0
ACTIONS = ["mailbox.update", "mailbox.update", "mailbox.update", "mailbox.set_password",
           "mailbox.deactivate", "mailbox.reactivate", "webmail_preferences.update",
           "domain.update_settings", "mailbox.create"]  # fmt: skip


@contextmanager
def scratch_postgres(url: str) -> Iterator[str]:
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
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(drop)


@dataclass
class Seeded:
    organization: Any
    domain: Any
    mailbox: Any
    staff: Any


def seed(events: int) -> Seeded:
    """Bulk-insert tenants, accounts and events; return what the cases need."""
    from django.contrib.auth import get_user_model

    from domains.models import Domain
    from mailboxes.models import Mailbox
    from organizations.models import Organization
    from provisioning.services import default_node
    from security.models import AuditEvent

    rng = random.Random(42)
    node = default_node()
    big, rest = Organization.objects.bulk_create(
        [Organization(name="Big Hosting"), Organization(name="Rest")]
    )
    measured, second, other = Domain.objects.bulk_create(
        [Domain(name="big.test", organization=big, node=node),
         Domain(name="big2.test", organization=big, node=node),
         Domain(name="rest.test", organization=rest, node=node)]
    )  # fmt: skip
    boxes = Mailbox.objects.bulk_create(
        Mailbox(domain=domain, local_part=f"user{i}", password_hash="x")
        for domain, count in ((measured, 1000), (second, 200), (other, 800))
        for i in range(count)
    )
    by_domain = {d.pk: [m for m in boxes if m.domain_id == d.pk] for d in (measured, second, other)}
    actors = [f"admin{i}@big.test" for i in range(10)] + [f"admin{i}@rest" for i in range(10)]
    start = datetime(2025, 1, 1, tzinfo=UTC)
    rows = []
    own_actors = {big.pk: actors[:10], rest.pk: actors[10:]}
    for _ in range(events):
        domain = rng.choice((measured, measured, measured, second, other, other, other, other))
        mailbox = rng.choice(by_domain[domain.pk])
        action = rng.choice(ACTIONS)
        on_domain = action == "domain.update_settings"
        rows.append(AuditEvent(
            actor_label=rng.choice(own_actors[domain.organization_id]),
            ip_address=f"198.51.100.{rng.randrange(1, 255)}", action=action,
            object_type="domains.domain" if on_domain else "mailboxes.mailbox",
            object_id=str(domain.pk if on_domain else mailbox.pk),
            object_repr=domain.name if on_domain else f"{mailbox.local_part}@{domain.name}",
            organization_id=domain.organization_id, domain=domain,
            mailbox=None if on_domain else mailbox,
            changes={"before": {"first_name": ""}, "after": {"first_name": "Front desk"}},
        ))  # fmt: skip
    AuditEvent.objects.bulk_create(rows, batch_size=5000)
    # auto_now_add stamped them all "now": spread them over a year, in id order as in life,
    # 500 at a time (equal times within a batch, as a busy second has).
    step = timedelta(days=365) / events
    pks = list(AuditEvent.objects.order_by("pk").values_list("pk", flat=True))
    for first in range(0, len(pks), 500):
        chunk = pks[first : first + 500]
        AuditEvent.objects.filter(pk__in=chunk).update(created_at=start + first * step)
    staff = get_user_model().objects.create_user("bench-staff", is_staff=True)
    return Seeded(organization=big, domain=measured, mailbox=boxes[0], staff=staff)


def cases(seeded: Seeded) -> list[tuple[str, str]]:
    from django.urls import reverse

    from security.audit_selectors import PAGE_SIZE, cursor_of, events_for_domain

    org = reverse("organization_audit", args=[seeded.organization.pk])
    domain = reverse("domain_audit", args=[seeded.domain.pk])
    newest = events_for_domain(seeded.domain).order_by("-created_at", "-id")
    page_21 = urlencode({"before": cursor_of(newest[20 * PAGE_SIZE - 1])})
    return [
        ("baseline: provisioning tab", reverse("domain_provisioning", args=[seeded.domain.pk])),
        ("organization, newest", org),
        ("organization, one actor", f"{org}?actor=admin3%40big.test"),
        ("organization, action family", f"{org}?action=webmail_preferences"),
        ("organization, one month", f"{org}?since=2025-06-01&until=2025-06-30"),
        ("domain, newest", domain),
        ("domain, page 21", f"{domain}?{page_21}"),
        ("account, newest", reverse("mailbox_audit", args=[seeded.mailbox.pk])),
        ("all, newest", reverse("audit_all")),
        ("all, one actor", f"{reverse('audit_all')}?actor=admin7%40rest"),
    ]


def time_requests(client: Any, url: str, repeat: int) -> list[float]:
    timings = []
    for _ in range(repeat + 2):
        started = time.perf_counter()
        response = client.get(url)
        timings.append(time.perf_counter() - started)
        assert response.status_code == 200, (url, response.status_code)
    return timings[2:]  # the first requests warm caches and imports


def run(args: argparse.Namespace, database_url: str, node_dir: Path) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tempusmail.settings")
    os.environ.update(
        DATABASE_URL=database_url,
        MAILNODE_DIR=str(node_dir),
        DEBUG="false",
    )
    os.environ.pop("CELERY_BROKER_URL", None)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from security.models import AuditEvent

    warnings.filterwarnings("ignore", "No directory at", UserWarning)
    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    seeded = seed(args.events)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    print(f"database: {database_name(connection)}, {args.events:,} events seeded in "
          f"{time.perf_counter() - started:.1f} s, {args.repeat} requests per case")  # fmt: skip

    client = Client(HTTP_HOST="localhost")
    client.force_login(seeded.staff)
    print(f"{'case':<30} {'p50':>8} {'p95':>8} {'p95 - baseline':>15}")
    baseline = 0.0
    met = True
    measured = cases(seeded)
    for name, url in measured:
        timings = time_requests(client, url, args.repeat)
        p50, p95 = statistics.median(timings) * 1000, percentile(timings, 95) * 1000
        if name.startswith("baseline"):
            baseline = p95
            print(f"{name:<30} {p50:>5.1f} ms {p95:>5.1f} ms")
            continue
        met = met and p95 <= TARGET_MS
        verdict = "ok" if p95 <= TARGET_MS else "OVER TARGET"
        print(f"{name:<30} {p50:>5.1f} ms {p95:>5.1f} ms {p95 - baseline:>12.1f} ms  {verdict}")
    counts = []
    for _ in range(5):
        started = time.perf_counter()
        AuditEvent.objects.filter(organization=seeded.organization).count()
        counts.append(time.perf_counter() - started)
    print(f"{'(COUNT of the org events)':<30} {statistics.median(counts) * 1000:>5.1f} ms"
          "  what a numbered paginator would add to every page")  # fmt: skip
    print(f"target p95 <= {TARGET_MS:.0f} ms for every case: {'met' if met else 'NOT met'}")

    print("\nwhere the time goes (one more request each, slowest queries first):")
    for name, url in measured[1:]:
        print(f"- {name}: " + "\n    ".join(slowest_queries(client, url, args.explain)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=500_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--database-url", default="", help="a PostgreSQL server to use")
    parser.add_argument("--explain", action="store_true", help="print the slowest plans")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="tempusmail-bench-audit-"))
    try:
        if args.database_url:
            with scratch_postgres(args.database_url) as url:
                run(args, url, folder / "node")
        else:
            run(args, f"sqlite:///{folder / 'bench.sqlite3'}", folder / "node")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
