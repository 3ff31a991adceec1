"""Usage read-back (quota_clone and last_login in Redis -> node -> MailboxUsage) and retention.

The pure parts run without Redis or Dovecot; the live tests deliver and log in over the wire
against the test bed and read back through the real worker, as beat or an operator would.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.utils import timezone

from domains.models import Domain
from domains.services import domain_create
from mailboxes import services
from mailboxes.models import Mailbox, MailboxUsage
from organizations.services import organization_create
from provisioning import tasks, usage
from provisioning.node import usage as node
from provisioning.node.paths import NodePaths
from provisioning.node.state import AccountState, DomainState
from security.audit import Actor
from tests.mailclient import imap_login, inbox_subjects, pop3_login, send_inbound, wait_until

ACTOR = Actor(label="test")
PASSWORD = "correct horse 1"
HASH = "$6$rounds=5000$abcdefgh$" + "a" * 86
DAY = 86400.0


class FakeRedis:
    """The few Redis calls the node makes, on a dict."""

    def __init__(self, data: dict[str, Any] | None = None) -> None:
        self.data = {k: str(v).encode() for k, v in (data or {}).items()}
        self.mget_calls = 0

    def mget(self, keys: list[str]) -> list[bytes | None]:
        self.mget_calls += 1
        return [self.data.get(k) for k in keys]

    def delete(self, *keys: str) -> int:
        return sum(self.data.pop(k, None) is not None for k in keys)

    def pipeline(self, transaction: bool = True) -> FakeRedis:
        return self

    def set(self, key: str, value: object, nx: bool = False) -> None:
        if not (nx and key in self.data):
            self.data[key] = str(value).encode()

    def execute(self) -> None:
        pass


STORE = node.UsageStore(
    url=os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/14"), prefix="tm/n1/"
)


# --- the store: key names and Dovecot's dict URI ---------------------------------------------


def test_keys_are_namespaced_by_the_prefix() -> None:
    assert STORE.keys("a@x.test") == [
        "tm/n1/a@x.test/quota/storage",
        "tm/n1/a@x.test/quota/messages",
        "tm/n1/last-login/a@x.test/imap",
        "tm/n1/last-login/a@x.test/pop3",
        "tm/n1/last-login/a@x.test/managesieve",
    ]


def test_dovecot_dict_carries_ip_db_password_and_prefix() -> None:
    store = node.UsageStore(url="redis://:s3cret.pw@redis:6380/3", prefix="tm/mx1/")
    assert store.dovecot_dict(resolve={"redis": "10.0.0.7"}.__getitem__) == (
        "redis:host=10.0.0.7:port=6380:db=3:timeout_msecs=2000:password=s3cret.pw:prefix=tm/mx1/"
    )
    plain = node.UsageStore(url="redis://127.0.0.1", prefix="")
    assert plain.dovecot_dict() == "redis:host=127.0.0.1:port=6379:db=0:timeout_msecs=2000"


@pytest.mark.parametrize(
    ("url", "prefix"),
    [
        ("redis://127.0.0.1:6379/0", "tm:mx1:"),  # ':' splits Dovecot's dict URI
        ("redis://127.0.0.1:6379/0", "tm/%u/"),  # '%' is expanded by Dovecot
        ("redis://127.0.0.1:6379/0", "tm mx1"),
        ("rediss://127.0.0.1:6379/0", "tm/"),
        ("unix:///run/redis.sock", "tm/"),
        ("redis://127.0.0.1:6379/zero", "tm/"),
        ("redis://:pa:ss@127.0.0.1:6379/0", "tm/"),
        ("redis://:pa%25ss@127.0.0.1:6379/0", "tm/"),
        ("redis://user:pass@127.0.0.1:6379/0", "tm/"),  # no ACL users in Dovecot 2.3
    ],
)
def test_values_dovecot_cannot_take_are_refused(url: str, prefix: str) -> None:
    with pytest.raises(node.UsageConfigError):
        node.UsageStore(url=url, prefix=prefix)


def test_the_password_stays_out_of_error_messages() -> None:
    with pytest.raises(node.UsageConfigError) as error:
        node.UsageStore(url="rediss://:topsecret@127.0.0.1/0", prefix="")
    assert "topsecret" not in str(error.value)


def test_the_store_is_remembered_in_the_node_folder(tmp_path: Path) -> None:
    paths = NodePaths(tmp_path)
    assert node.UsageStore.load(paths) is None
    STORE.save(paths)
    assert node.UsageStore.load(paths) == STORE
    assert (tmp_path / node.STORE_FILE).stat().st_mode & 0o077 == 0  # may hold a password


# --- parsing what Redis and doveadm return -----------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "value"),
    [(b"13674", 13674), ("2", 2), (7, 7), (None, None), (b"", None), (b"12x", None),
     (b"-1", None)],
)  # fmt: skip
def test_parse_count(raw: Any, value: int | None) -> None:
    assert node.parse_count(raw) == value


def test_the_newest_login_key_gives_time_and_protocol() -> None:
    got = node.parse_usage("a@x.test", [b"446", b"1", b"1700000000", b"1700000100", None])
    assert got == node.Usage("a@x.test", 446, 1, 1700000100, "pop3")
    assert node.parse_usage("a@x.test", [None] * 5) == node.Usage("a@x.test", None, None)
    # A tie (same second) goes to the first service in LOGIN_SERVICES, deterministically.
    tie = node.parse_usage("a@x.test", [None, None, b"5", b"5", b"5"])
    assert (tie.last_login_at, tie.last_login_protocol) == (5, "imap")


def test_parse_mailbox_status_sums_every_mailbox_of_a_user() -> None:
    text = (
        "Username\tmailbox\tmessages\tvsize\n"
        "a@x.test\tINBOX\t1\t446\n"
        "a@x.test\tJunk\t2\t1000\n"
        "b@x.test\tINBOX\t0\t0\n"
        "c@x.test\tNames\twith\ttabs\t3\t30\n"
        "broken line\n"
    )
    assert node.parse_mailbox_status(text) == {
        "a@x.test": (1446, 3),
        "b@x.test": (0, 0),
        "c@x.test": (30, 3),
    }


def test_read_usage_batches_mget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(node, "BATCH", 2)
    redis = FakeRedis({"tm/n1/b@x.test/quota/storage": 5, "tm/n1/b@x.test/quota/messages": 1})
    got = node.read_usage(STORE, ["a@x.test", "b@x.test", "c@x.test"], redis)
    assert [(u.address, u.storage_bytes) for u in got] == [
        ("a@x.test", None),
        ("b@x.test", 5),
        ("c@x.test", None),
    ]
    assert redis.mget_calls == 2


def _remember(paths: NodePaths, name: str, *locals_: str) -> None:
    """What the agent keeps after applying a domain (agent/domains/<name>.json)."""
    state = DomainState(
        id=1,
        name=name,
        version=1,
        accounts=tuple(AccountState(id=i, local_part=lp, password_hash=HASH)
                       for i, lp in enumerate(locals_)),
    )  # fmt: skip
    folder = paths.agent_dir / "domains"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps(state.to_json()))


def test_node_usage_reads_every_account_the_agent_serves(tmp_path: Path) -> None:
    paths = NodePaths(tmp_path)
    _remember(paths, "x.test", "mail", "home", "never")
    _remember(paths, "y.test", "other")
    paths.home("x.test", "mail").mkdir(parents=True)
    paths.home("x.test", "home").mkdir(parents=True)
    redis = FakeRedis({
        "tm/n1/mail@x.test/quota/storage": 446, "tm/n1/mail@x.test/quota/messages": 1,
        "tm/n1/last-login/mail@x.test/imap": 1700000000,
    })  # fmt: skip
    got = {u.address: u for u in node.node_usage(paths, STORE, redis)}
    assert got["mail@x.test"] == node.Usage("mail@x.test", 446, 1, 1700000000, "imap")
    # A home but no key, and no Dovecot running here to count it: unknown, not zero.
    assert got["home@x.test"] == node.Usage("home@x.test", None, None)
    # No home: nothing was ever stored.
    assert got["never@x.test"] == node.Usage("never@x.test", 0, 0)
    assert got["other@y.test"] == node.Usage("other@y.test", 0, 0)


# --- retention ------------------------------------------------------------------------------


def _trash_name(address: str, moved_at: float) -> str:
    # As NodeAgent._move_home names them.
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(moved_at))
    return f"{address}.{stamp}.{int(moved_at * 1e9)}"


def test_trashed_at_reads_the_name_then_falls_back_to_mtime() -> None:
    moved = 1_700_000_000.5
    assert node.trashed_at(_trash_name("a@x.test", moved), mtime=1.0) == pytest.approx(moved)
    assert node.trashed_at("a@x.test.20231114T221320.junk", mtime=1.0) == 1_700_000_000.0
    assert node.trashed_at("a@x.test.20231114T221320.5", mtime=1.0) == 1_700_000_000.0
    assert node.trashed_at("something-else", mtime=42.0) == 42.0
    assert node.trashed_at("backup.2024.1", mtime=42.0) == 42.0


def test_expired_trash_keeps_what_is_younger_than_the_retention() -> None:
    now = 1_800_000_000.0
    entries = [
        (_trash_name("old@x.test", now - 8 * DAY), now),  # mtime says nothing (kept on rename)
        (_trash_name("edge@x.test", now - 7 * DAY), now),
        (_trash_name("young@x.test", now - 6 * DAY), now - 30 * DAY),
        ("unnamed", now - 9 * DAY),
    ]
    expired = node.expired_trash(entries, now=now, retention_days=7)
    assert expired == sorted([entries[0][0], entries[1][0], "unnamed"])


def test_purge_trash_deletes_old_homes_only(tmp_path: Path) -> None:
    paths = NodePaths(tmp_path)
    now = 1_800_000_000.0
    old = paths.trash_dir / _trash_name("old@x.test", now - 8 * DAY)
    young = paths.trash_dir / _trash_name("young@x.test", now - 1 * DAY)
    for home in (old, young):
        (home / "Maildir" / "cur").mkdir(parents=True)
        (home / "Maildir" / "cur" / "1.msg").write_text("mail")
    assert node.purge_trash(paths, retention_days=7, now=now) == [old.name]
    assert not old.exists()
    assert (young / "Maildir" / "cur" / "1.msg").exists()
    assert node.purge_trash(NodePaths(tmp_path / "none"), retention_days=7) == []


def test_purge_trash_task_uses_the_node_retention(tmp_path: Path, settings) -> None:
    settings.MAILNODE_DIR = tmp_path
    settings.MAILNODE_TRASH_RETENTION_DAYS = 2
    paths = NodePaths(tmp_path)
    three_days = paths.trash_dir / _trash_name("a@x.test", time.time() - 3 * DAY)
    one_day = paths.trash_dir / _trash_name("b@x.test", time.time() - 1 * DAY)
    three_days.mkdir(parents=True)
    one_day.mkdir()
    assert tasks.purge_trash() == [three_days.name]
    assert one_day.exists()


def test_forget_usage_deletes_the_accounts_keys(tmp_path: Path, monkeypatch) -> None:
    paths = NodePaths(tmp_path)
    node.forget_usage(paths, ["a@x.test"])  # no store recorded: nothing to do, no error
    STORE.save(paths)
    redis = FakeRedis({key: 1 for key in STORE.keys("a@x.test") + STORE.keys("b@x.test")})
    monkeypatch.setattr(node.UsageStore, "client", lambda self: redis)
    node.forget_usage(paths, ["a@x.test"])
    assert sorted(redis.data) == sorted(STORE.keys("b@x.test"))

    def down(self: object) -> None:
        raise ConnectionError("redis is down")

    monkeypatch.setattr(node.UsageStore, "client", down)
    node.forget_usage(paths, ["b@x.test"])  # logged, never raised: a delete must go on


# --- the panel side ---------------------------------------------------------------------------


@pytest.fixture
def accounts(db, domain_name: str) -> list[Mailbox]:
    org = organization_create(actor=ACTOR, name=f"Org {domain_name}")
    domain = domain_create(actor=ACTOR, name=domain_name, organization=org)
    return [
        services.mailbox_create(actor=ACTOR, domain=domain, local_part=lp, password=PASSWORD)
        for lp in ("ann", "ben")
    ]


def _row(address: str, storage=None, messages=None, at=None, protocol="") -> dict[str, Any]:
    return node.Usage(address, storage, messages, at, protocol).to_json()


def test_record_usage_upserts_by_address(accounts, django_assert_max_num_queries) -> None:
    ann, ben = accounts
    rows = [
        _row(ann.address, 446, 1, 1_700_000_000, "imap"),
        _row(ben.address, 0, 0),
        _row(f"ghost@{ann.domain.name}", 5, 5),  # not an account (any more): ignored
        _row("not-an-address", 5, 5),
    ]
    with django_assert_max_num_queries(5):
        assert usage.record_usage(rows) == 2
    got = MailboxUsage.objects.get(mailbox=ann)
    assert (got.storage_bytes, got.messages) == (446, 1)
    assert got.last_login_at == datetime.fromtimestamp(1_700_000_000, tz=UTC)
    assert MailboxUsage.objects.get(mailbox=ben).last_login_at is None

    # Again, with values the node no longer knows (None): they keep what the panel had.
    before = got.updated_at
    assert usage.record_usage([_row(ann.address, 2048, 3), _row(ben.address)]) == 2
    got.refresh_from_db()
    assert (got.storage_bytes, got.messages) == (2048, 3)
    assert got.last_login_at == datetime.fromtimestamp(1_700_000_000, tz=UTC)
    assert got.updated_at > before
    assert MailboxUsage.objects.get(mailbox=ben).storage_bytes == 0
    assert MailboxUsage.objects.count() == 2


def test_record_usage_resolves_many_addresses_in_few_queries(
    accounts, django_assert_max_num_queries, monkeypatch
) -> None:
    monkeypatch.setattr(usage, "RESOLVE_BATCH", 1)
    rows = [_row(m.address, 1, 1) for m in accounts]
    with django_assert_max_num_queries(5):  # 2 lookups (batch of 1), 1 upsert, savepoint
        assert usage.record_usage(rows) == 2


def test_requests_go_to_each_node_queue(db, monkeypatch) -> None:
    from provisioning.models import MailNode

    sent: list[tuple[str, dict[str, Any]]] = []
    for task in (tasks.report_usage, tasks.purge_trash):
        monkeypatch.setattr(
            task, "apply_async", lambda *a, _t=task, **kw: sent.append((_t.name, kw))
        )
    MailNode.objects.create(name="mx7")
    names = sorted(MailNode.objects.values_list("name", flat=True))
    assert usage.request_usage_reports() == len(names)
    assert usage.request_trash_purge() == len(names)
    assert sorted(kw["queue"] for name, kw in sent if name.endswith("report_usage")) == [
        f"node.{n}" for n in names
    ]
    assert sorted(kw["queue"] for name, kw in sent if name.endswith("purge_trash")) == [
        f"node.{n}" for n in names
    ]
    assert any(kw.get("args") == ["mx7"] for name, kw in sent if name.endswith("report_usage"))
    assert all(kw["expires"] for _, kw in sent)  # a node that was away skips stale requests


def test_beat_asks_for_usage_and_purges() -> None:
    schedule = {e["task"]: e["schedule"] for e in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "provisioning.tasks.request_usage_reports" in schedule
    assert "provisioning.tasks.request_trash_purge" in schedule


# --- live: over the wire, through the real worker -------------------------------------------


def _wait_applied() -> None:
    call_command("provision", "wait", "--timeout", "15")


@pytest.fixture(scope="module", autouse=True)
def _no_keys_left_behind(node_root: Path) -> Iterator[None]:
    """The tests' Redis database keeps nothing of a run. At the end of the module: a report
    covers every account of the node, so it would write keys for earlier tests' accounts."""
    yield
    store = node.UsageStore.load(NodePaths(node_root))
    if store is not None:  # the mail stack ran
        redis = store.client()
        # conftest's domain_name: "t<pid>-<n>-<ms>.test"
        for key in redis.scan_iter(match=f"{store.prefix}*@t{os.getpid()}-*"):
            redis.delete(key)


