"""The node's private postsrsd: Sender Rewriting Scheme for mail forwarded to outside domains.

Debian 12's postsrsd (1.10) serves two Postfix tcp: lookup tables: "forward" rewrites an
envelope sender of a foreign domain into SRS0=hash=tt=domain=local@<node host name> (so the
receiver's SPF check sees our domain), "reverse" turns such an address back into the original
one (so a bounce of the forward finds the real sender). Each node runs its own instance on two
loopback ports of its ports.json, with its own secret (srs/secret, root 0600, made once and
kept: a bounce days later must still verify), a pid file and `-u nobody` after binding; it is
started and stopped by `mailstack` like the policy service. Why postsrsd and where Postfix
asks it: docs/mailstack-findings.md ("SRS").
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
from pathlib import Path

from provisioning.node.files import atomic_write
from provisioning.node.paths import NodePaths
from provisioning.node.processes import live_pid

PROCESS_NAME = "postsrsd"
SRS_USER = "nobody"


class SrsError(RuntimeError):
    pass


def srs_dir(paths: NodePaths) -> Path:
    return paths.root / "srs"


def pid_file(paths: NodePaths) -> Path:
    return srs_dir(paths) / "postsrsd.pid"


def srs_pid(paths: NodePaths) -> int | None:
    return live_pid(pid_file(paths), PROCESS_NAME)


def binary() -> str:
    for candidate in (shutil.which("postsrsd"), "/usr/sbin/postsrsd"):
        if candidate and Path(candidate).exists():
            return candidate
    raise SrsError("postsrsd not found: apt-get install postsrsd (see scripts/setup-system.sh)")


def ensure_secret(paths: NodePaths) -> Path:
    folder = srs_dir(paths)
    folder.mkdir(mode=0o700, exist_ok=True)
    secret = folder / "secret"
    if not secret.exists():
        atomic_write(secret, secrets.token_urlsafe(32) + "\n", mode=0o600, group="root")
    return secret


def start_srs(paths: NodePaths, *, domain: str, forward_port: int, reverse_port: int) -> None:
    """Start postsrsd in the background (it forks itself; the caller waits for its ports)."""
    secret = ensure_secret(paths)
    pid_file(paths).unlink(missing_ok=True)
    command = [
        binary(),
        f"-s{secret}",
        f"-d{domain}",
        "-l127.0.0.1",
        "-4",
        f"-f{forward_port}",
        f"-r{reverse_port}",
        f"-p{pid_file(paths)}",
        f"-u{SRS_USER}",
        "-D",
    ]
    with open(paths.log_dir / "postsrsd.log", "ab") as log:
        result = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    if result.returncode != 0:
        raise SrsError(f"postsrsd failed to start (exit {result.returncode})")
