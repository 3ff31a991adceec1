"""The policy service's fallback count and its merge rule (provisioning/policy/fallback.py),
against the tests' real Redis database and a loopback port nothing listens on (Redis "down").
Redis "comes back" by giving the same Counters a client of the real database again.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from django.conf import settings

from provisioning.node.limits import Sender, SendingLimits
from provisioning.policy import fallback
from provisioning.policy.counters import CountersUnavailable, SentCounters
from provisioning.policy.decide import UNAVAILABLE, Policy
from provisioning.policy.fallback import Counters
from provisioning.policy.fallback_store import Event, FallbackStore
from provisioning.policy.protocol import DUNNO
from provisioning.policy.status import read_status
from provisioning.sent_counter import sent_in_window, sent_key, sent_member
from tests.test_policy_protocol import end, rcpt, run_async

ALICE, ALICE_ID = "alice@example.test", 1
BOB, BOB_ID = "bob@example.test", 2
PROBE = 0.05
REPO = Path(__file__).resolve().parent.parent


class Limits:
    """The limits table's interface, for two accounts (the table itself is tested elsewhere)."""

    def __init__(self, alice_daily: int) -> None:
        self.senders = {
            ALICE: Sender(ALICE_ID, SendingLimits(0, alice_daily, 0)),
            BOB: Sender(BOB_ID, None),
        }

    def lookup(self, address: str) -> Sender | None:
        return self.senders.get(address)


@pytest.fixture
def prefix() -> Iterator[str]:
    prefix = f"tm-fallback-{uuid.uuid4().hex[:8]}/"
    yield prefix
    client = redis.Redis.from_url(settings.SENDING_REDIS_URL)
    for key in client.scan_iter(match=f"{prefix}*"):
        client.delete(key)


def down_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"redis://127.0.0.1:{sock.getsockname()[1]}/0"


def up(prefix: str) -> SentCounters:
    return SentCounters(settings.SENDING_REDIS_URL, prefix, timeout=0.5)


def down(prefix: str) -> SentCounters:
    return SentCounters(down_url(), prefix, timeout=0.5)


def counters(state: Path, redis_side: SentCounters) -> Counters:
    state.mkdir(exist_ok=True)
    return Counters(
        redis_side, FallbackStore(state / "fallback.sqlite3"), status_dir=state, probe_seconds=PROBE
    )


def in_redis(prefix: str, account: int) -> int:
    client = redis.Redis.from_url(settings.SENDING_REDIS_URL)
    return sent_in_window(client, prefix, [account])[account]


async def send(policy: Policy, user: str, instance: str) -> bytes:
    """One message of one recipient: the RCPT answer, or the END-OF-MESSAGE one if accepted."""
    answer = await policy.decide(rcpt(user=user, instance=instance))
    if answer != DUNNO:
        return answer
    return await policy.decide(end(user=user, instance=instance))


async def back(c: Counters, redis_side: SentCounters) -> None:
    """Redis answers again: wait until the probe noticed and merged."""
    await c.redis.close()
    c.redis = redis_side
    for _ in range(200):
        if c.fallback_since is None:
            return
        await asyncio.sleep(PROBE)
    raise AssertionError("the fallback did not end")


LIMIT_REACHED = b"Daily sending limit reached: alice@example.test may send 3 messages in 24 hours"


def test_a_daily_limit_of_3_spread_over_an_outage_is_still_3(tmp_path: Path, prefix: str) -> None:
    async def main() -> None:
        c = counters(tmp_path, up(prefix))
        c.start()
        policy = Policy(Limits(alice_daily=3), c)  # type: ignore[arg-type]
        assert await send(policy, ALICE, "m1") == DUNNO
        assert await send(policy, ALICE, "m2") == DUNNO
        await c.redis.close()
        c.redis = down(prefix)  # Redis goes away
        assert await send(policy, ALICE, "m3") == DUNNO  # 2 known + 0 here
        assert await send(policy, BOB, "b1") == DUNNO  # no limit: as usual
        assert c.fallback_since is not None
        refused = await send(policy, ALICE, "m4")  # 2 known + 1 here
        assert refused.startswith(b"action=550 5.7.1 " + LIMIT_REACHED)
        await asyncio.sleep(3 * PROBE)  # the status is rewritten at each failed probe
        status = read_status(tmp_path)
        assert status is not None and status.fallback_since == c.fallback_since
        assert status.unmerged == 2
        await back(c, up(prefix))
        assert in_redis(prefix, ALICE_ID) == 3 and in_redis(prefix, BOB_ID) == 1
        assert (await send(policy, ALICE, "m5")).startswith(b"action=550 5.7.1 " + LIMIT_REACHED)
        assert c.store.pending_count() == 0 and c.store.fallback_since() is None
        status = read_status(tmp_path)
        assert status is not None and status.fallback_since is None and status.unmerged == 0
        await c.close()

    run_async(main())
    metrics = (tmp_path / "policyd.prom").read_text()
    assert "tempusmail_policy_fallback 0\n" in metrics
    assert "tempusmail_policy_unmerged_messages 0\n" in metrics


