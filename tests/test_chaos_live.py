"""Chaos test of the provisioning loop (issue 19): break things on purpose, then prove the
system recovered by itself.

A seeded random stream of a few hundred account changes over ~50 accounts in 3 domains runs
against a private bed of its own (a redis-server, a mail stack and a `celery worker -B`, so
stopping them never hurts other tests), while the test SIGKILLs the worker and starts it again,
stops Redis (losing every queued message), stops and starts the mail stack, and SIGKILLs the
agent in the middle of a large apply. Meanwhile it samples the account list's status against
the node agent's memory, and after each kill checks that every node file is whole. In the end,
with only beat's reconcile to recover, every account behaves over the wire exactly as the
database says. The seed is printed; CHAOS_SEED=<seed> replays a run.
"""

from __future__ import annotations

import contextlib
import fcntl
import imaplib
import json
import os
import random
import shutil
import smtplib
import sqlite3
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from celery._state import _register_app
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from domains.models import Domain
from domains.services import domain_create, domain_update_settings
from mailboxes import services
from mailboxes.models import Mailbox, MailboxState
from mailboxes.passwords import hash_password
from mailboxes.selectors import mailbox_list
from organizations.services import organization_create
from provisioning.mailstack.controller import MailStack
from provisioning.models import MailNode
from provisioning.node.paths import NodePaths
from provisioning.node.state import AccountState, DomainState
from provisioning.node.usage import UsageStore
from provisioning.policy.daemon import CounterStore
from provisioning.services import domain_bump
from security.audit import Actor
from tempusmail.celery import app as celery_app
from tests.bed import RedisServer, Worker
from tests.conftest import TEST_BROKER, _database_url
from tests.mailclient import HOST, INTERNET, imap_login, pop3_login, smtp_auth, wait_until

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(
        os.geteuid() != 0 or not shutil.which("postfix") or not shutil.which("redis-server"),
        reason="needs root, Postfix/Dovecot and redis-server",
    ),
]

ACTOR = Actor(label="chaos")
CHANGES = 300  # the stream: the first creates, then random changes
START_ACCOUNTS = 36
MAX_ACCOUNTS = 50
NAMES = [f"u{i:02d}" for i in range(64)]  # a small pool, so deleted addresses come back
BALLAST = 600  # accounts that make every apply of the first domain a large one
QUOTAS = [0, 20 * 1024**2, 100 * 1024**2, 3 * 1024**3]
CONVERGE_SECONDS = 45.0


# --- the private bed -----------------------------------------------------------------------


@dataclass
class Bed:
    root: Path
    stack: MailStack
    redis: RedisServer
    worker: Worker
    node: MailNode

    @property
    def ports(self) -> dict[str, int]:
        return self.stack.ports

    @property
    def paths(self) -> NodePaths:
        return NodePaths(self.root)


def _use_broker(url: str) -> None:
    # As conftest does for the session: a new connection pool, and the app registered again.
    celery_app.conf.broker_url = url
    celery_app.close()
    _register_app(celery_app)


