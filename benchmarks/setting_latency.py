"""Time from a settings change to the mail servers behaving accordingly (target p95 <= 1 s).

For each kind of change, through the real loop (service -> Redis -> worker -> agent ->
Postfix/Dovecot), and measured over the wire:
- toggle a service: POP3 off (until a POP3 login is refused), then on (until accepted);
- change a forward: until a probe message sent after the change lands at the new target;
- set an autoresponder: until a probe message sent after the change gets an automatic reply.
Printed beside each, from the same run: the time until the panel recorded the node's
acknowledgement (the loop alone), so the daemons' share is visible.

    .venv/bin/python benchmarks/setting_latency.py [--rounds 20] [--database-url URL]
"""

from __future__ import annotations

import argparse
import smtplib
import time
import uuid
from datetime import UTC, datetime, timedelta

from bench_bed import live_loop, percentile, summary

PASSWORD = "bench-password-1"


def until(predicate, started: float, limit: float = 15.0) -> float:
    while not predicate():
        if time.perf_counter() - started > limit:
            raise RuntimeError("the mail servers did not follow within 15 s")
        time.sleep(0.02)
    return time.perf_counter() - started


def acked(mailbox_pk: int) -> bool:
    from mailboxes.models import Mailbox, SyncStatus

    return Mailbox.objects.select_related("domain").get(pk=mailbox_pk).sync_status != (
        SyncStatus.UPDATING
    )


def send(ports: dict[str, int], sender: str, to: str, subject: str) -> str:
    message_id = f"<{uuid.uuid4()}@bench.test>"
    body = (
        f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: {message_id}\r\n\r\nx\r\n"
    )
    with smtplib.SMTP("127.0.0.1", ports["smtp"], timeout=10) as smtp:
        smtp.sendmail(sender, [to], body.encode())
    return message_id


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()

    with live_loop(args.database_url) as bed:
        from mailboxes.services import mailbox_create, mailbox_update
        from tests.mailclient import fetch_messages, pop3_login

        ports, actor, domain = bed.ports, bed.actor, bed.domain

        def make(local: str):
            return mailbox_create(actor=actor, domain=domain, local_part=local, password=PASSWORD)

        alice, bob, carol, dave = make("alice"), make("bob"), make("carol"), make("dave")
        results: dict[str, list[float]] = {}

        def record(name: str, behaved: float, ack: float) -> None:
            results.setdefault(name, []).append(behaved)
            results.setdefault(f"  panel acknowledged ({name})", []).append(ack)

        for _ in range(args.rounds):
            for enabled in (False, True):
                started = time.perf_counter()
                mailbox_update(actor=actor, mailbox=alice, changes={"pop3_enabled": enabled})
                ack = until(lambda: acked(alice.pk), started)
                behaved = until(
                    lambda e=enabled: pop3_login(ports, alice.address, PASSWORD) == e, started
                )
                record("toggle POP3", behaved, ack)

        for i in range(args.rounds):
            target = bob if i % 2 == 0 else carol
            started = time.perf_counter()
            mailbox_update(
                actor=actor, mailbox=alice,
                changes={"forward_to": [target.address], "forward_keep_copy": False},
            )  # fmt: skip
            ack = until(lambda: acked(alice.pk), started)
            sent: dict[str, float] = {}

            def arrived(target=target, sent=sent) -> bool:
                sent[send(ports, dave.address, alice.address, "probe")] = time.perf_counter()
                ids = {m["Message-ID"] for m in fetch_messages(ports, target.address, PASSWORD)}
                return bool(ids & set(sent))

            until(arrived, started)
            ids = {m["Message-ID"] for m in fetch_messages(ports, target.address, PASSWORD)}
            first = min(t for mid, t in sent.items() if mid in ids)
            record("change a forward", first - started, ack)

        mailbox_update(actor=actor, mailbox=alice, changes={"forward_to": []})
        now = datetime.now(UTC)
        for i in range(args.rounds):
            started = time.perf_counter()
            mailbox_update(
                actor=actor, mailbox=alice,
                changes={"autoreply_enabled": True, "autoreply_subject": f"Away {i}",
                         "autoreply_start": now - timedelta(hours=1),
                         "autoreply_end": now + timedelta(days=1, minutes=i)},
            )  # fmt: skip
            ack = until(lambda: acked(alice.pk), started)
            sent = {}

            def replied(sent=sent, i=i) -> bool:
                sent[send(ports, dave.address, alice.address, "probe")] = time.perf_counter()
                replies = [
                    m for m in fetch_messages(ports, dave.address, PASSWORD)
                    if m["Subject"] == f"Away {i}"
                ]  # fmt: skip
                return any(m["In-Reply-To"] in sent for m in replies)

            until(replied, started)
            replies = fetch_messages(ports, dave.address, PASSWORD)
            first = min(
                sent[m["In-Reply-To"]] for m in replies
                if m["Subject"] == f"Away {i}" and m["In-Reply-To"] in sent
            )  # fmt: skip
            record("set an autoresponder", first - started, ack)

    print(f"{args.rounds} rounds each, change saved -> mail servers behave accordingly")
    for name, values in results.items():
        print(summary(name, values))
    worst = max(percentile(v, 95) for k, v in results.items() if not k.startswith(" "))
    print(
        f"p95 target 1000 ms: {'met' if worst <= 1.0 else 'NOT met'} (worst {worst * 1000:.0f} ms)"
    )


if __name__ == "__main__":
    main()
