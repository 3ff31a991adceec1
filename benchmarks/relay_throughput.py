"""Messages/s a mail node relays to a smarthost, and the latency it adds per message.

A private node (Postfix, Dovecot, policy service, postsrsd; MAILNODE_RELAYHOST pointing at the
capture smarthost of tests/capture_smtp.py) is pinned to one core with taskset; C clients on
the other cores submit N messages over authenticated submission (one kept-open connection
each, as a mail client or a webmail server does) to outside addresses. Figures:
- through the node: N / (first submission to the last message the smarthost received), and
  per message the time from the client's DATA to the smarthost's receipt (p50, p99);
- baseline, same run, same clients: the same messages straight to the capture server.
The node's figure includes the policy service's two checks per message and Postfix's queue
manager handing each message to an smtp client process.
`--smoke` (20 messages, 2 clients) shows that it all runs, not figures.

    .venv/bin/python benchmarks/relay_throughput.py [--messages 2000] [--clients 4] [--core 1]
"""

from __future__ import annotations

import argparse
import os
import shutil
import smtplib
import subprocess
import sys
import tempfile
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

from bench_bed import REPO, percentile

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tempusmail.settings")
PASSWORD = "bench-relay-password"
DOMAIN = "relay-bench.test"
HOST = "127.0.0.1"


def _message(sender: str, index: int) -> tuple[str, bytes]:
    to = f"customer{index}@far.test"
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, to, f"bench {index}"
    message["X-Bench-Sent"] = repr(time.monotonic())
    message.set_content("A short business message of a few lines.\n" * 20)
    return to, message.as_bytes(policy=SMTP)  # CRLF line ends, as on the wire


def _drive(port: int, *, login: str | None, count: int, clients: int, first: int) -> list[float]:
    """Send count messages over `clients` kept-open connections; the sent times (monotonic)."""
    sent: list[float] = []

    def client(indexes: range) -> None:
        with smtplib.SMTP(HOST, port, timeout=30) as smtp:
            smtp.ehlo("bench.client.test")
            if login:
                smtp.login(login, PASSWORD)
            sender = login or f"bench@{DOMAIN}"
            for i in indexes:
                to, data = _message(sender, i)
                smtp.sendmail(sender, [to], data)
                sent.append(time.monotonic())

    share = count // clients
    parts = [range(first + n * share, first + (n + 1) * share) for n in range(clients)]
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(client, parts))
    return sent


def received(capture, *, first: int, count: int) -> list:
    """Wait until the smarthost has messages first..first+count-1 (exits after 120 s)."""
    wanted = {f"customer{i}@far.test" for i in range(first, first + count)}
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        got = [m for m in list(capture.received) if m.recipients[0] in wanted]
        if len(got) >= len(wanted):
            return got
        time.sleep(0.02)
    sys.exit(f"only {len(got)} of {count} messages reached the smarthost in 120 s")


def rate_and_latency(got: list, start: float, pct: float) -> tuple[float, float, float]:
    """Messages/s from start to the last arrival, and the p50 and p<pct> latency in ms."""
    end = max(m.at for m in got)
    latency = [(m.at - float(m.message["X-Bench-Sent"])) * 1000 for m in got]
    return len(got) / (end - start), percentile(latency, 50), percentile(latency, pct)


def _measure(capture, port: int, *, login: str | None, count: int, clients: int, first: int):
    start = time.monotonic()
    _drive(port, login=login, count=count, clients=clients, first=first)
    return rate_and_latency(received(capture, first=first, count=count), start, 99)


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
    for program in ("postfix", "postsrsd", "redis-server"):
        if not shutil.which(program) and not Path(f"/usr/sbin/{program}").exists():
            sys.exit(f"{program} is not installed")
    cpus = sorted(os.sched_getaffinity(0))
    others = {c for c in cpus if c != args.core}
    pin = args.core in cpus and bool(others) and shutil.which("taskset")

    import django

    django.setup()
    from passlib.hash import sha512_crypt

    from provisioning.mailstack.controller import MailStack
    from provisioning.mailstack.relay import Relay
    from provisioning.node.agent import NodeAgent
    from provisioning.node.paths import NodePaths
    from provisioning.node.state import AccountState, DomainState
    from provisioning.node.usage import UsageStore
    from provisioning.policy.daemon import CounterStore, GuardConfig
    from provisioning.policy.guard_rules import GuardRules
    from tests.bed import RedisServer
    from tests.capture_smtp import CaptureSMTP

    work = Path(tempfile.mkdtemp(prefix="tm-relay-bench-"))
    work.chmod(0o755)
    redis = RedisServer()
    redis.start()
    capture = CaptureSMTP().start()
    stack = MailStack(
        work,
        usage=UsageStore(url=redis.url(1), prefix="bench/"),
        sending=CounterStore(url=redis.url(2), prefix="bench/"),
        relay=Relay(f"[{HOST}]:{capture.port}"),
        # The password guard on, with its default rules, in the benchmark's own Redis.
        guard=GuardConfig(redis.url(3), "bench/", GuardRules(), "bench"),
    )
    try:
        ports = stack.start()
        if pin:
            # The node's processes (and what they fork later) on one core; clients elsewhere.
            for name in ("postfix/queue/pid/master.pid", "run/dovecot/master.pid"):
                pid = (work / name).read_text().split()[0]
                subprocess.run(["taskset", "-apc", str(args.core), pid], capture_output=True)
            os.sched_setaffinity(0, others)
        user = f"sender@{DOMAIN}"
        hashed = sha512_crypt.using(rounds=5000).hash(PASSWORD)
        account = AccountState(zlib.crc32(DOMAIN.encode()), "sender", hashed)
        state = DomainState(id=1, name=DOMAIN, version=1, accounts=(account,))
        NodeAgent(NodePaths(work)).apply_domain(state)
        time.sleep(1.1)  # Dovecot re-reads a passwd-file written within the last second
        where = f"node on core {args.core}" if pin else "node unpinned"
        print(f"{args.messages} messages, {args.clients} clients, {where}")
        n = args.messages
        base = _measure(capture, capture.port, login=None, count=n, clients=args.clients, first=0)
        node = _measure(capture, ports["submission"], login=user, count=n, clients=args.clients,
                        first=n)  # fmt: skip
        for name, (rate, p50, p99) in (("straight to smarthost", base), ("through the node", node)):
            print(f"{name:<22} {rate:8.1f} messages/s   p50 {p50:7.2f} ms   p99 {p99:7.2f} ms")
        print(f"added by the node: p50 {node[1] - base[1]:.2f} ms per message, "
              f"throughput {node[0] / base[0]:.2f}x the baseline")  # fmt: skip
    finally:
        stack.stop()
        capture.stop()
        redis.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    main()
