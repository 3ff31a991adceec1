"""The password guard without daemons (issue 27): its rules, its counting in memory and in
Redis, its HTTP endpoint as Dovecot's auth policy client speaks it, and `manage.py ban`'s bad
input. Over the wire with Dovecot: tests/test_guard_live.py."""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from provisioning.policy.guard import Guard
from provisioning.policy.guard_http import GuardHttp
from provisioning.policy.guard_rules import REFUSE, GuardRules, Seen, answer, client_key
from provisioning.policy.guard_store import GuardStore, MemoryStore, RedisStore

RULES = GuardRules(free_failures=2, ban_after=5, max_delay=8, account_free_failures=4)
TEST_REDIS = os.environ.get("TEST_SENDING_REDIS_URL", "redis://127.0.0.1:6379/11")


def in_own_loop(coroutine: Any) -> None:
    """asyncio.run in a thread: the browser tests' Playwright keeps a loop in this one."""
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, coroutine).result()


def test_clients_are_addresses_and_ipv6_sixty_fours() -> None:
    assert client_key("192.0.2.7") == "192.0.2.7"
    assert (
        client_key("2001:db8:1:2:aaaa::1") == client_key("2001:db8:1:2::9") == "2001:db8:1:2::/64"
    )
    assert client_key("::ffff:192.0.2.7") == "192.0.2.7"
    assert client_key("not an address") is None


def test_the_answer_grows_from_nothing_to_a_delay_to_a_refusal() -> None:
    def status(client: int, account: int = 0, known: bool = False) -> int:
        return answer(RULES, Seen(client, account, banned=False, known=known))

    assert [status(n) for n in range(6)] == [0, 0, 0, 1, 2, REFUSE]
    assert answer(RULES, Seen(0, 0, banned=True, known=False)) == REFUSE
    assert status(0, account=6) == 2  # a run against the name slows an unknown client
    assert status(0, account=6, known=True) == 0  # not the owner's known address
    assert answer(GuardRules(max_delay=3), Seen(9, 0, False, False)) == 3


def test_rules_check_their_values_and_travel_as_json() -> None:
    rules = GuardRules(exempt=("198.51.100.0/24", "2001:db8::1"))
    assert GuardRules.from_json(rules.to_json()) == rules
    assert rules.is_exempt("198.51.100.9") and not rules.is_exempt("198.51.101.9")
    with pytest.raises(ValueError):
        GuardRules(ban_after=0)
    with pytest.raises(ValueError):
        GuardRules(exempt=("not a network",))
    assert GuardRules().ban_length(0) == 3600 and GuardRules().ban_length(2) == 4 * 3600
    assert GuardRules().ban_length(30) == GuardRules().max_ban_seconds


def request(login: str, remote: str, **more: Any) -> dict[str, Any]:
    return {"login": login, "remote": remote, "protocol": "imap", **more}


async def guess(guard: Guard, login: str, remote: str) -> int:
    session = uuid.uuid4().hex
    status = await guard.allow(request(login, remote, session=session))
    await guard.report(request(login, remote, session=session, success=False,
                               policy_reject=status < 0))  # fmt: skip
    return status


def test_guard_counts_bans_and_exempts_in_memory() -> None:
    async def run() -> None:
        guard = Guard(GuardRules(free_failures=2, ban_after=5, exempt=("10.0.0.0/8",)),
                      GuardStore(None, MemoryStore(RULES)))  # fmt: skip
        statuses = [await guess(guard, "a@x.test", "192.0.2.1") for _ in range(7)]
        assert statuses == [0, 0, 0, 1, 2, REFUSE, REFUSE]
        assert guard.metrics.bans == 1 and guard.metrics.failures == 5  # refusals not counted
        assert await guard.allow(request("a@x.test", "192.0.2.2")) == 0  # another client
        # Unknown and known names alike: the count is by name, whether it exists or not.
        assert [await guess(guard, "nobody@x.test", "192.0.2.3") for _ in range(4)] == [0, 0, 0, 1]
        assert [await guess(guard, "a@x.test", "10.1.2.3") for _ in range(9)] == [0] * 9

    in_own_loop(run())


