"""The node's side of the mail queue: read it with `postqueue -j`, retry or delete messages.

Runs on the mail node, on its own Postfix (`-c <node>/postfix`); the panel never reads these
files, it asks through the loop (provisioning/queue.py). Queue ids are checked against
Postfix's alphabet before they reach a command line.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import asdict, dataclass

from provisioning.node.paths import NodePaths

# Short ids are hex (627AD20C12D); long ids (enable_long_queue_ids) use [0-9B-Zb-z]. A
# trailing * (active) or ! (held) in `mailq` output is never part of the id itself.
QUEUE_ID = re.compile(r"[0-9A-Za-z]{6,24}")
ACTIONS = ("retry", "delete")
TIMEOUT = 60


class QueueError(RuntimeError):
    pass


@dataclass(frozen=True)
class QueuedMail:
    id: str
    state: str  # Postfix's queue: active, deferred, hold, incoming, maildrop
    arrival: int  # Unix time
    size: int
    sender: str  # "" for a bounce (null sender)
    recipients: list[str]
    reason: str  # why delivery is delayed, per Postfix (the first recipient's that has one)

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def _binary(name: str) -> str:
    for candidate in (shutil.which(name), f"/usr/sbin/{name}"):
        if candidate:
            return candidate
    raise QueueError(f"{name} not found: install Postfix on this mail node")


def _run(paths: NodePaths, *args: str) -> str:
    try:
        result = subprocess.run(
            [*args[:1], "-c", str(paths.postfix_dir), *args[1:]],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        raise QueueError(f"{args[0]} took more than {TIMEOUT} s") from None
    if result.returncode != 0:
        raise QueueError(f"{args[0]} failed: {result.stderr.strip() or result.returncode}")
    return result.stdout


def parse(text: str) -> list[QueuedMail]:
    """`postqueue -j` output: one JSON object per line."""
    mails = []
    for line in text.splitlines():
        if not line.strip():
            continue
        item = json.loads(line)
        recipients = item.get("recipients") or []
        reasons = [r.get("delay_reason", "") for r in recipients if r.get("delay_reason")]
        mails.append(
            QueuedMail(
                id=item["queue_id"],
                state=item.get("queue_name", ""),
                arrival=int(item.get("arrival_time", 0)),
                size=int(item.get("message_size", 0)),
                sender=item.get("sender", ""),
                recipients=[r["address"] for r in recipients],
                reason=reasons[0] if reasons else "",
            )
        )
    return mails


def list_queue(paths: NodePaths) -> list[QueuedMail]:
    if not (paths.postfix_dir / "main.cf").exists():
        return []  # never started: nothing can be queued
    return parse(_run(paths, _binary("postqueue"), "-j"))


def act(paths: NodePaths, action: str, ids: list[str]) -> list[str]:
    """Retry ("postqueue -i") or delete ("postsuper -d") the messages; return the ids acted on.

    An id no longer queued (delivered meanwhile) is skipped, not an error."""
    if action not in ACTIONS:
        raise QueueError(f"unknown queue action {action!r}")
    bad = [i for i in ids if not QUEUE_ID.fullmatch(i)]
    if bad:
        raise QueueError(f"not a queue id: {bad[0]!r}")
    queued = {mail.id for mail in list_queue(paths)}
    done = [i for i in ids if i in queued]
    for queue_id in done:
        if action == "retry":
            _run(paths, _binary("postqueue"), "-i", queue_id)
        else:
            _run(paths, _binary("postsuper"), "-d", queue_id)
    return done