@pytest.fixture
def bed(transactional_db: None) -> Iterator[Bed]:
    server = RedisServer()
    server.start()
    # Short and world-traversable: unix socket paths, and Dovecot's users must reach the files.
    root = Path(tempfile.mkdtemp(prefix="tm-chaos-"))
    root.chmod(0o755)
    node = MailNode.objects.create(name=f"chaos{os.getpid()}")
    stack = MailStack(
        root,
        map_type=settings.MAILNODE_MAP_TYPE,
        usage=UsageStore(url=server.url(12), prefix=f"tm/{node.name}/"),
        sending=CounterStore(server.url(11), "tm/"),
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tempusmail.settings",
        "DATABASE_URL": _database_url(),
        "CELERY_BROKER_URL": server.url(15),
        "MAILNODE_DIR": str(root),
        "MAILNODE_MAP_TYPE": settings.MAILNODE_MAP_TYPE,
        "DEFAULT_MAIL_NODE": node.name,
        "MAILNODE_REDIS_URL": server.url(12),
        "SENDING_REDIS_URL": server.url(11),
        # Recovery within the test's time: reconcile every second, a lost send after 2 s.
        "PROVISIONING_RECONCILE_SECONDS": "1",
        "PROVISIONING_RESEND_AFTER_SECONDS": "2",
        "MAILBOX_HASH_ROUNDS": str(settings.MAILBOX_HASH_ROUNDS),
    }
    (root / "worker-logs").mkdir()  # kept with the node's files under KEEP_TEST_NODE=1
    worker = Worker(env, root / "worker-logs", queues=f"panel,{node.queue}")
    _use_broker(server.url(15))
    celery_app.conf.task_always_eager = False
    try:
        stack.start()
        worker.start()
        yield Bed(root=root, stack=stack, redis=server, worker=worker, node=node)
    finally:
        worker.kill()
        stack.stop()
        server.stop()
        celery_app.conf.task_always_eager = True
        _use_broker(TEST_BROKER)
        if not os.environ.get("KEEP_TEST_NODE"):
            shutil.rmtree(root, ignore_errors=True)


# --- node files: never half-written -------------------------------------------------------


def _map_lookups(paths: NodePaths, source: Path, keys: list[str]) -> dict[str, str]:
    """Look every key up in the indexed map, as Postfix would (cdb has no listing)."""
    table = f"{settings.MAILNODE_MAP_TYPE}:{source}"
    proc = subprocess.run(
        ["postmap", "-c", str(paths.postfix_dir), "-q", "-", table],
        input="".join(f"{key}\n" for key in keys),
        capture_output=True,
        text=True,
    )
    assert proc.returncode in (0, 1) and not proc.stderr, f"{source}: unreadable: {proc.stderr}"
    return dict(line.split("\t", 1) for line in proc.stdout.splitlines())


def _read(path: Path) -> str | None:
    try:
        return path.read_text("utf-8")
    except FileNotFoundError:
        return None  # removed by the agent since the folder was listed


def assert_node_files_whole(
    bed: Bed, *, converged: bool = False, compile_sieve: bool = True
) -> None:
    """Every file Postfix, Dovecot, the policy service and the agent read parses completely.

    Temporary files a killed write left behind (".tmp.*", ".new.*") are not checked: no
    daemon reads them, each file is read by its exact name or the agent skips dot files."""
    paths = bed.paths
    for shard in (paths.dovecot_dir / "users.d").glob("*/[!.]*"):
        if (text := _read(shard)) is None:
            continue
        assert text.endswith("\n"), f"{shard} is cut short"
        for line in text.splitlines():
            fields = line.split(":")
            assert len(fields) >= 8 and "@" in fields[0], f"{shard}: broken line {line!r}"
            assert fields[1].startswith("{SHA512-CRYPT}$6$"), f"{shard}: broken hash"
    for source in paths.maps_dir.glob("[!.]*"):
        if source.suffix or (text := _read(source)) is None:
            continue
        lines = [line.split(None, 1) for line in text.splitlines()]
        assert all(len(pair) == 2 for pair in lines), f"{source}: a broken line"
        found = _map_lookups(paths, source, [key for key, _ in lines])
        # The source is renamed into place just after the indexed map: between the two a
        # crash leaves an older source beside a newer map, each whole. Once converged, equal.
        if converged:
            assert found == dict(lines), f"{source}: the indexed map differs from its source"
    with contextlib.closing(
        sqlite3.connect(f"file:{paths.dovecot_refusals_db}?mode=ro", uri=True)
    ) as db:
        # SQLite 3.40 reports "NULL value in <table>.<column>" for any WITHOUT ROWID table
        # whose NOT NULL column is outside the key, NULL or not: the NULLs are counted below.
        damage = [r for (r,) in db.execute("PRAGMA integrity_check") if not r.startswith("NULL")]
        assert damage in ([], ["ok"]), f"refusals.sqlite is damaged: {damage}"
        nulls = "SELECT count(*) FROM refused WHERE domain IS NULL OR address IS NULL"
        assert db.execute(nulls).fetchone() == (0,)
    for limits in paths.policy_limits_dir.glob("[!.]*.json"):
        if (text := _read(limits)) is not None:
            json.loads(text)
    for memory in (paths.agent_dir / "domains").glob("[!.]*.json"):
        if (text := _read(memory)) is not None:
            DomainState.from_json(json.loads(text))
    if compile_sieve:
        _compile_sieve_scripts(paths)