def test_attempts_under_way_count_at_once() -> None:
    """Parallel connections: every guess is asked about before any is reported."""

    async def run() -> None:
        guard = Guard(RULES, GuardStore(None, MemoryStore(RULES)))
        attempts = [request("e@x.test", "192.0.2.80", session=str(n)) for n in range(12)]
        statuses = await asyncio.gather(*(guard.allow(a) for a in attempts))
        assert sum(s != REFUSE for s in statuses) == RULES.ban_after and guard.metrics.bans == 1
        # A correct password under way is no failure once it is reported.
        await guard.report({**attempts[0], "success": True})
        assert await guard.allow(request("e@x.test", "192.0.2.80", session="x")) == REFUSE

    in_own_loop(run())


def test_correct_logins_without_a_session_id_never_add_up() -> None:
    """Postfix's SMTP AUTH reaches the policy with no session id: its correct logins must not
    stay counted as attempts under way, and its wrong ones still count."""

    async def run() -> None:
        guard = Guard(RULES, GuardStore(None, MemoryStore(RULES)))
        smtp = {"login": "f@x.test", "remote": "192.0.2.90", "protocol": "smtp"}
        for _ in range(3 * RULES.ban_after):
            assert await guard.allow(smtp) == 0
            assert await guard.allow(smtp) == 0  # Dovecot asks again after a correct password
            await guard.report({**smtp, "success": True})
        assert guard.metrics.bans == 0
        statuses = []
        for _ in range(RULES.ban_after + 1):
            statuses.append(await guard.allow(smtp))
            await guard.report({**smtp, "success": False, "policy_reject": statuses[-1] < 0})
        assert statuses == [0, 0, 0, 1, 2, REFUSE] and guard.metrics.bans == 1

    in_own_loop(run())


def test_redis_store_is_shared_and_falls_back_to_memory_when_redis_is_away() -> None:
    async def run() -> None:
        prefix = f"tm-guard-unit-{uuid.uuid4().hex}/"
        one = Guard(
            RULES, GuardStore(RedisStore(TEST_REDIS, prefix, RULES, "n1"), MemoryStore(RULES))
        )
        two = Guard(
            RULES, GuardStore(RedisStore(TEST_REDIS, prefix, RULES, "n2"), MemoryStore(RULES))
        )
        for _ in range(3):
            await guess(one, "b@x.test", "198.51.100.4")
        await guess(two, "b@x.test", "198.51.100.4")
        assert await two.allow(request("b@x.test", "198.51.100.4")) == 2  # both nodes' count
        await two.report(request("b@x.test", "198.51.100.4", success=False, policy_reject=False))
        assert await one.allow(request("b@x.test", "198.51.100.4")) == REFUSE  # banned by two
        await one.report(request("b@x.test", "198.51.100.9", success=True))
        assert (await two.store.attempt("198.51.100.9", "b@x.test", "s1", time.time())).known
        await one.store.close()
        await two.store.close()

        away = GuardStore(
            RedisStore("redis://127.0.0.1:1/0", prefix, RULES, "n3"), MemoryStore(RULES)
        )
        guard = Guard(RULES, away)
        statuses = [await guess(guard, "c@x.test", "203.0.113.5") for _ in range(6)]
        assert statuses == [0, 0, 0, 1, 2, REFUSE] and away.fallback_since is not None
        await away.close()

    in_own_loop(run())


