"""The live loop for benchmarks: a scratch database, Redis, a private mail stack, a worker.

with live_loop(database_url="") as bed:   # Django is set up inside
    ...bed.ports, bed.domain, bed.actor...
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
# Flushed at the start: a database of its own (BENCH_BROKER_URL when several people share Redis).
BROKER = os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/14")


@dataclass
class Bed:
    ports: dict[str, int]
    domain: Any
    actor: Any
    work: Path


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def summary(name: str, values: list[float]) -> str:
    import statistics

    return (
        f"{name:<34} p50 {statistics.median(values) * 1000:7.0f} ms"
        f"   p95 {percentile(values, 95) * 1000:7.0f} ms   max {max(values) * 1000:7.0f} ms"
    )


def wait_applied() -> None:
    from django.core.management import call_command

    with open(os.devnull, "w") as quiet:
        call_command("provision", "wait", "--timeout", "300", stdout=quiet)


@contextmanager
def live_loop(database_url: str = "") -> Iterator[Bed]:
    work = Path(tempfile.mkdtemp(prefix="tempusmail-bench-"))
    work.chmod(0o755)
    node = work / "node"
    os.environ.update(
        DJANGO_SETTINGS_MODULE="tempusmail.settings",
        DATABASE_URL=database_url or f"sqlite:///{work / 'bench.sqlite3'}",
        CELERY_BROKER_URL=BROKER,
        MAILNODE_DIR=str(node),
    )
    # Benchmark clients poll logins from 127.0.0.1 until an account exists: the password guard
    # (issue 27) would count those failures and ban the benchmark itself.
    os.environ.setdefault("GUARD_EXEMPT_NETWORKS", "127.0.0.1/32")
    import django

    django.setup()
    import redis
    from django.core.management import call_command

    from domains.services import domain_create
    from organizations.services import organization_create
    from provisioning.mailstack import MailStack
    from security.audit import Actor
    from tests.bed import Worker

    call_command("migrate", verbosity=0)
    redis.Redis.from_url(BROKER).flushdb()
    stack = MailStack(node)
    ports = stack.start()
    worker = Worker(dict(os.environ), work, queues="panel,node.local")
    worker.start()
    try:
        actor = Actor(label="benchmark")
        org = organization_create(actor=actor, name="Bench")
        domain = domain_create(actor=actor, name="bench.test", organization=org)
        wait_applied()
        yield Bed(ports=ports, domain=domain, actor=actor, work=work)
    finally:
        worker.stop()
        stack.stop()
