"""Decisions per second and p99 latency of the sending-limits policy service, beside postfwd.

Both get the same load in the same run: C clients (10, then 50 by default), each on one
connection kept open as
Postfix's smtpd keeps its own, sending a message's requests in a loop for D seconds: RCPT (the
limit check), then END-OF-MESSAGE (the count), with the attributes Postfix 3.7 sends, for 1,000
users whose daily limit is never reached (so every RCPT is a real check against the counters).
- ours: `manage.py policyd`, pinned to one core, counters in a private redis-server;
- postfwd (Debian's postfwd2): rate(sasl_username/.../86400) at RCPT, rcpt(...) at
  END-OF-MESSAGE, its request cache off (it would answer repeated requests without counting),
  as many children as clients (each child serves one connection), pinned to the same core.
The clients and Redis run on the other cores. Target: >= 5,000 decisions/s, >= 2x postfwd.
Then Redis is stopped and the same load runs again: the service on its node-local fallback
count (provisioning/policy/fallback.py), which must keep up with the normal path.
`--smoke` (1 s, 5 clients; postfwd only if installed) shows that it all runs, not figures.

    .venv/bin/python benchmarks/policy_service.py [--clients 10,50] [--seconds 10] [--core 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench_bed import percentile

REPO = Path(__file__).resolve().parent.parent
DOMAIN = "bench.test"
USERS = 1000
WARMUP_SECONDS = 1.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen[bytes] | None, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{proc.args} exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port} after {timeout} s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# --- the load ------------------------------------------------------------------------------


def request(state: str, user: int, instance: str, recipient_count: int) -> bytes:
    """A request as Postfix 3.7's smtpd sends it on the submission port."""
    attrs = {
        "request": "smtpd_access_policy",
        "protocol_state": state,
        "protocol_name": "ESMTP",
        "client_address": "127.0.0.1",
        "client_name": "localhost",
        "client_port": "40522",
        "reverse_client_name": "localhost",
        "server_address": "127.0.0.1",
        "server_port": "587",
        "helo_name": "client.example.net",
        "sender": f"user{user}@{DOMAIN}",
        "recipient": "" if state == "END-OF-MESSAGE" else f"friend{user}@example.net",
        "recipient_count": str(recipient_count),
        "queue_id": "4Kx9Fz1Qm0z3wJ7",
        "instance": instance,
        "size": "2048",
        "etrn_domain": "",
        "stress": "",
        "sasl_method": "PLAIN",
        "sasl_username": f"user{user}@{DOMAIN}",
        "sasl_sender": "",
        "ccert_subject": "",
        "ccert_issuer": "",
        "ccert_fingerprint": "",
        "ccert_pubkey_fingerprint": "",
        "encryption_protocol": "TLSv1.3",
        "encryption_cipher": "TLS_AES_256_GCM_SHA384",
        "encryption_keysize": "256",
        "policy_context": "",
        "compatibility_level": "3.7",
        "mail_version": "3.7.11",
    }
    return "".join(f"{name}={value}\n" for name, value in attrs.items()).encode() + b"\n"


def message_requests(client: int, count: int = 200) -> list[bytes]:
    """RCPT then END-OF-MESSAGE for `count` messages of varied users (reused in a cycle)."""
    out = []
    for n in range(count):
        user = (client * 7919 + n * 31) % USERS
        instance = f"{client:x}.{n:x}.bench"
        out += [request("RCPT", user, instance, 0), request("END-OF-MESSAGE", user, instance, 1)]
    return out


class Client(asyncio.Protocol):
    """One kept-open connection: a request, wait for its answer, the next one."""

    def __init__(self, requests: list[bytes], latencies: list[float], until: float) -> None:
        self.requests = requests
        self.latencies = latencies
        self.until = until
        self.next = 0
        self.buffer = b""
        self.done = asyncio.get_running_loop().create_future()
        self.refused = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.send()

    def send(self) -> None:
        self.sent_at = time.perf_counter()
        self.transport.write(self.requests[self.next % len(self.requests)])
        self.next += 1

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.buffer.endswith(b"\n\n"):
            return
        now = time.perf_counter()
        if not self.buffer.startswith(b"action="):
            raise RuntimeError(f"not an answer: {self.buffer[:80]!r}")
        if not self.buffer.startswith((b"action=DUNNO", b"action=dunno")):
            self.refused += 1
        self.buffer = b""
        self.latencies.append(now - self.sent_at)
        self.latencies.append(now)  # paired: (latency, when), filtered for the warm-up below
        if now >= self.until:
            self.transport.close()
            self.done.set_result(None)
        else:
            self.send()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_exception(exc or RuntimeError("the server closed the connection"))


async def drive(port: int, clients: int, seconds: float) -> dict[str, float]:
    loop = asyncio.get_running_loop()
    started = time.perf_counter()
    until = started + WARMUP_SECONDS + seconds
    results: list[list[float]] = []
    protocols = []
    for c in range(clients):
        samples: list[float] = []
        results.append(samples)
        _, proto = await loop.create_connection(
            lambda c=c, s=samples: Client(message_requests(c), s, until), "127.0.0.1", port
        )
        protocols.append(proto)
    await asyncio.gather(*(p.done for p in protocols))
    measured_from = started + WARMUP_SECONDS
    latencies = [s[i] for s in results for i in range(0, len(s), 2) if s[i + 1] >= measured_from]
    window = until - measured_from
    return {
        "decisions_per_second": len(latencies) / window,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "refused": sum(p.refused for p in protocols),
    }


# --- the two services ----------------------------------------------------------------------