@pytest.fixture
def domain(live, domain_name: str) -> Domain:
    org = organization_create(actor=ACTOR, name=f"Org {domain_name}")
    return domain_create(actor=ACTOR, name=domain_name, organization=org)


def _create(domain: Domain, *locals_: str) -> list[Mailbox]:
    made = [
        services.mailbox_create(actor=ACTOR, domain=domain, local_part=lp, password=PASSWORD)
        for lp in locals_
    ]
    _wait_applied()
    return made


def _deliver(ports: dict[str, int], address: str, subject: str) -> None:
    assert send_inbound(ports, address, subject=subject)[0] == 250
    assert wait_until(lambda: subject in inbox_subjects(ports, address, PASSWORD))


def _node_usage(live) -> dict[str, node.Usage]:
    paths = NodePaths(live.root)
    store = node.UsageStore.load(paths)
    assert store is not None, "mailstack start records the Redis Dovecot writes to"
    return {u.address: u for u in node.node_usage(paths, store)}


@pytest.mark.live
def test_usage_comes_back_from_the_node_and_shows_in_the_list(live, domain: Domain, client):
    alice, idle = _create(domain, "alice", "idle")
    _deliver(live.ports, alice.address, "counted")  # inbox_subjects logs in over IMAP too
    assert imap_login(live.ports, alice.address, PASSWORD)

    call_command("provision", "usage", "--wait", "15")

    got = MailboxUsage.objects.get(mailbox=alice)
    assert got.storage_bytes > 0
    assert got.messages >= 1
    assert timezone.now() - got.last_login_at < timedelta(minutes=1)
    idle_usage = MailboxUsage.objects.get(mailbox=idle)
    assert (idle_usage.storage_bytes, idle_usage.messages, idle_usage.last_login_at) == (0, 0, None)

    staff = get_user_model().objects.create_user("usage-staff", password=PASSWORD, is_staff=True)
    client.force_login(staff)
    page = client.get(reverse("mailbox_list", args=[domain.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    row = html[html.index(alice.address) :].split("</tr>", 1)[0]
    assert filesizeformat(got.storage_bytes) in row
    assert got.last_login_at.strftime("%Y-%m-%d") in row


@pytest.mark.live
def test_the_protocol_of_the_last_login_is_recorded(live, domain: Domain) -> None:
    (carol,) = _create(domain, "carol")
    assert wait_until(lambda: imap_login(live.ports, carol.address, PASSWORD))
    assert _node_usage(live)[carol.address].last_login_protocol == "imap"
    time.sleep(1.1)  # last_login stores whole seconds
    assert pop3_login(live.ports, carol.address, PASSWORD)
    assert _node_usage(live)[carol.address].last_login_protocol == "pop3"


@pytest.mark.live
def test_an_account_without_usage_keys_is_counted_by_dovecot(live, domain: Domain) -> None:
    (dan,) = _create(domain, "dan")
    assert wait_until(lambda: imap_login(live.ports, dan.address, PASSWORD))
    # Logged in, never got mail: a home but no quota_clone keys. Counted, not "unknown".
    assert _node_usage(live)[dan.address].storage_bytes == 0

    _deliver(live.ports, dan.address, "to count")
    counted = _node_usage(live)[dan.address]
    store = node.UsageStore.load(NodePaths(live.root))
    store.client().delete(store.storage_key(dan.address), store.messages_key(dan.address))
    # Keys lost (a Redis flush): the node counts the mail again, to the byte.
    again = _node_usage(live)[dan.address]
    assert (again.storage_bytes, again.messages) == (counted.storage_bytes, counted.messages)
    assert counted.storage_bytes > 0


@pytest.mark.live
def test_delete_forgets_the_usage_keys_and_purge_honours_the_retention(
    live, domain: Domain
) -> None:
    (erin,) = _create(domain, "erin")
    _deliver(live.ports, erin.address, "soon gone")
    store = node.UsageStore.load(NodePaths(live.root))
    redis = store.client()
    assert redis.get(store.storage_key(erin.address)) is not None

    services.mailbox_delete(actor=ACTOR, mailbox=erin)
    _wait_applied()
    assert not any(redis.exists(key) for key in store.keys(erin.address))
    trash = live.root / "trash"
    (young,) = [p for p in trash.iterdir() if p.name.startswith(f"{erin.address}.")]

    retention = settings.MAILNODE_TRASH_RETENTION_DAYS
    old = trash / _trash_name(f"old@{domain.name}", time.time() - (retention + 1) * DAY)
    (old / "Maildir").mkdir(parents=True)
    usage.request_trash_purge()  # as beat does: purge_trash runs on the node's worker
    assert wait_until(lambda: not old.exists(), timeout=15)
    assert young.is_dir()