def _compile_sieve_scripts(paths: NodePaths) -> None:
    """Pigeonhole's compiler over a copy of each domain's autoresponder scripts (a copy: the
    .svbin files beside the originals belong to the mail user)."""
    for folder in paths.sieve_admin_dir.glob("[!.]*/"):
        with tempfile.TemporaryDirectory() as copy:
            for script in folder.glob("[!.]*.sieve"):
                if (text := _read(script)) is not None:
                    (Path(copy) / script.name).write_text(text, "utf-8")
            proc = subprocess.run(
                ["sievec", "-c", str(paths.dovecot_conf), copy], capture_output=True, text=True
            )
            assert proc.returncode == 0, f"{folder}: a script does not compile: {proc.stderr}"


def agent_memory(bed: Bed, domain: str) -> DomainState | None:
    path = bed.paths.agent_dir / "domains" / f"{domain}.json"
    try:
        return DomainState.from_json(json.loads(path.read_text("utf-8")))
    except FileNotFoundError:
        return None


def apply_in_progress(bed: Bed) -> bool:
    """The agent holds its node lock for the whole of an apply (and only then)."""
    lock = bed.paths.agent_dir / "lock"
    if not lock.exists():
        return False
    with open(lock) as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


# --- the stream of changes -----------------------------------------------------------------


