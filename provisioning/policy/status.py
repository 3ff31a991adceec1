"""What the policy service tells the rest of the node about its counters, in two files of its
state folder (policy/state/):

- status.json, which the node agent's usage report carries to the panel
  (provisioning/node/usage.py policy_status → MailNode.policy_fallback_since);
- policyd.prom, in Prometheus' text format, for node_exporter's textfile collector.

Written when the fallback starts and ends, and every few seconds while it lasts. Neither needs
Redis nor the panel: a node on its fallback says so even when nothing else can be reached.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

STATUS_FILE = "status.json"
METRICS_FILE = "policyd.prom"


@dataclass(frozen=True)
class PolicyStatus:
    fallback_since: float | None  # Unix time; None: counting in Redis
    unmerged: int  # messages counted on the node, not yet in Redis
    written_at: float

    @classmethod
    def from_json(cls, data: dict[str, object]) -> PolicyStatus:
        since = data.get("fallback_since")
        return cls(
            fallback_since=float(since) if isinstance(since, int | float) else None,
            unmerged=int(data.get("unmerged") or 0),  # type: ignore[call-overload]
            written_at=float(data.get("written_at") or 0),  # type: ignore[arg-type]
        )

    def metrics(self) -> str:
        on = self.fallback_since is not None
        return (
            "# HELP tempusmail_policy_fallback 1 while the policy service counts sent mail on "
            "this node because the counters' Redis is unreachable.\n"
            "# TYPE tempusmail_policy_fallback gauge\n"
            f"tempusmail_policy_fallback {int(on)}\n"
            "# HELP tempusmail_policy_fallback_since_seconds Unix time the fallback started "
            "(0: not on fallback).\n"
            "# TYPE tempusmail_policy_fallback_since_seconds gauge\n"
            f"tempusmail_policy_fallback_since_seconds {self.fallback_since or 0:.3f}\n"
            "# HELP tempusmail_policy_unmerged_messages Messages counted on this node and not "
            "yet merged into Redis.\n"
            "# TYPE tempusmail_policy_unmerged_messages gauge\n"
            f"tempusmail_policy_unmerged_messages {self.unmerged}\n"
        )


GUARD_METRICS_FILE = "guard.prom"


def write_guard_metrics(folder: Path, metrics: Any, fallback_since: float | None) -> None:
    """The password guard's counts since the service started (guard.py GuardMetrics)."""
    lines = []
    for name, what in (
        ("checks", "Logins the guard was asked about"),
        ("failures", "Failed password logins counted"),
        ("delays", "Logins the guard delayed"),
        ("refusals", "Logins the guard refused (banned clients)"),
        ("bans", "Clients banned by this node"),
    ):
        metric = f"tempusmail_guard_{name}_total"
        lines += [f"# HELP {metric} {what}.", f"# TYPE {metric} counter",
                  f"{metric} {getattr(metrics, name)}"]  # fmt: skip
    lines += [
        "# HELP tempusmail_guard_fallback 1 while the guard counts on this node (Redis away).",
        "# TYPE tempusmail_guard_fallback gauge",
        f"tempusmail_guard_fallback {int(fallback_since is not None)}",
    ]
    _replace(folder / GUARD_METRICS_FILE, "\n".join(lines) + "\n")


def write_status(folder: Path, status: PolicyStatus) -> None:
    _replace(folder / STATUS_FILE, json.dumps(asdict(status)) + "\n")
    _replace(folder / METRICS_FILE, status.metrics())


def read_status(folder: Path) -> PolicyStatus | None:
    """The last status the service wrote, None when there is none (or it cannot be read)."""
    try:
        return PolicyStatus.from_json(json.loads((folder / STATUS_FILE).read_text()))
    except (OSError, ValueError, TypeError, AttributeError):
        return None


def _replace(path: Path, text: str) -> None:
    # Readers see the old file or the new one, never half of one. No fsync: it is rewritten
    # every few seconds while it matters, and a status lost in a power cut is rewritten at start.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
