"""Starting and stopping a mail node's policy service process (for provisioning/mailstack).

`manage.py policyd` runs detached, in its own session, logging to log/policyd.log; it writes
its pid to policy/policyd.pid once it listens, then drops root for POLICY_USER. The Redis URL
travels in the environment, not on the command line, where any local user could read its
password.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from provisioning.node.paths import NodePaths
from provisioning.node.processes import live_pid
from provisioning.policy.guard_rules import GuardRules
from provisioning.policy.server import PROCESS_NAME

MANAGE_PY = Path(__file__).resolve().parent.parent.parent / "manage.py"
# Unprivileged: the service needs nothing but its port, the limits files and Redis.
POLICY_USER = "nobody"
LOG_NAME = "policyd.log"


@dataclass(frozen=True)
class CounterStore:
    """The Redis of the sent counters and their key prefix (the same for every node)."""

    url: str
    prefix: str


@dataclass(frozen=True)
class GuardConfig:
    """The password guard's Redis (shared by every node), its rules, and this node's name."""

    url: str
    prefix: str
    rules: GuardRules
    node: str


def pid_file(paths: NodePaths) -> Path:
    return paths.policy_dir / "policyd.pid"


def policy_pid(paths: NodePaths) -> int | None:
    return live_pid(pid_file(paths), PROCESS_NAME)


def start_policy(
    paths: NodePaths,
    port: int,
    store: CounterStore,
    guard: GuardConfig | None = None,
    guard_port: int | None = None,
) -> None:
    """Start the service on 127.0.0.1:port, and the password guard's HTTP endpoint on
    127.0.0.1:guard_port (returns at once; the caller waits for the ports)."""
    pid_file(paths).unlink(missing_ok=True)
    command = [
        sys.executable, str(MANAGE_PY), "policyd",
        "--listen", f"127.0.0.1:{port}",
        "--node-dir", str(paths.root),
        "--prefix", store.prefix,
        "--pid-file", str(pid_file(paths)),
    ]  # fmt: skip
    if os.geteuid() == 0:
        command += ["--user", POLICY_USER]
    env = {**os.environ, "SENDING_REDIS_URL": store.url, "SENDING_REDIS_PREFIX": store.prefix}
    if guard is not None and guard_port is not None:
        command += ["--guard-listen", f"127.0.0.1:{guard_port}",
                    "--guard-rules", guard.rules.to_json(), "--node-name", guard.node]  # fmt: skip
        env |= {"GUARD_REDIS_URL": guard.url, "GUARD_REDIS_PREFIX": guard.prefix}
    with open(paths.log_dir / LOG_NAME, "ab") as log:
        # Its own session: a Ctrl-C or the end of the starting process does not reach it.
        subprocess.Popen(
            command,
            cwd=MANAGE_PY.parent,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