@dataclass
class Chaos:
    bed: Bed
    rng: random.Random
    domains: list[Domain]
    passwords: dict[int, list[str]] = field(default_factory=dict)  # mailbox id -> history
    gone: dict[str, str] = field(default_factory=dict)  # deleted address -> its last password
    counter: int = 0
    samples: int = 0
    online_probes: int = 0

    def password(self) -> str:
        self.counter += 1
        return f"Chaos-{self.rng.randrange(10**9):09d}-{self.counter}!"

    def mailboxes(self, **filters) -> list[Mailbox]:
        ids = [d.pk for d in self.domains]
        return list(
            Mailbox.objects.filter(domain_id__in=ids, **filters)
            .exclude(local_part__startswith="ballast")
            .exclude(local_part="probe")
            .select_related("domain", "domain__organization")
            .order_by("pk")
        )

    def domain(self) -> Domain:
        return Domain.objects.get(pk=self.rng.choice(self.domains).pk)

    def create(self) -> None:
        domain = self.domain()
        taken = set(Mailbox.objects.filter(domain=domain).values_list("local_part", flat=True))
        free = [n for n in NAMES if n not in taken]
        local = self.rng.choice(free)
        password = self.password()
        mailbox = services.mailbox_create(
            actor=ACTOR, domain=domain, local_part=local, password=password,
            quota_bytes=self.rng.choice(QUOTAS),
        )  # fmt: skip
        self.passwords[mailbox.pk] = [password]
        self.gone.pop(mailbox.address, None)

    def change(self) -> str:
        boxes = self.mailboxes()
        count = len(boxes)
        ops: list[tuple[str, float]] = [
            ("create", 3.0 if count < MAX_ACCOUNTS else 0.0),
            ("password", 3.0), ("services", 3.0), ("quota", 1.5), ("forwards", 2.0),
            ("autoresponder", 2.0), ("deactivate", 1.5), ("reactivate", 1.5),
            ("delete", 1.2 if count > 30 else 0.2), ("catchall", 0.8),
        ]  # fmt: skip
        op = self.rng.choices([o for o, _ in ops], weights=[w for _, w in ops])[0]
        if op == "create":
            self.create()
            return op
        box = self.rng.choice(boxes)
        if op == "password":
            password = self.password()
            services.mailbox_set_password(actor=ACTOR, mailbox=box, password=password)
            self.passwords[box.pk].append(password)
        elif op == "services":
            switch = self.rng.choice(["imap_enabled", "pop3_enabled", "smtp_enabled"])
            changes = {switch: not getattr(box, switch)}
            services.mailbox_update(actor=ACTOR, mailbox=box, changes=changes)
        elif op == "quota":
            quota = self.rng.choice([q for q in QUOTAS if q != box.quota_bytes])
            services.mailbox_update(actor=ACTOR, mailbox=box, changes={"quota_bytes": quota})
        elif op == "forwards":
            others = [b.address for b in boxes if b.pk != box.pk]
            targets = self.rng.sample(others, self.rng.choice([0, 1, 1, 2]))
            changes = {"forward_to": targets, "forward_keep_copy": self.rng.random() < 0.6}
            services.mailbox_update(actor=ACTOR, mailbox=box, changes=changes)
        elif op == "autoresponder":
            now = timezone.now()
            changes = (
                {"autoreply_enabled": False}
                if box.autoreply_enabled
                else {
                    "autoreply_enabled": True,
                    "autoreply_subject": f"Away {box.address} {self.counter}",
                    "autoreply_body": "Back soon.",
                    "autoreply_start": now - timedelta(hours=1),
                    "autoreply_end": now + timedelta(days=2),
                }
            )
            self.counter += 1
            services.mailbox_update(actor=ACTOR, mailbox=box, changes=changes)
        elif op == "deactivate":
            if box.state == MailboxState.ACTIVE:
                services.mailbox_deactivate(actor=ACTOR, mailbox=box)
        elif op == "reactivate":
            if box.state != MailboxState.ACTIVE:
                services.mailbox_reactivate(actor=ACTOR, mailbox=box)
        elif op == "delete":
            if box.domain.catchall_target == box.address:
                domain_update_settings(
                    actor=ACTOR, domain=box.domain, changes={"catchall_target": ""}
                )
            self.delete(box)
        elif op == "catchall":
            mates = [b.address for b in boxes if b.domain_id == box.domain_id]
            target = self.rng.choice([*mates, ""])
            domain = Domain.objects.get(pk=box.domain_id)
            domain_update_settings(actor=ACTOR, domain=domain, changes={"catchall_target": target})
        return op

    def delete(self, box: Mailbox) -> None:
        pk, address = box.pk, box.address  # (delete() clears the pk)
        services.mailbox_delete(actor=ACTOR, mailbox=box)
        self.gone[address] = self.passwords.pop(pk)[-1]

    # --- what the account list says, against what the node has --------------------------

    def check_status(self) -> None:
        """Online/Offline only once the node applied the account as the database has it;
        Updating whenever the node is behind. The list is read first, then the node: the
        node only moves forward, and nothing else changes accounts meanwhile."""
        self.samples += 1
        for stale in self.domains:
            domain = Domain.objects.get(pk=stale.pk)
            rows = list(mailbox_list(domain).exclude(local_part__startswith="ballast"))
            memory = agent_memory(self.bed, domain.name)
            applied = {a.local_part: a for a in memory.accounts} if memory else {}
            node_version = memory.version if memory else 0
            for row in rows:
                updating = row.status_rank == 0
                if node_version < row.changed_version:
                    assert updating, (
                        f"{row.address} shown {row.sync_status} at v{row.changed_version} "
                        f"while the node has v{node_version}"
                    )
                if updating:
                    continue
                account = applied.get(row.local_part)
                assert account is not None and account.id == row.pk, (
                    f"{row.address} shown {row.sync_status} but the node does not have it"
                )
                assert _served(account) == _wanted(row), (
                    f"{row.address} shown {row.sync_status} but the node has an older state"
                )

    def probe_an_online_login(self) -> None:
        """Over the wire: an account the list shows Online logs in with its latest password."""

        def online() -> list[Mailbox]:
            boxes = self.mailboxes(state=MailboxState.ACTIVE, imap_enabled=True)
            return [b for b in boxes if b.changed_version <= b.domain.applied_version]

        deadline = time.monotonic() + 5
        while not (candidates := online()):
            if time.monotonic() > deadline:
                return  # none is Online now (a dead worker, say): nothing to contradict
            time.sleep(0.1)
        box = self.rng.choice(candidates)
        password = self.passwords[box.pk][-1]
        # Dovecot re-reads a changed passwd-file within a second of the write.
        assert wait_until(lambda: imap_login(self.bed.ports, box.address, password), 3), (
            f"{box.address} is shown Online but its latest password does not log in"
        )
        self.online_probes += 1


