"""Shared fixtures: a private mail stack, a real Celery worker process, and factories.

The whole session points the local mail node at one private state folder, so no test ever
writes into the developer's var/mailstack. Tests that need the live loop ask for `live`: it
starts (once) Postfix + Dovecot on loopback high ports and a Celery worker process consuming
Redis, and switches this process from eager tasks to that broker.
"""

from __future__ import annotations

import atexit
import itertools
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from celery._state import _register_app  # no public way to undo close()
from django.conf import settings

from tempusmail.celery import app as celery_app
from tests.bed import RedisServer, Worker
from tests.otp import FakeClock

pytest_plugins = ["tests.browser"]

REPO = Path(__file__).resolve().parent.parent


def _private_redis_per_xdist_worker() -> None:
    """`make test` runs the suite in two processes (pytest-xdist), each with its own test bed:
    each also gets its own redis-server, so one bed's broker, usage keys and sent counters
    never reach the other's worker or assertions."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return
    server = RedisServer()
    server.start()
    atexit.register(server.stop)
    for name, db in (
        ("TEST_CELERY_BROKER_URL", 15),
        ("TEST_MAILNODE_REDIS_URL", 12),
        ("TEST_SENDING_REDIS_URL", 11),
        ("TEST_REDIS_URL", 10),  # tests' own scratch database
    ):
        os.environ[name] = server.url(db)


_private_redis_per_xdist_worker()
TEST_BROKER = os.environ.get("TEST_CELERY_BROKER_URL", "redis://127.0.0.1:6379/15")
_names = itertools.count(1)


@pytest.fixture(scope="session")
def node_root() -> Iterator[Path]:
    # Not pytest's tmp_path: its folders are 0700, and Dovecot's auth and mail processes run
    # as other users that must reach the files inside.
    root = Path(tempfile.mkdtemp(prefix="tempusmail-test-node-"))
    root.chmod(0o755)
    yield root
    if not os.environ.get("KEEP_TEST_NODE"):  # set it to read the daemons' logs afterwards
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session", autouse=True)
def _local_node_in_private_folder(node_root: Path) -> None:
    settings.MAILNODE_DIR = node_root


@pytest.fixture(scope="session", autouse=True)
def _celery_on_the_test_broker() -> None:
    # Tasks run eagerly except in `live` tests, which only switch eagerness: a connection
    # pool made while the broker was another one would otherwise outlive the switch (seen:
    # messages of a live test published to the in-memory broker after an earlier live test).
    celery_app.conf.broker_url = TEST_BROKER
    celery_app.close()
    # close() also takes the app off Celery's list of active apps: a @shared_task module
    # imported after this (first by a live server's thread) would then never register.
    _register_app(celery_app)


@pytest.fixture(scope="session", autouse=True)
def _node_usage_in_test_redis() -> None:
    # Dovecot of the test bed writes usage into a Redis database of the tests' own (the test
    # worker's broker is db 15), rendered into dovecot.conf when the mail stack starts.
    settings.MAILNODE_REDIS_URL = os.environ.get(
        "TEST_MAILNODE_REDIS_URL", "redis://127.0.0.1:6379/12"
    )


@pytest.fixture(scope="session", autouse=True)
def _sent_counters_in_test_redis() -> None:
    # The test bed's policy service counts sent mail in a Redis database of the tests' own
    # (passed to it when the mail stack starts); the panel's "sent in 24 h" reads the same.
    settings.SENDING_REDIS_URL = os.environ.get(
        "TEST_SENDING_REDIS_URL", "redis://127.0.0.1:6379/11"
    )
    # Counters are keyed by mailbox id, and every session's test database starts its ids at 1
    # again: a prefix per session keeps an earlier run's counts (kept 24 h) out of this one.
    settings.SENDING_REDIS_PREFIX = f"tm-test-{os.getpid()}-{int(time.time())}/"
    # The password guard of the test bed counts there too. It stays on (asked at every login),
    # but 127.0.0.0-15, the sources of the other tests' logins (127.0.0.1, "the internet"
    # 127.0.0.9, the "remote" 127.0.0.2: wrong passwords and logins polled until an account
    # exists), are exempt, so a long suite never bans them. The guard's own tests run a node
    # of their own without exemptions (tests/test_guard_live.py).
    settings.GUARD_REDIS_URL = settings.SENDING_REDIS_URL
    settings.GUARD_REDIS_PREFIX = settings.SENDING_REDIS_PREFIX
    settings.GUARD_EXEMPT_NETWORKS = ["127.0.0.0/28"]


@pytest.fixture(scope="session", autouse=True)
def _fast_panel_password_hashing() -> None:
    # Panel users only (mailbox hashes stay SHA512-CRYPT): PBKDF2 would cost ~0.3 s a user.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """security.clock.now under the test's control (throttles, 2FA grace, re-auth windows)."""
    fake = FakeClock()
    monkeypatch.setattr("security.clock.now", fake)
    return fake


@pytest.fixture
def domain_name() -> str:
    """A fresh domain name per test: the node agent remembers domains across tests."""
    return f"t{os.getpid()}-{next(_names)}-{int(time.time() * 1000) % 10**8}.test"


# --- the live test bed -------------------------------------------------------------------


@dataclass
class Stack:
    root: Path
    ports: dict[str, int]


@pytest.fixture(scope="session")
def mailstack(node_root: Path) -> Iterator[Stack]:
    from provisioning.mailstack.controller import MailStack

    stack = MailStack(node_root, map_type=settings.MAILNODE_MAP_TYPE)
    ports = stack.start()
    try:
        yield Stack(root=node_root, ports=ports)
    finally:
        stack.stop()


def _database_url() -> str:
    from django.db import connection

    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    user = db.get("USER") or ""
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{auth}{db.get('HOST') or '127.0.0.1'}{port}/{db['NAME']}"


@pytest.fixture(scope="session")
def worker(
    mailstack: Stack, django_db_setup: None, django_db_blocker: object, tmp_path_factory
) -> Iterator[Worker]:
    import redis

    redis.Redis.from_url(TEST_BROKER).flushdb()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tempusmail.settings",
        "DATABASE_URL": _database_url(),
        "CELERY_BROKER_URL": TEST_BROKER,
        "MAILNODE_DIR": str(mailstack.root),
        "MAILNODE_MAP_TYPE": settings.MAILNODE_MAP_TYPE,
        "DEFAULT_MAIL_NODE": settings.DEFAULT_MAIL_NODE,
        "PROVISIONING_RECONCILE_SECONDS": "1",
        "PROVISIONING_RESEND_AFTER_SECONDS": "3",
        "MAILBOX_HASH_ROUNDS": str(settings.MAILBOX_HASH_ROUNDS),
    }
    queues = f"panel,node.{settings.DEFAULT_MAIL_NODE}"
    w = Worker(env, tmp_path_factory.mktemp("worker"), queues=queues)
    w.start()
    yield w
    w.stop()


@pytest.fixture
def live(mailstack: Stack, worker: Worker, transactional_db: None) -> Iterator[Stack]:
    """The live loop: committed data, tasks through Redis to the worker, real daemons."""
    worker.start()  # a test before may have stopped it
    celery_app.conf.task_always_eager = False
    try:
        yield mailstack
    finally:
        # The worker shares the test database: left running, its beat would reconcile the
        # domains of the (eager) tests that follow and change what they assert on.
        worker.stop()
        celery_app.conf.task_always_eager = True
