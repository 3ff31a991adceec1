"""Time from the service call to the first successful IMAP login, for 50 new accounts.

Runs the real loop: mailbox_create() commits, a real Celery worker (Redis broker) builds the
state and applies it as the node agent, Dovecot picks up the passwd-file, and an IMAP client
polls until it logs in. Target: p95 <= 1 s.

Baseline in the same run: the same measurement with the node agent called directly (no
panel, no broker). Dovecot checks a passwd-file for changes at most once per second, so that
baseline is the floor; the difference is what the panel and Celery add.

    .venv/bin/python benchmarks/login_latency.py [--accounts 50] [--database-url URL]
"""

from __future__ import annotations

import argparse
import time

from bench_bed import live_loop, percentile, summary

PASSWORD = "bench-password-1"


def time_to_login(ports: dict[str, int], address: str, started: float) -> float:
    from tests.mailclient import imap_login

    while not imap_login(ports, address, PASSWORD):
        if time.perf_counter() - started > 10:
            raise RuntimeError(f"{address} could not log in within 10 s")
        time.sleep(0.01)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=50)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()

    with live_loop(args.database_url) as bed:
        from mailboxes.models import Mailbox, SyncStatus
        from mailboxes.passwords import hash_password
        from mailboxes.services import mailbox_create
        from provisioning.agent_runtime import local_agent
        from provisioning.node.state import AccountState, DomainState

        ports, actor, domain = bed.ports, bed.actor, bed.domain
        # Baseline: the agent alone, one more account per apply, as the loop does.
        agent, hashed, accounts, floor = local_agent(), hash_password(PASSWORD), [], []
        for i in range(args.accounts):
            accounts.append(AccountState(id=10**6 + i, local_part=f"base{i}", password_hash=hashed))
            started = time.perf_counter()
            agent.apply_domain(DomainState(id=10**6, name="floor.test", version=i + 1,
                                           accounts=tuple(accounts)))  # fmt: skip
            floor.append(time_to_login(ports, f"base{i}@floor.test", started))

        loop = []
        for i in range(args.accounts):
            started = time.perf_counter()
            mailbox_create(actor=actor, domain=domain, local_part=f"user{i}", password=PASSWORD)
            loop.append(time_to_login(ports, f"user{i}@bench.test", started))

        # A client that waits for the panel to show Online never meets Dovecot's ~0.5 s
        # failed-login reply (its auth failures are flushed on a 500 ms timer).
        online = []
        for i in range(args.accounts):
            started = time.perf_counter()
            mailbox = mailbox_create(
                actor=actor, domain=domain, local_part=f"online{i}", password=PASSWORD
            )
            while Mailbox.objects.select_related("domain").get(pk=mailbox.pk).sync_status != (
                SyncStatus.ONLINE
            ):
                time.sleep(0.005)
            online.append(time_to_login(ports, mailbox.address, started))

    print(f"{args.accounts} new accounts, service call -> first successful IMAP login")
    print(summary("panel + Celery + agent + Dovecot", loop))
    print(summary("same, logging in once Online", online))
    print(summary("baseline: agent + Dovecot only", floor))
    p95 = percentile(loop, 95)
    print(f"p95 target 1000 ms: {'met' if p95 <= 1.0 else 'NOT met'} ({p95 * 1000:.0f} ms)")


if __name__ == "__main__":
    main()