def _served(account: AccountState) -> tuple:
    """What the node serves of an account, in the terms the database has them."""
    return (
        account.password_hash, account.active, account.quota_bytes, account.forward_to,
        account.forward_keep_copy if account.forward_to else None,
        account.autoreply, *(s not in account.denied_services for s in ("imap", "pop3", "smtp")),
    )  # fmt: skip


def _wanted(row: Mailbox) -> tuple:
    return (
        row.password_hash, row.state == MailboxState.ACTIVE, row.quota_bytes,
        tuple(row.forward_to), row.forward_keep_copy if row.forward_to else None,
        row.autoreply_enabled, row.imap_enabled, row.pop3_enabled, row.smtp_enabled,
    )  # fmt: skip


# --- the final word: over the wire ---------------------------------------------------------


def _maildir_messages(bed: Bed, address: str) -> list[EmailMessage]:
    local, domain = address.split("@")
    maildir = bed.root / "mail" / domain / local / "Maildir"
    found = []
    for folder in ("new", "cur"):
        for path in (maildir / folder).glob("*") if (maildir / folder).is_dir() else []:
            with contextlib.suppress(FileNotFoundError):  # moved from new/ to cur/ meanwhile
                found.append(message_from_bytes(path.read_bytes(), policy=policy.default))
    return found


def _has(bed: Bed, address: str, token: str) -> bool:
    return any(token in (m["Subject"] or "") for m in _maildir_messages(bed, address))


def _send(ports: dict[str, int], sender: str, to: str, subject: str) -> int:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, to, subject
    msg.set_content("chaos over the wire\n")
    with smtplib.SMTP(HOST, ports["smtp"], timeout=10, source_address=(INTERNET, 0)) as smtp:
        smtp.ehlo("mx.internet.test")
        smtp.mail(sender)
        code, _ = smtp.rcpt(to)
        if code >= 400:
            return code
        return smtp.data(msg.as_bytes())[0]


def _quota_kib(ports: dict[str, int], user: str, password: str) -> int | None:
    with imaplib.IMAP4(HOST, ports["imap"], timeout=10) as imap:
        imap.login(user, password)
        _, data = imap.getquotaroot("INBOX")
        imap.logout()
    for line in data[1] if len(data) > 1 else []:
        text = line.decode() if isinstance(line, bytes) else str(line)
        if "STORAGE" in text:
            return int(text.split("STORAGE")[1].split()[1].rstrip(")"))
    return None


