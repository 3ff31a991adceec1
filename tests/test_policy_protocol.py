"""The policy service without Postfix: the protocol, the limits files, the decisions against a
real Redis database of the tests' own, and the server over a real socket."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import redis
from django.conf import settings
from django.core.management import CommandError, call_command

from provisioning.node.agent import NodeAgent
from provisioning.node.limits import Sender, SendingLimits, parse_limits, render_limits
from provisioning.node.paths import NodePaths
from provisioning.node.render import RenderError
from provisioning.node.state import AccountState, DomainState
from provisioning.policy.counters import SentCounters
from provisioning.policy.decide import Policy
from provisioning.policy.fallback import Counters
from provisioning.policy.fallback_store import FallbackStore
from provisioning.policy.limits_table import LimitsTable
from provisioning.policy.protocol import DUNNO, MalformedRequest, parse_request, reply
from provisioning.policy.server import serve
from provisioning.sent_counter import member_recipients, sent_in_window, sent_key

REPO = Path(__file__).resolve().parent.parent
H = "$6$saltsalt$" + "b" * 86
DOMAIN = "example.test"
ALICE = f"alice@{DOMAIN}"
ALICE_ID = 1  # her mailbox id: the name of her counter


def request(**attrs: str | int) -> bytes:
    attrs = {"request": "smtpd_access_policy", **attrs}
    return "".join(f"{k}={v}\n" for k, v in attrs.items()).encode() + b"\n"


def rcpt(user: str = ALICE, instance: str = "a.1", **more: str) -> bytes:
    return request(protocol_state="RCPT", sasl_username=user, instance=instance, **more)


def end(user: str = ALICE, instance: str = "a.1", recipients: int | str = 1) -> bytes:
    return request(
        protocol_state="END-OF-MESSAGE", sasl_username=user, instance=instance,
        recipient_count=recipients,
    )  # fmt: skip


def domain(*accounts: AccountState, version: int = 1) -> DomainState:
    return DomainState(id=1, name=DOMAIN, version=version, accounts=accounts)


# --- the protocol --------------------------------------------------------------------------


def test_a_request_parses_into_its_attributes() -> None:
    attrs = parse_request(rcpt(recipient="bob@example.net", sasl_sender=""))
    assert attrs[b"protocol_state"] == b"RCPT"
    assert attrs[b"sasl_username"] == ALICE.encode()
    assert attrs[b"sasl_sender"] == b""
    assert parse_request(b"request=smtpd_access_policy\nx=a=b\n")[b"x"] == b"a=b"


@pytest.mark.parametrize(
    ("block", "why"),
    [
        (b"request=smtpd_access_policy\ngarbage\n", "not name=value"),
        (b"request=smtpd_access_policy\n=value\n", "not name=value"),
        (b"protocol_state=RCPT\n", "request=smtpd_access_policy is missing"),
        (b"request=other\n", "request=smtpd_access_policy is missing"),
        (b"", "request=smtpd_access_policy is missing"),
    ],
)
def test_malformed_requests_say_why(block: bytes, why: str) -> None:
    with pytest.raises(MalformedRequest, match=why):
        parse_request(block)


def test_a_reply_is_one_line_whatever_its_text() -> None:
    assert reply("DUNNO") == b"action=DUNNO\n\n"
    assert reply("550 bad\nthing") == b"action=550 bad thing\n\n"


# --- the limits files ----------------------------------------------------------------------


def test_limits_render_every_account_with_its_id_and_parse_back() -> None:
    state = domain(
        AccountState(1, "alice", H, hourly_limit=5, daily_limit=50, max_recipients=10),
        AccountState(2, "bob", H),
        AccountState(3, "carol", H, daily_limit=7),
    )
    text = render_limits(state)
    assert text is not None
    assert parse_limits(text) == {
        "alice": Sender(1, SendingLimits(5, 50, 10)),
        "bob": Sender(2, None),  # no limit, but an id to count under
        "carol": Sender(3, SendingLimits(0, 7, 0)),
    }
    assert render_limits(domain()) is None


def test_a_limits_file_from_before_ids_is_still_read() -> None:
    assert parse_limits('{"accounts": {"Alice": [0, 3, 0]}}') == {
        "alice": Sender(None, SendingLimits(0, 3, 0))
    }


@pytest.mark.parametrize("bad", [-1, True, "5", 1.5, 10**9])
def test_a_limit_that_is_not_a_count_is_refused(bad: object) -> None:
    with pytest.raises(RenderError, match=r"alice@example\.test: the daily sending limit"):
        render_limits(domain(AccountState(1, "alice", H, daily_limit=bad)))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text",
    [
        "[]",
        "{}",
        '{"accounts": {"a": [1, 2]}}',
        '{"accounts": {"a": [1, -2, 3]}}',
        "{",
        '{"version": 2, "accounts": {"a": [1, 2, 3]}}',
        '{"version": 3, "accounts": {}}',
        '{"version": 2, "accounts": {"a": [true, 0, 0, 0]}}',
    ],
)
def test_parse_limits_refuses_what_render_limits_never_writes(text: str) -> None:
    with pytest.raises(ValueError):
        parse_limits(text)


def test_the_agent_writes_a_limits_file_per_domain_and_removes_it(tmp_path: Path) -> None:
    agent = NodeAgent(NodePaths(tmp_path), map_type="cdb")
    path = agent.paths.policy_limits_dir / f"{DOMAIN}.json"
    result = agent.apply_domain(domain(AccountState(1, "alice", H, daily_limit=3)))
    assert "policy/limits.d/example.test.json" in result.written
    assert parse_limits(path.read_text()) == {"alice": Sender(1, SendingLimits(0, 3, 0))}
    assert path.stat().st_mode & 0o777 == 0o644  # the service runs unprivileged
    again = agent.apply_domain(domain(AccountState(1, "alice", H, daily_limit=3), version=2))
    assert again.written == []
    agent.apply_domain(domain(AccountState(1, "alice", H), version=3))
    assert parse_limits(path.read_text()) == {"alice": Sender(1, None)}  # the id stays
    agent.apply_domain(domain(version=4))
    assert not path.exists()


def test_a_bad_limit_writes_nothing(tmp_path: Path) -> None:
    agent = NodeAgent(NodePaths(tmp_path), map_type="cdb")
    with pytest.raises(RenderError):
        agent.apply_domain(domain(AccountState(1, "alice", H, daily_limit=-1)))
    assert not (tmp_path / "dovecot").exists() and not (tmp_path / "policy").exists()


# --- the limits table ----------------------------------------------------------------------


def write_limits(folder: Path, accounts: dict[str, list[int]], name: str = DOMAIN) -> None:
    """As the agent writes them: {local part: [id, per hour, per day, recipients]}."""
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{name}.tmp"
    tmp.write_text(json.dumps({"version": 2, "accounts": accounts}))
    tmp.rename(folder / f"{name}.json")  # as the agent does: a new inode


def test_the_table_reads_a_domain_file_and_follows_its_changes(tmp_path: Path) -> None:
    table = LimitsTable(tmp_path, recheck=0)
    assert table.lookup(ALICE) is None  # no file yet
    write_limits(tmp_path, {"alice": [ALICE_ID, 1, 2, 3]})
    assert table.lookup(ALICE) == Sender(ALICE_ID, SendingLimits(1, 2, 3))
    assert table.lookup(f"bob@{DOMAIN}") is None
    write_limits(tmp_path, {"alice": [ALICE_ID, 0, 9, 0]})
    assert table.lookup(ALICE) == Sender(ALICE_ID, SendingLimits(0, 9, 0))
    (tmp_path / f"{DOMAIN}.json").unlink()
    assert table.lookup(ALICE) is None


def test_the_table_checks_a_file_at_most_every_recheck_seconds(tmp_path: Path) -> None:
    table = LimitsTable(tmp_path, recheck=3600)
    write_limits(tmp_path, {"alice": [ALICE_ID, 1, 2, 3]})
    assert table.lookup(ALICE) == Sender(ALICE_ID, SendingLimits(1, 2, 3))
    write_limits(tmp_path, {"alice": [ALICE_ID, 0, 9, 0]})
    assert table.lookup(ALICE) == Sender(ALICE_ID, SendingLimits(1, 2, 3))  # not stat()ed again yet


def test_a_broken_file_keeps_the_limits_read_before(tmp_path: Path) -> None:
    table = LimitsTable(tmp_path, recheck=0)
    write_limits(tmp_path, {"alice": [ALICE_ID, 1, 2, 3]})
    assert table.lookup(ALICE) == Sender(ALICE_ID, SendingLimits(1, 2, 3))
    (tmp_path / ".x").write_text("{broken")
    (tmp_path / ".x").rename(tmp_path / f"{DOMAIN}.json")
    assert table.lookup(ALICE) == Sender(ALICE_ID, SendingLimits(1, 2, 3))


@pytest.mark.parametrize("user", ["alice", "alice@../etc", "alice@.hidden", "a@b/c", "@"])
def test_names_that_cannot_be_a_domain_file_have_no_limits(tmp_path: Path, user: str) -> None:
    (tmp_path / "etc.json").write_text('{"accounts": {"alice": [1, 1, 1]}}')
    assert LimitsTable(tmp_path / "limits.d", recheck=0).lookup(user) is None


# --- decisions, against a real Redis database ----------------------------------------------


@pytest.fixture
def prefix() -> Iterator[str]:
    prefix = f"tm-unit-{uuid.uuid4().hex[:8]}/"
    yield prefix
    client = redis.Redis.from_url(settings.SENDING_REDIS_URL)
    for key in client.scan_iter(match=f"{prefix}*"):
        client.delete(key)


Decide = Callable[[bytes], Awaitable[bytes]]


def run_async(coroutine: Coroutine[Any, Any, None]) -> None:
    # In a thread of its own: a browser test earlier in the session leaves Playwright's event
    # loop running in the main thread, where asyncio.run() refuses to start.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, coroutine).result()


def run_policy(
    folder: Path, redis_url: str, prefix: str, steps: Callable[[Decide], Awaitable[None]]
) -> None:
    async def main() -> None:
        counters = Counters(
            SentCounters(redis_url, prefix, timeout=0.5),
            FallbackStore(folder / ".fallback.sqlite3"),
            status_dir=folder,
        )
        counters.start()
        try:
            await steps(Policy(LimitsTable(folder, recheck=0), counters).decide)
        finally:
            await counters.close()

    run_async(main())


async def send_message(decide: Decide, instance: str, recipients: int = 1) -> list[bytes]:
    answers = [await decide(rcpt(instance=instance)) for _ in range(recipients)]
    if DUNNO in answers:
        answers.append(await decide(end(instance=instance, recipients=answers.count(DUNNO))))
    return answers


def test_message_n_plus_one_is_refused_at_rcpt(tmp_path: Path, prefix: str) -> None:
    write_limits(tmp_path, {"alice": [ALICE_ID, 0, 3, 0]})

    async def steps(decide: Decide) -> None:
        for n in range(3):
            assert await send_message(decide, f"m{n}") == [DUNNO, DUNNO]
        refused = await decide(rcpt(instance="m3"))
        assert refused == (
            b"action=550 5.7.1 Daily sending limit reached: alice@example.test may send "
            b"3 messages in 24 hours\n\n"
        )

    run_policy(tmp_path, settings.SENDING_REDIS_URL, prefix, steps)
    client = redis.Redis.from_url(settings.SENDING_REDIS_URL)
    assert sent_in_window(client, prefix, [ALICE_ID]) == {ALICE_ID: 3}


def test_the_hourly_limit_and_the_address_case(tmp_path: Path, prefix: str) -> None:
    write_limits(tmp_path, {"alice": [ALICE_ID, 1, 100, 0]})

    async def steps(decide: Decide) -> None:
        assert await decide(rcpt(user="Alice@Example.TEST", instance="m1")) == DUNNO
        assert await decide(end(user="Alice@Example.TEST", instance="m1")) == DUNNO
        refused = await decide(rcpt(instance="m2"))
        assert b"550 5.7.1 Hourly sending limit reached" in refused
        assert b"1 message per hour" in refused

    run_policy(tmp_path, settings.SENDING_REDIS_URL, prefix, steps)


def test_recipients_beyond_the_limit_are_refused_per_message(tmp_path: Path, prefix: str) -> None:
    write_limits(tmp_path, {"alice": [ALICE_ID, 0, 0, 2]})

    async def steps(decide: Decide) -> None:
        first = [await decide(rcpt(instance="m1")) for _ in range(3)]
        assert first[:2] == [DUNNO, DUNNO]
        assert first[2] == (
            b"action=550 5.5.3 Too many recipients: alice@example.test may send a message "
            b"to at most 2 recipients\n\n"
        )
        assert await decide(end(instance="m1", recipients=2)) == DUNNO
        assert await decide(rcpt(instance="m2")) == DUNNO  # a new message starts at zero

    run_policy(tmp_path, settings.SENDING_REDIS_URL, prefix, steps)
    client = redis.Redis.from_url(settings.SENDING_REDIS_URL)
    (member,) = client.zrange(sent_key(prefix, ALICE_ID), 0, -1)
    assert member_recipients(member) == 2  # one message, two recipients


def test_unauthenticated_and_unlimited_clients_get_dunno_and_are_counted_by_id(
    tmp_path: Path, prefix: str
) -> None:
    write_limits(tmp_path, {"alice": [ALICE_ID, 0, 0, 0]})  # no limit, but her id

    async def steps(decide: Decide) -> None:
        assert await decide(request(protocol_state="RCPT", sasl_username="")) == DUNNO
        assert await decide(request(protocol_state="RCPT")) == DUNNO
        assert await decide(request(protocol_state="END-OF-MESSAGE", recipient_count=1)) == DUNNO
        assert await send_message(decide, "m1", recipients=2) == [DUNNO, DUNNO, DUNNO]
        assert await decide(request(protocol_state="DATA", sasl_username=ALICE)) == DUNNO

    run_policy(tmp_path, settings.SENDING_REDIS_URL, prefix, steps)
    client = redis.Redis.from_url(settings.SENDING_REDIS_URL)
    assert sent_in_window(client, prefix, [ALICE_ID]) == {ALICE_ID: 1}
    assert not client.exists(sent_key(prefix, ALICE))  # not under her address
    assert client.ttl(sent_key(prefix, ALICE_ID)) > 86400  # the key goes away when idle


def test_a_sender_the_limits_files_do_not_know_is_counted_by_address(
    tmp_path: Path, prefix: str
) -> None:
    # Only a file written before ids were in it (or none at all) leaves a sender without id.
    (tmp_path / f"{DOMAIN}.json").write_text('{"accounts": {"alice": [0, 1, 0]}}')

    async def steps(decide: Decide) -> None:
        assert await send_message(decide, "m1") == [DUNNO, DUNNO]
        assert b"Daily sending limit reached" in await decide(rcpt(instance="m2"))
        assert await decide(end(user=f"bob@{DOMAIN}", instance="m4")) == DUNNO

    run_policy(tmp_path, settings.SENDING_REDIS_URL, prefix, steps)
    client = redis.Redis.from_url(settings.SENDING_REDIS_URL)
    bob = f"bob@{DOMAIN}"
    assert sent_in_window(client, prefix, [ALICE, bob]) == {ALICE: 1, bob: 1}


def test_old_messages_leave_the_window_and_the_key(tmp_path: Path, prefix: str) -> None:
    write_limits(tmp_path, {"alice": [ALICE_ID, 0, 1, 0]})
    client = redis.Redis.from_url(settings.SENDING_REDIS_URL)
    key = sent_key(prefix, ALICE_ID)
    client.zadd(key, {"old:1:x": time.time() - 86400 - 5})

    async def steps(decide: Decide) -> None:
        assert await send_message(decide, "m1") == [DUNNO, DUNNO]  # the old one is outside

    run_policy(tmp_path, settings.SENDING_REDIS_URL, prefix, steps)
    members = client.zrange(key, 0, -1)
    assert len(members) == 1 and b"old:1:x" not in members  # trimmed by the count


def test_a_bad_recipient_count_is_a_malformed_request(tmp_path: Path, prefix: str) -> None:
    async def steps(decide: Decide) -> None:
        assert await decide(end(recipients="many")) == (
            b"action=550 5.5.2 Malformed policy request: recipient_count is not a number\n\n"
        )

    run_policy(tmp_path, settings.SENDING_REDIS_URL, prefix, steps)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens once the socket is closed


def test_without_redis_the_limits_apply_to_the_nodes_own_count(tmp_path: Path) -> None:
    write_limits(tmp_path, {"alice": [ALICE_ID, 0, 2, 2], "bob": [2, 0, 0, 0]})
    bob = f"bob@{DOMAIN}"

    async def steps(decide: Decide) -> None:
        assert await send_message(decide, "m1", recipients=2) == [DUNNO] * 3
        assert await send_message(decide, "m2") == [DUNNO, DUNNO]
        refused = await decide(rcpt(instance="m3"))
        assert refused == (  # the real reason, as with Redis: she did send two
            b"action=550 5.7.1 Daily sending limit reached: alice@example.test may send "
            b"2 messages in 24 hours\n\n"
        )
        for n in range(3):  # no limit: sends as usual
            assert await decide(rcpt(user=bob, instance=f"b{n}")) == DUNNO
            assert await decide(end(user=bob, instance=f"b{n}")) == DUNNO

    run_policy(tmp_path, f"redis://127.0.0.1:{closed_port()}/0", "x/", steps)
    store = FallbackStore(tmp_path / ".fallback.sqlite3")
    assert store.count(str(ALICE_ID), 0) == 2 and store.count("2", 0) == 3
    assert store.fallback_since() is not None


# --- the server, over a real socket --------------------------------------------------------


class Server:
    def __init__(self, port: int) -> None:
        self.port = port

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=5)


def answers(sock: socket.socket, count: int) -> list[bytes]:
    data = b""
    while data.count(b"\n\n") < count:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return [part + b"\n\n" for part in data.split(b"\n\n")[:-1]]


def with_server(tmp_path: Path, prefix: str, test: Callable[[Server], None]) -> None:
    """Run `test` (blocking socket code) in a thread while the server runs in this loop."""
    port = closed_port()

    async def main() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(
            serve(host="127.0.0.1", port=port, limits_dir=tmp_path,
                  state_dir=tmp_path / "state", redis_url=settings.SENDING_REDIS_URL,
                  prefix=prefix, stop=stop)
        )  # fmt: skip
        for _ in range(100):
            await asyncio.sleep(0.01)
            if task.done() or _listening(port):
                break
        try:
            await asyncio.to_thread(test, Server(port))
        finally:
            stop.set()
            await task

    run_async(main())


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def test_one_connection_serves_many_requests_in_order(tmp_path: Path, prefix: str) -> None:
    write_limits(tmp_path, {"alice": [ALICE_ID, 0, 0, 1]})

    def test(server: Server) -> None:
        with server.connect() as sock:
            for n in range(3):
                sock.sendall(rcpt(instance=f"m{n}"))
                assert answers(sock, 1) == [DUNNO]
            # Several requests in one write (and a request split over writes) are answered
            # one by one, in order.
            sock.sendall(rcpt(instance="x") + rcpt(instance="x") + rcpt(instance="y")[:20])
            sock.sendall(rcpt(instance="y")[20:])
            got = answers(sock, 3)
            assert got[0] == DUNNO and b"Too many recipients" in got[1] and got[2] == DUNNO

    with_server(tmp_path, prefix, test)


def test_malformed_requests_are_refused_and_the_connection_goes_on(
    tmp_path: Path, prefix: str
) -> None:
    def test(server: Server) -> None:
        with server.connect() as sock:
            sock.sendall(b"hello\n\n")
            assert answers(sock, 1) == [
                b"action=550 5.5.2 Malformed policy request: a line is not name=value\n\n"
            ]
            sock.sendall(b"request=smtpd_access_policy\nx=" + b"y" * 100_000 + b"\n\n")
            assert answers(sock, 1) == [
                b"action=550 5.5.2 Malformed policy request: longer than 64 KiB\n\n"
            ]
            sock.sendall(rcpt())
            assert answers(sock, 1) == [DUNNO]
        with server.connect() as sock:
            sock.sendall(b"request=smtpd_access")  # half a request, then the client is gone
        with server.connect() as sock:
            sock.sendall(b"x" * 100_000)  # half of an oversized one
        with server.connect() as sock:
            sock.sendall(rcpt())
            assert answers(sock, 1) == [DUNNO]

    with_server(tmp_path, prefix, test)


# --- the command ---------------------------------------------------------------------------


@pytest.mark.parametrize("listen", ["10040", "127.0.0.1:", "127.0.0.1:http", "127.0.0.1:70000"])
def test_the_command_refuses_a_bad_listen_address(listen: str) -> None:
    with pytest.raises(CommandError, match="is not host:port"):
        call_command("policyd", "--listen", listen)


def test_the_command_says_when_its_port_is_taken(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "manage.py", "policyd", "--listen", f"127.0.0.1:{port}",
             "--node-dir", str(tmp_path)],
            cwd=REPO, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert result.returncode == 1
    assert "policy service could not start: " in result.stderr.strip().splitlines()[-1]


def test_an_unusable_state_folder_does_not_stop_the_service(tmp_path: Path, prefix: str) -> None:
    # Without the service Postfix refuses every submission: it serves, the fallback in memory.
    write_limits(tmp_path, {"alice": [ALICE_ID, 0, 0, 1]})
    (tmp_path / "state").write_text("a file where the folder should be")

    def test(server: Server) -> None:
        with server.connect() as sock:
            sock.sendall(rcpt())
            assert answers(sock, 1) == [DUNNO]

    with_server(tmp_path, prefix, test)