def test_http_endpoint_answers_dovecot_requests_on_one_connection() -> None:
    async def run() -> None:
        guard = Guard(RULES, GuardStore(None, MemoryStore(RULES)))
        server = await asyncio.start_server(GuardHttp(guard).handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)

        async def post(command: str, body: dict[str, Any]) -> tuple[bytes, dict[str, Any]]:
            payload = json.dumps(body).encode()
            head = b"POST /?command=%s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
            writer.write(head % (command.encode(), len(payload)) + payload)
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            return head.split(b"\r\n")[0], json.loads(await reader.readexactly(length))

        for _ in range(3):
            assert await post("allow", request("d@x.test", "192.0.2.50")) == (
                b"HTTP/1.1 200 OK",
                {"status": 0, "msg": ""},
            )
            await post(
                "report", request("d@x.test", "192.0.2.50", success=False, policy_reject=False)
            )
        assert (await post("allow", request("d@x.test", "192.0.2.50")))[1]["status"] == 1
        assert (await post("allow", {"nonsense": True}))[1]["status"] == 0
        writer.write(b"GET / HTTP/1.1\r\n\r\n")
        assert (await reader.readuntil(b"\r\n")).startswith(b"HTTP/1.1 400")
        writer.close()
        server.close()

    in_own_loop(run())


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["add", "not-an-ip"], "is not an IP address"),
        (["add", "192.0.2.0/24"], "Give one IPv4 address"),
        (["add", "192.0.2.1", "--minutes", "0"], "minutes: Give between 1"),
        (["add", "192.0.2.1", "--minutes", "ten"], "minutes: 'ten' is not a whole number"),
        (["add", "192.0.2.1", "--reason", "x" * 300], "reason: One line"),
        (["remove", "192.0.2.77"], "192.0.2.77 is not banned"),
    ],
)
def test_ban_bad_input_is_one_line_and_changes_nothing(
    args: list[str], message: str, settings: Any
) -> None:
    from security.models import AuditEvent

    settings.GUARD_REDIS_URL = TEST_REDIS
    settings.GUARD_REDIS_PREFIX = f"tm-guard-cli-{uuid.uuid4().hex}/"
    with pytest.raises(CommandError, match=message):
        call_command("ban", *args)
    out = StringIO()
    call_command("ban", "list", "--json", stdout=out)
    assert (
        json.loads(out.getvalue()) == []
        and not AuditEvent.objects.filter(action__startswith="guard.").exists()
    )


@pytest.mark.django_db
def test_ban_is_audited_and_redis_away_is_one_line(settings: Any) -> None:
    from security.models import AuditEvent

    settings.GUARD_REDIS_URL = TEST_REDIS
    settings.GUARD_REDIS_PREFIX = f"tm-guard-cli-{uuid.uuid4().hex}/"
    call_command("ban", "add", "2001:db8:5:6::7", "--minutes", "5", stdout=StringIO())
    out = StringIO()
    call_command("ban", "list", "--json", stdout=out)
    [row] = json.loads(out.getvalue())
    assert row["address"] == "2001:db8:5:6::/64" and row["reason"] == "banned by staff"
    call_command("ban", "remove", "2001:db8:5:6::1", stdout=StringIO())
    assert list(
        AuditEvent.objects.filter(action__startswith="guard.")
        .values_list("action", flat=True)
        .order_by("pk")
    ) == ["guard.ban", "guard.unban"]
    settings.GUARD_REDIS_URL = "redis://127.0.0.1:1/0"
    with pytest.raises(CommandError, match="cannot be reached"):
        call_command("ban", "add", "192.0.2.9")
    assert AuditEvent.objects.filter(action__startswith="guard.").count() == 2


@pytest.mark.django_db
def test_mailbox_usage_reports_failed_logins_of_24_hours(settings: Any) -> None:
    from tests.personas import build_world

    settings.GUARD_REDIS_URL = TEST_REDIS
    settings.GUARD_REDIS_PREFIX = prefix = f"tm-guard-usage-{uuid.uuid4().hex}/"
    address = build_world(uuid.uuid4().hex[:8]).acme_mailbox.address

    async def fail_twice() -> None:
        guard = Guard(RULES, GuardStore(RedisStore(TEST_REDIS, prefix, RULES, "local"),
                                        MemoryStore(RULES)))  # fmt: skip
        for client in ("192.0.2.1", "2001:db8::1"):
            report = request(address.upper(), client, success=False, policy_reject=False)
            await guard.report(report)
        await guard.store.close()

    in_own_loop(fail_twice())

    def usage() -> dict[str, Any]:
        out = StringIO()
        call_command("mailbox", "usage", address, "--json", stdout=out)
        return dict(json.loads(out.getvalue()))

    assert usage()["failed_logins_24h"] == 2  # the login name in any case is the account
    settings.GUARD_REDIS_URL = "redis://127.0.0.1:1/0"
    assert usage()["failed_logins_24h"] is None