class PrivateRedis:
    def __init__(self, url: str, proc: subprocess.Popen[bytes]) -> None:
        self.url, self.proc = url, proc

    def stop(self) -> None:
        if self.proc.poll() is None:
            stop(self.proc)


@contextmanager
def private_redis(cores: str) -> Iterator[PrivateRedis]:
    port = free_port()
    proc = subprocess.Popen(
        ["taskset", "-c", cores, "redis-server", "--port", str(port), "--bind", "127.0.0.1",
         "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    server = PrivateRedis(f"redis://127.0.0.1:{port}/0", proc)
    try:
        wait_for_port(port, proc)
        yield server
    finally:
        server.stop()


@contextmanager
def our_service(work: Path, redis_url: str, core: str) -> Iterator[int]:
    limits = work / "node" / "policy" / "limits.d"
    limits.mkdir(parents=True)
    # As the agent writes them (provisioning/node/limits.py): [id, per hour, per day, recipients].
    accounts = {f"user{n}": [n + 1, 0, 10_000_000, 50] for n in range(USERS)}
    (limits / f"{DOMAIN}.json").write_text(json.dumps({"version": 2, "accounts": accounts}))
    port = free_port()
    log = (work / "policyd.log").open("wb")
    proc = subprocess.Popen(
        ["taskset", "-c", core, sys.executable, "manage.py", "policyd",
         "--listen", f"127.0.0.1:{port}", "--node-dir", str(work / "node"),
         "--redis-url", redis_url, "--prefix", "bench/"],
        cwd=REPO, stdout=log, stderr=log,
    )  # fmt: skip
    try:
        wait_for_port(port, proc)
        yield port
    finally:
        stop(proc)
        log.close()


@contextmanager
def postfwd(work: Path, core: str, clients: int) -> Iterator[int]:
    rules = work / "postfwd.cf"
    rules.write_text(
        "id=LIMIT; protocol_state==RCPT; sasl_username=~.; "
        "action=rate(sasl_username/10000000/86400/550 5.7.1 Daily sending limit reached)\n"
        "id=COUNT; protocol_state==END-OF-MESSAGE; sasl_username=~.; "
        "action=rcpt(sasl_username/500000000/86400/550 5.5.3 Too many recipients)\n"
        "id=DEFAULT; action=DUNNO\n"
    )
    rules.chmod(0o644)
    port, cache_port = free_port(), free_port()
    pid_file = work / "postfwd.pid"
    common = ["--pidfile", str(pid_file)]
    subprocess.run(
        ["taskset", "-c", core, "postfwd", "--file", str(rules),
         "--interface", "127.0.0.1", "--port", str(port),
         "--cache_interface", "127.0.0.1", "--cache_port", str(cache_port),
         "--user", "nobody", "--group", "nogroup", "--nodns", "--perfmon", "--cache=0",
         "--min_servers", str(clients), "--max_servers", str(clients + 5), *common],
        check=True,
    )  # fmt: skip
    try:
        wait_for_port(port, None)
        time.sleep(1)  # its children are forked after the port opens
        yield port
    finally:
        subprocess.run(["postfwd", "--kill", *common], capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", default="10,50", help="concurrent connections, a list")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--core", type=int, default=1, help="the one core the services get")
    parser.add_argument("--smoke", action="store_true", help="1 s at 5 clients: that it runs")
    args = parser.parse_args()
    if args.smoke:
        args.clients, args.seconds = "5", 1.0
    levels = [int(n) for n in args.clients.split(",")]
    with_postfwd = bool(shutil.which("postfwd"))
    for program in ("taskset", "redis-server") + (() if args.smoke else ("postfwd",)):
        if not shutil.which(program):
            sys.exit(f"{program} is not installed")
    cpus = sorted(os.sched_getaffinity(0))
    others = ",".join(str(c) for c in cpus if c != args.core)
    if args.core not in cpus or not others:
        sys.exit(f"need core {args.core} and at least one more (have {cpus})")
    os.sched_setaffinity(0, {c for c in cpus if c != args.core})  # the clients' cores

    work = Path(tempfile.mkdtemp(prefix="tempusmail-policy-bench-"))
    work.chmod(0o755)
    print(f"kept-open connections, {args.seconds:.0f} s per run, services on core {args.core}, "
          f"clients and Redis on {others}")  # fmt: skip
    runs: dict[str, list[dict[str, float]]] = {}
    try:
        with private_redis(others) as redis, our_service(work, redis.url, str(args.core)) as p:
            runs["tempusmail policyd"] = [asyncio.run(drive(p, n, args.seconds)) for n in levels]
            redis.stop()  # the counters' Redis goes away: the node's own count takes over
            runs["  on its fallback"] = [asyncio.run(drive(p, n, args.seconds)) for n in levels]
        if with_postfwd:
            with postfwd(work, str(args.core), max(levels)) as port:
                runs["postfwd 1.35"] = [asyncio.run(drive(port, n, args.seconds)) for n in levels]
        else:
            print("postfwd is not installed: no baseline in this smoke run")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for i, n in enumerate(levels):
        for name, results in runs.items():
            r = results[i]
            print(
                f"{n:3d} clients  {name:<20} {r['decisions_per_second']:7.0f} decisions/s   "
                f"p50 {r['p50_ms']:6.2f} ms   p99 {r['p99_ms']:6.2f} ms   "
                f"refused {r['refused']:.0f}"
            )
        if with_postfwd:
            ours, theirs = runs["tempusmail policyd"][i], runs["postfwd 1.35"][i]
            ratio = ours["decisions_per_second"] / theirs["decisions_per_second"]
            print(f"{n:3d} clients  ratio (ours / postfwd): {ratio:.1f}x decisions/s")


if __name__ == "__main__":
    main()
