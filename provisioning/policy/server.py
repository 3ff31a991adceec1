"""The policy service process: one asyncio server on a loopback port, one task per connection.

Postfix opens one connection per smtpd process and keeps it for many requests, answered in
order. Nothing a client sends ends the server: a malformed request gets a refusal and the
connection goes on; an unexpected error in a decision is logged and answered with a
temporary refusal.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import pwd
import signal
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from provisioning.policy.counters import SentCounters
from provisioning.policy.decide import UNAVAILABLE, Policy, malformed
from provisioning.policy.fallback import PROBE_SECONDS, Counters
from provisioning.policy.fallback_store import FILE_NAME, FallbackStore
from provisioning.policy.guard import Guard
from provisioning.policy.guard_http import GuardHttp
from provisioning.policy.guard_rules import GuardRules
from provisioning.policy.guard_store import GuardStore, MemoryStore, RedisStore
from provisioning.policy.limits_table import LimitsTable
from provisioning.policy.protocol import END, MAX_REQUEST
from provisioning.policy.status import write_guard_metrics

log = logging.getLogger(__name__)

# The name `ps` shows and provisioning.node.processes.live_pid checks (at most 15 bytes).
PROCESS_NAME = "tm-policyd"


class PolicyServer:
    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self._connections: set[asyncio.Task[None]] = set()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            await self._serve(reader, writer)
        except (ConnectionError, asyncio.CancelledError):
            pass  # the client went away, or the server stops
        finally:
            self._connections.discard(task)
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        decide = self.policy.decide
        while True:
            try:
                block = await reader.readuntil(END)
            except asyncio.IncompleteReadError:
                return  # end of stream (a partial request is not answered: nobody would read it)
            except asyncio.LimitOverrunError as exc:
                try:
                    await _skip_request(reader, exc.consumed)
                except asyncio.IncompleteReadError:
                    return
                writer.write(malformed(f"longer than {MAX_REQUEST // 1024} KiB"))
                continue
            try:
                answer = await decide(block)
            except Exception:
                log.exception("decision failed; answering with a temporary refusal")
                answer = UNAVAILABLE
            writer.write(answer)
            if writer.transport.get_write_buffer_size() > MAX_REQUEST:
                await writer.drain()  # a client that sends without reading its answers

    async def close(self) -> None:
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)


async def _skip_request(reader: asyncio.StreamReader, consumed: int) -> None:
    """Drop an oversized request up to and including its terminating empty line."""
    while True:
        await reader.readexactly(consumed)
        try:
            await reader.readuntil(END)
            return
        except asyncio.LimitOverrunError as exc:
            consumed = exc.consumed


async def serve(
    *,
    host: str,
    port: int,
    limits_dir: Path,
    state_dir: Path,
    redis_url: str,
    prefix: str,
    pid_file: Path | None = None,
    user: str | None = None,
    stop: asyncio.Event | None = None,
    probe_seconds: float = PROBE_SECONDS,
    guard: GuardSetup | None = None,
) -> None:
    """Serve until SIGTERM/SIGINT, or, when the caller passes `stop`, until it is set (the
    caller then owns stopping: signal handlers only work in the main thread).

    state_dir holds the fallback count and the status files (fallback.py, status.py); it is
    given to `user` before privileges are dropped."""
    handler: PolicyServer | None = None

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert handler is not None  # set before the server starts serving
        await handler.handle(reader, writer)

    server = await asyncio.start_server(
        handle, host, port, limit=MAX_REQUEST, reuse_address=True, backlog=1024,
        start_serving=False,
    )  # fmt: skip
    if pid_file is not None:
        pid_file.write_text(f"{os.getpid()}\n")
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        if user:
            _hand_over(state_dir, user)
    except OSError as exc:
        log.error("cannot prepare %s for the fallback count: %s", state_dir, exc)
    if user:
        _drop_privileges(user)  # after binding and the pid file, before any request
    counters = Counters(
        SentCounters(redis_url, prefix),
        _fallback_store(state_dir),
        status_dir=state_dir,
        probe_seconds=probe_seconds,
    )
    handler = PolicyServer(Policy(LimitsTable(limits_dir), counters))
    counters.start()
    guard_running = await _start_guard(guard, state_dir) if guard else None
    await server.start_serving()
    if stop is None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
    log.info("policy service listening on %s:%d (pid %d)", host, port, os.getpid())
    try:
        await stop.wait()
    finally:
        server.close()
        await handler.close()
        await server.wait_closed()
        await counters.close()
        if guard_running is not None:
            await guard_running.close()
        log.info("policy service stopped")


@dataclass(frozen=True)
class GuardSetup:
    """The password-guessing guard's side of the service: where it listens, rules, Redis."""

    host: str
    port: int
    rules: GuardRules
    redis_url: str
    prefix: str
    node: str


class _RunningGuard:
    def __init__(self, server: asyncio.Server, http: GuardHttp, store: GuardStore,
                 metrics: asyncio.Task[None]) -> None:  # fmt: skip
        self.server, self.http, self.store, self.metrics = server, http, store, metrics

    async def close(self) -> None:
        self.metrics.cancel()
        self.server.close()
        await self.http.close()
        await self.server.wait_closed()
        await self.store.close()


async def _start_guard(setup: GuardSetup, state_dir: Path) -> _RunningGuard:
    redis = (
        RedisStore(setup.redis_url, setup.prefix, setup.rules, setup.node)
        if setup.redis_url
        else None
    )
    store = GuardStore(redis, MemoryStore(setup.rules))
    guard = Guard(setup.rules, store)
    http = GuardHttp(guard)
    server = await asyncio.start_server(http.handle, setup.host, setup.port, reuse_address=True,
                                        backlog=1024, limit=64 * 1024)  # fmt: skip

    async def write_metrics() -> None:
        while True:
            try:
                write_guard_metrics(state_dir, guard.metrics, store.fallback_since)
            except OSError as exc:
                log.error("cannot write the guard's metrics: %s", exc)
            await asyncio.sleep(5)

    metrics = asyncio.get_running_loop().create_task(write_metrics())
    log.info("password guard listening on %s:%d", setup.host, setup.port)
    return _RunningGuard(server, http, store, metrics)


def _fallback_store(folder: Path) -> FallbackStore:
    try:
        return FallbackStore(folder / FILE_NAME)
    except sqlite3.Error as exc:
        # Serving matters more than surviving a restart: without the service, Postfix refuses
        # every submission. The fallback then lives in memory only.
        log.error("cannot open %s, the fallback count will not survive a restart: %s",
                  folder / FILE_NAME, exc)  # fmt: skip
        return FallbackStore(Path(":memory:"))


def _hand_over(folder: Path, user: str) -> None:
    """The state folder and what is in it (an earlier run may have been root) to `user`."""
    entry = pwd.getpwnam(user)
    folder.chmod(0o755)  # node_exporter reads policyd.prom
    for path in (folder, *folder.iterdir()):
        os.chown(path, entry.pw_uid, entry.pw_gid)


def _drop_privileges(user: str) -> None:
    entry = pwd.getpwnam(user)
    os.setgroups([])
    os.setgid(entry.pw_gid)
    os.setuid(entry.pw_uid)


def set_process_name() -> None:
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(15, PROCESS_NAME.encode(), 0, 0, 0)  # PR_SET_NAME
