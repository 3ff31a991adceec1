"""Messages/s through the node's rspamd milter (DKIM signing and scoring) and the latency it
adds per message, against the same stack without the milter, in the same run.

A private node (relaying to the capture smarthost of tests/capture_smtp.py) and its rspamd are
pinned to one core with taskset; C clients on the other cores submit N messages over
authenticated submission (kept-open connections) from a domain with an active RSA 2048 key.
Figures per phase: N / (first submission to the last message received by the smarthost), and
per message the time from the client's DATA to the smarthost's receipt (p50, p95). Phase one
runs with the milter (every message received must carry a DKIM-Signature); phase two stops
rspamd (Postfix's milter connection is refused, milter_default_action = accept) and sends the
same messages again, which must arrive unsigned.
`--smoke` (20 messages, 2 clients) shows that it all runs, not figures.

    .venv/bin/python benchmarks/milter_throughput.py [--messages 2000] [--clients 4] [--core 1]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

from bench_bed import REPO
from relay_throughput import HOST, PASSWORD, _drive, rate_and_latency, received

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tempusmail.settings")
DOMAIN = "relay-bench.test"  # relay_throughput's sender domain (its _drive signs as it)


def _wait_for_port(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection((HOST, port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    sys.exit(f"rspamd's milter port {port} did not open in {timeout:.0f} s")


def _measure(capture, port: int, *, count: int, clients: int, first: int, signed: bool):
    start = time.monotonic()
    _drive(port, login=f"sender@{DOMAIN}", count=count, clients=clients, first=first)
    got = received(capture, first=first, count=count)
    with_signature = sum(m.message["DKIM-Signature"] is not None for m in got)
    if with_signature != (count if signed else 0):
        sys.exit(f"{with_signature} of {count} messages signed; expected {'all' if signed else 0}")
    return rate_and_latency(got, start, 95)


def _pin(work: Path, core: int) -> None:
    pids = [
        (work / name).read_text().split()[0]
        for name in ("postfix/queue/pid/master.pid", "run/dovecot/master.pid",
                     "run/rspamd/rspamd.pid")
    ]  # fmt: skip
    for pid in pids:
        subprocess.run(["taskset", "-apc", str(core), pid], capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--core", type=int, default=1, help="the one core the node gets")
    parser.add_argument("--smoke", action="store_true", help="20 messages, 2 clients")
    args = parser.parse_args()
    if args.smoke:
        args.messages, args.clients = 20, 2
    args.messages -= args.messages % args.clients
    for program in ("postfix", "postsrsd", "redis-server", "rspamd"):
        if not shutil.which(program) and not Path(f"/usr/sbin/{program}").exists():
            sys.exit(f"{program} is not installed")
    cpus = sorted(os.sched_getaffinity(0))
    others = {c for c in cpus if c != args.core}
    pin = args.core in cpus and bool(others) and shutil.which("taskset")

    import django

    django.setup()
    from passlib.hash import sha512_crypt

    from domains.dkim_keys import generate
    from provisioning.mailstack.controller import MailStack
    from provisioning.mailstack.relay import Relay
    from provisioning.mailstack.rspamd import rspamd_pid
    from provisioning.node.agent import NodeAgent
    from provisioning.node.paths import NodePaths
    from provisioning.node.state import AccountState, DkimSigning, DomainState
    from provisioning.node.usage import UsageStore
    from provisioning.policy.daemon import CounterStore, GuardConfig
    from provisioning.policy.guard_rules import GuardRules
    from tests.bed import RedisServer
    from tests.capture_smtp import CaptureSMTP

    work = Path(tempfile.mkdtemp(prefix="tm-milter-bench-"))
    work.chmod(0o755)
    redis = RedisServer()
    redis.start()
    capture = CaptureSMTP().start()
    stack = MailStack(
        work,
        usage=UsageStore(url=redis.url(1), prefix="bench/"),
        sending=CounterStore(url=redis.url(2), prefix="bench/"),
        relay=Relay(f"[{HOST}]:{capture.port}"),
        # The password guard (issue 27) measures nothing here: the clients are exempt.
        guard=GuardConfig(redis.url(3), "bench/", GuardRules(exempt=("127.0.0.0/8",)), "bench"),
    )
    try:
        ports = stack.start()
        _wait_for_port(ports["rspamd_milter"], 90)
        if pin:
            _pin(work, args.core)
            os.sched_setaffinity(0, others)
        hashed = sha512_crypt.using(rounds=5000).hash(PASSWORD)
        account = AccountState(zlib.crc32(DOMAIN.encode()), "sender", hashed)
        key = DkimSigning("bench", "rsa", generate("rsa").private_pem)
        state = DomainState(id=1, name=DOMAIN, version=1, accounts=(account,), dkim=(key,))
        NodeAgent(NodePaths(work)).apply_domain(state)
        time.sleep(3.5)  # Dovecot's passwd-file (1 s) and rspamd's selector map (3 s)
        where = f"node and rspamd on core {args.core}" if pin else "node unpinned"
        print(f"{args.messages} messages, {args.clients} clients, {where}")
        n, c = args.messages, args.clients
        _measure(capture, ports["submission"], count=c, clients=c, first=10**6, signed=True)
        milter = _measure(capture, ports["submission"], count=n, clients=c, first=0, signed=True)
        # Without: rspamd stopped. Postfix's connect to the milter port is refused at once and
        # milter_default_action = accept lets the mail through unsigned (what a node sees
        # while rspamd is down), so the baseline is the same stack, configuration and all.
        pid = rspamd_pid(stack.paths)
        os.kill(pid, signal.SIGTERM)
        while rspamd_pid(stack.paths):
            time.sleep(0.05)
        plain = _measure(capture, ports["submission"], count=n, clients=c, first=n, signed=False)
        for name, (rate, p50, p95) in (("without the milter", plain), ("with rspamd", milter)):
            print(f"{name:<19} {rate:8.1f} messages/s   p50 {p50:7.2f} ms   p95 {p95:7.2f} ms")
        print(f"added by rspamd: p50 {milter[1] - plain[1]:.2f} ms, p95 {milter[2] - plain[2]:.2f}"
              f" ms per message, throughput {milter[0] / plain[0]:.2f}x")  # fmt: skip
    finally:
        stack.stop()
        capture.stop()
        redis.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    main()