def test_a_restart_during_the_outage_keeps_the_count(tmp_path: Path, prefix: str) -> None:
    async def before_and_during() -> float:
        c = counters(tmp_path, up(prefix))
        c.start()
        policy = Policy(Limits(alice_daily=3), c)  # type: ignore[arg-type]
        assert await send(policy, ALICE, "m1") == DUNNO
        assert await send(policy, ALICE, "m2") == DUNNO
        await c.redis.close()
        c.redis = down(prefix)
        assert await send(policy, ALICE, "m3") == DUNNO
        since = c.fallback_since
        assert since is not None
        await c.close()  # the service stops, Redis still away
        return since

    async def after_the_restart(since: float) -> None:
        c = counters(tmp_path, down(prefix))
        c.start()
        assert c.fallback_since == since  # it knows, before any request, and says so
        status = read_status(tmp_path)
        assert status is not None and status.fallback_since == since and status.unmerged == 1
        assert "tempusmail_policy_fallback 1\n" in (tmp_path / "policyd.prom").read_text()
        policy = Policy(Limits(alice_daily=3), c)  # type: ignore[arg-type]
        assert (await send(policy, ALICE, "m4")).startswith(b"action=550 5.7.1 " + LIMIT_REACHED)
        await back(c, up(prefix))
        assert in_redis(prefix, ALICE_ID) == 3
        await c.close()

    since: list[float] = []

    async def first() -> None:
        since.append(await before_and_during())

    run_async(first())
    run_async(after_the_restart(since[0]))


def events(account: str, n: int, *, ago: float = 0) -> list[Event]:
    at = time.time() - ago
    return [Event(sent_member(1, int(at * 1e9) + i), account, at) for i in range(n)]


def test_the_merge_adds_each_event_once(tmp_path: Path, prefix: str) -> None:
    """A message whose count reached Redis but whose answer was lost, and a merge cut off after
    Redis took a batch: both are in the file and in Redis. Merging adds them once."""
    mine = events(str(ALICE_ID), 5)
    client = redis.Redis.from_url(settings.SENDING_REDIS_URL)
    client.zadd(sent_key(prefix, ALICE_ID), {e.member: e.at for e in mine[:3]})

    async def main() -> None:
        c = counters(tmp_path, up(prefix))
        for event in mine:
            c.store.add(event)
        c.store.add(mine[0])  # recorded twice: still one event
        assert await c.merge() == 5
        assert await c.merge() == 0
        await c.redis.add(mine)  # and once more, as a repeated merge would
        await c.close()

    run_async(main())
    assert client.zcard(sent_key(prefix, ALICE_ID)) == 5


def test_a_failed_merge_keeps_every_event(tmp_path: Path, prefix: str) -> None:
    async def main() -> None:
        c = counters(tmp_path, down(prefix))
        for event in events(str(ALICE_ID), 3):
            c.store.add(event)
        with pytest.raises(CountersUnavailable):
            await c.merge()
        assert c.store.pending_count() == 3
        await c.redis.close()
        c.redis = up(prefix)
        assert await c.merge() == 3
        assert c.store.pending_count() == 0
        await c.close()

    run_async(main())
    assert in_redis(prefix, ALICE_ID) == 3


def test_the_merge_goes_in_batches_and_drops_what_left_the_window(
    tmp_path: Path, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fallback, "MERGE_BATCH", 2)

    async def main() -> None:
        c = counters(tmp_path, up(prefix))
        for event in events(str(ALICE_ID), 5) + events(str(ALICE_ID), 2, ago=86400 + 60):
            c.store.add(event)
        assert await c.merge() == 5  # the two older than 24 hours are not sent
        assert c.store.pending_count() == 0
        await c.close()

    run_async(main())
    client = redis.Redis.from_url(settings.SENDING_REDIS_URL)
    assert client.zcard(sent_key(prefix, ALICE_ID)) == 5
    assert client.ttl(sent_key(prefix, ALICE_ID)) > 86400


def test_when_neither_redis_nor_the_file_works(tmp_path: Path, prefix: str) -> None:
    """A limit that cannot be checked is a temporary refusal that blames no one; a message of
    an account without limits still goes (uncounted)."""

    async def main() -> None:
        c = counters(tmp_path, down(prefix))
        policy = Policy(Limits(alice_daily=3), c)  # type: ignore[arg-type]
        assert await send(policy, BOB, "b1") == DUNNO  # falls back
        c.store.db.close()  # and the node's file fails too
        assert await policy.decide(rcpt(user=ALICE, instance="m1")) == UNAVAILABLE
        assert await send(policy, BOB, "b2") == DUNNO
        await c.redis.close()

    run_async(main())
    assert UNAVAILABLE == (
        b"action=DEFER_IF_PERMIT 4.3.0 Sending limits cannot be checked right now; try later\n\n"
    )


def test_a_known_count_older_than_its_window_no_longer_counts(tmp_path: Path) -> None:
    async def main() -> None:
        c = counters(tmp_path, down("x/"))
        two_hours_ago = time.time() - 7200
        c.known[str(ALICE_ID)] = fallback.Known(hour=5, day=7, seen=two_hours_ago)
        for event in events(str(ALICE_ID), 1):
            c.store.add(event)
        assert await c.sent(str(ALICE_ID), hour=True, day=True) == (1, 8)
        await c.close()

    run_async(main())
    assert json.loads((tmp_path / "status.json").read_text())["fallback_since"] is not None


@pytest.mark.skipif(
    not shutil.which("redis-server") or not shutil.which("taskset")
    or len(os.sched_getaffinity(0)) < 2,
    reason="needs redis-server, taskset and two cores",
)  # fmt: skip
def test_the_benchmark_runs_in_its_smoke_size() -> None:
    # Under load, with Redis up and then stopped: every decision answered, none refused.
    result = subprocess.run(
        [sys.executable, "benchmarks/policy_service.py", "--smoke"],
        cwd=REPO, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    lines = [line for line in result.stdout.splitlines() if "decisions/s" in line]
    assert [("fallback" in line) for line in lines[:2]] == [False, True], result.stdout
    assert all(line.endswith("refused 0") for line in lines), result.stdout