def check_over_the_wire(chaos: Chaos, probe: str) -> list[str]:
    """Every account against the database; returns what does not match (empty: all good)."""
    bed, ports = chaos.bed, chaos.bed.ports
    boxes = chaos.mailboxes()
    by_address = {b.address: b for b in boxes}
    problems: list[str] = []
    run = uuid.uuid4().hex[:8]

    def logins(box: Mailbox) -> list[str]:
        latest, *older = reversed(chaos.passwords[box.pk])
        active = box.state == MailboxState.ACTIVE
        out = []
        for name, login, on in (
            ("IMAP", imap_login, box.imap_enabled), ("POP3", pop3_login, box.pop3_enabled),
            ("SMTP AUTH", smtp_auth, box.smtp_enabled),
        ):  # fmt: skip
            if login(ports, box.address, latest) != (active and on):
                out.append(f"{box.address}: {name} login with the latest password "
                           f"{'refused' if active and on else 'accepted'}")  # fmt: skip
            if older and login(ports, box.address, older[0]):
                out.append(f"{box.address}: {name} accepts the previous password")
        if active and box.imap_enabled and box.quota_bytes:
            kib = _quota_kib(ports, box.address, latest)
            if kib != -(-box.quota_bytes // 1024):
                out.append(f"{box.address}: IMAP quota {kib} KiB, database {box.quota_bytes} B")
        return out

    def gone(address: str, password: str) -> list[str]:
        if imap_login(ports, address, password) or pop3_login(ports, address, password):
            return [f"{address} (deleted) still logs in"]
        return []

    # A refused login costs 0.5 s (Dovecot) to 1 s (Postfix): most of the time is waiting.
    with ThreadPoolExecutor(max_workers=16) as pool:
        checks = [pool.submit(logins, b) for b in boxes]
        checks += [pool.submit(gone, a, p) for a, p in chaos.gone.items() if a not in by_address]
        for check in checks:
            problems += check.result()

        # Delivery: one message from the probe to each account; it lands where the database
        # says, and the autoresponders answer the probe.
        codes = dict(
            zip(
                boxes,
                pool.map(
                    lambda b: _send(ports, probe, b.address, f"chaos {run} {b.address}"), boxes
                ),
                strict=True,
            )
        )
        unknown = {}
        for domain in chaos.domains:
            address = f"nobody-{run}@{domain.name}"
            unknown[Domain.objects.get(pk=domain.pk)] = _send(
                ports, probe, address, f"chaos {run} {address}"
            )

    catchalls = {d.name: d.catchall_target for d in unknown}
    expected: dict[str, set[str]] = {}  # subject token -> the mailboxes that must store it
    replies: list[str] = []  # autoresponder subjects the probe must get
    for box, code in codes.items():
        token = f"chaos {run} {box.address}"
        if box.state != MailboxState.ACTIVE:
            if code < 500:
                problems.append(f"{box.address} is deactivated but accepted mail ({code})")
            continue
        if code != 250:
            problems.append(f"{box.address} is active but refused mail ({code})")
            continue
        stores = _stores(box.address, by_address, catchalls)
        if stores is not None:
            expected[token] = stores
        if box.autoreply_enabled and (not box.forward_to or box.forward_keep_copy):
            replies.append(box.autoreply_subject)
    for domain, code in unknown.items():
        token = f"chaos {run} nobody-{run}@{domain.name}"
        stores = _stores(f"nobody-{run}@{domain.name}", by_address, catchalls)
        if not domain.catchall_target:
            if code < 500:
                problems.append(f"{domain.name} has no catch-all but accepted unknown mail")
        elif code != 250:
            problems.append(f"{domain.name}: mail to its catch-all was refused ({code})")
        elif stores is not None:
            expected[token] = stores

    def found() -> dict[str, set[str]]:
        """token -> the mailboxes that store it now"""
        where: dict[str, set[str]] = {}
        for box in boxes:
            for msg in _maildir_messages(bed, box.address):
                subject = msg["Subject"] or ""
                if subject.startswith(f"chaos {run} "):
                    where.setdefault(subject, set()).add(box.address)
        return where

    def arrived() -> bool:
        where = found()
        return all(stores <= where.get(token, set()) for token, stores in expected.items())

    wait_until(arrived, timeout=10, every=0.3)

    def answered() -> set[str]:
        # (Bounces of forwards to deleted or deactivated accounts are automatic mail too.)
        return {
            m["Subject"]
            for m in _maildir_messages(bed, probe)
            if m["Auto-Submitted"] and (m["Subject"] or "").startswith("Away ")
        }

    wait_until(lambda: set(replies) <= answered(), timeout=5, every=0.3)
    time.sleep(0.5)  # a copy that should not be, or a stray reply, would be there by now
    where = found()
    for token, stores in sorted(expected.items()):
        if stores != where.get(token, set()):
            problems.append(f"{token!r} stored in {sorted(where.get(token, []))}, "
                            f"the database says {sorted(stores)}")  # fmt: skip
    got = answered()
    problems += [f"no autoresponder reply {s!r}" for s in sorted(set(replies) - got)]
    problems += [f"a reply nobody should send: {s!r}" for s in sorted(got - set(replies))]
    return problems


def _stores(
    address: str,
    boxes: dict[str, Mailbox],
    catchalls: dict[str, str],
    seen: frozenset[str] = frozenset(),
) -> set[str] | None:
    """The mailboxes that end up storing mail accepted for address, as the database says:
    forwards followed (a copy kept or not), unknown addresses to their domain's catch-all,
    nothing for a deactivated account. None when forwards loop (Postfix bounces those)."""
    if address in seen:
        return None
    box = boxes.get(address)
    if box is None:
        target = catchalls.get(address.split("@")[1], "")
        return _stores(target, boxes, catchalls, seen | {address}) if target else set()
    if box.state != MailboxState.ACTIVE:
        return set()
    if not box.forward_to:
        return {address}
    stores = {address} if box.forward_keep_copy else set()
    for target in box.forward_to:
        more = _stores(target, boxes, catchalls, seen | {address})
        if more is None:
            return None
        stores |= more
    return stores


# --- the test ------------------------------------------------------------------------------


def _add_ballast(domain: Domain, count: int) -> None:
    """Many accounts in one domain, so that each apply of it takes a while (one hash: the
    password rules are not what this is about)."""
    hashed = hash_password("Ballast-password-1!")
    now = timezone.now()
    with transaction.atomic():
        version = domain_bump(domain)
        Mailbox.objects.bulk_create(
            Mailbox(domain=domain, local_part=f"ballast{i:05d}", password_hash=hashed,
                    password_changed_at=now, changed_version=version)
            for i in range(count)
        )  # fmt: skip


def _converged(domains: list[Domain]) -> bool:
    return not Domain.objects.filter(pk__in=[d.pk for d in domains]).lagging().exists()


def test_chaos_the_loop_recovers_by_itself(bed: Bed) -> None:
    seed = int(os.environ.get("CHAOS_SEED") or random.SystemRandom().randrange(10**6))
    print(f"\nchaos seed: {seed} (CHAOS_SEED={seed} replays this run)")
    started = time.monotonic()
    rng = random.Random(seed)
    org = organization_create(actor=ACTOR, name=f"Chaos {seed}")
    tag = f"c{os.getpid()}-{seed}"
    domains = [
        domain_create(actor=ACTOR, name=f"{tag}-{i}.test", organization=org, node=bed.node)
        for i in range(3)
    ]
    _add_ballast(domains[0], BALLAST)
    probe_password = "Tester-secret-77!"
    probe = services.mailbox_create(
        actor=ACTOR, domain=domains[1], local_part="probe", password=probe_password
    ).address
    chaos = Chaos(bed=bed, rng=rng, domains=domains)
    for _ in range(START_ACCOUNTS):
        chaos.create()

    events: dict[int, Callable[[], None]] = {}
    log: list[str] = []

    def note(what: str) -> None:
        log.append(f"{time.monotonic() - started:6.1f}s {what}")
        print(log[-1])  # shown with a failure, wherever it happens

    def kill_worker() -> None:
        bed.worker.kill()
        note("worker SIGKILLed")
        assert_node_files_whole(bed)

    def start_worker() -> None:
        bed.worker.start()
        note("worker started")

    def stop_redis() -> None:
        bed.redis.stop()
        note("redis stopped")
        # Logins and delivery do not need the panel's Redis.
        chaos.probe_an_online_login()

    def start_redis() -> None:
        bed.redis.start()
        note("redis started (empty: every queued message is lost)")

    def stop_stack() -> None:
        bed.stack.stop()
        note("mail stack stopped")

    def start_stack() -> None:
        bed.stack.start()
        note("mail stack started")
        assert_node_files_whole(bed)

    def kill_mid_apply() -> None:
        # A change to the large domain that removes an account: its apply writes every file,
        # then waits a second for Dovecot before moving the home (the agent's slowest path).
        # Once the node has caught up, the next apply to start is that one.
        # A bound, not a speed: on a loaded CI machine the stack's restart just before can
        # take the node a while to catch up from.
        assert wait_until(
            lambda: _converged(domains) and not apply_in_progress(bed), CONVERGE_SECONDS
        ), "the node did not catch up before the mid-apply kill"
        victims = [b for b in chaos.mailboxes() if b.domain_id == domains[0].pk]
        victims = [b for b in victims if b.domain.catchall_target != b.address]
        chaos.delete(rng.choice(victims))
        assert wait_until(lambda: apply_in_progress(bed), timeout=15, every=0.005)
        time.sleep(rng.uniform(0.0, 0.6))
        during = apply_in_progress(bed)
        bed.worker.kill()
        memory = agent_memory(bed, domains[0].name)
        note(f"worker SIGKILLed {'during' if during else 'right after'} an apply of "
             f"{BALLAST}+ accounts (node memory v{memory.version if memory else 0})")  # fmt: skip
        assert_node_files_whole(bed)

    step = (CHANGES - START_ACCOUNTS) // 8
    base = START_ACCOUNTS
    events[base + step] = kill_worker
    events[base + step + 12] = start_worker
    events[base + 2 * step] = stop_redis
    events[base + 2 * step + 5] = start_redis
    events[base + 4 * step] = stop_stack
    events[base + 4 * step + 15] = start_stack
    events[base + 5 * step] = kill_mid_apply
    events[base + 5 * step + 6] = start_worker

    ops: dict[str, int] = {}
    for n in range(START_ACCOUNTS, CHANGES):
        if n in events:
            events[n]()
        op = chaos.change()
        ops[op] = ops.get(op, 0) + 1
        if n % 6 == 0:
            chaos.check_status()
            if n % 12 == 0:
                assert_node_files_whole(bed, compile_sieve=False)  # while the worker writes them
                if bed.stack.status()["running"]:
                    chaos.probe_an_online_login()
    note(f"{CHANGES} changes made: {sorted(ops.items())}")

    # Recovery: nothing but beat's reconcile and the worker's own retries.
    deadline = time.monotonic() + CONVERGE_SECONDS
    while not _converged(domains):
        chaos.check_status()
        if time.monotonic() > deadline:
            lagging = Domain.objects.filter(pk__in=[d.pk for d in domains]).lagging()
            rows = lagging.values("name", "applied_version", "desired_version", "apply_error")
            pytest.fail(f"seed {seed}: not converged by itself: {list(rows)}\n" + "\n".join(log))
        time.sleep(0.2)
    note("converged")
    chaos.check_status()
    assert_node_files_whole(bed, converged=True)
    time.sleep(1.1)  # Dovecot re-reads passwd-files changed in the last second
    problems = check_over_the_wire(chaos, probe)
    note(f"checked {len(chaos.mailboxes())} accounts and {len(chaos.gone)} deleted over the wire")
    print(f"status samples: {chaos.samples}, Online logins probed: {chaos.online_probes}")
    assert not problems, f"seed {seed}:\n" + "\n".join(problems)
