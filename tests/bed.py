"""The test bed's moving parts, shared by the test suite and the benchmarks."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


class Worker:
    """A real `celery worker -B` process: the panel's worker and the local node's agent."""

    def __init__(self, env: dict[str, str], log_dir: Path, *, queues: str) -> None:
        self.env = env
        self.queues = queues
        self.log_dir = log_dir
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self, timeout: float = 30.0) -> None:
        if self.proc is not None and self.proc.poll() is None:
            return
        self.starts += 1
        log = self.log_dir / f"worker-{self.starts}.log"
        schedule = self.log_dir / f"beat-{self.starts}"
        cmd = [
            sys.executable, "-m", "celery", "-A", "tempusmail", "worker", "-B",
            "-Q", self.queues, "-c", "2", "-l", "info",
            "--without-gossip", "--without-mingle", "--without-heartbeat",
            "-s", str(schedule), "-n", f"test{self.starts}@%h",
        ]  # fmt: skip
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(cmd, cwd=REPO, env=self.env, stdout=out, stderr=out)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"celery worker exited:\n{log.read_text()[-3000:]}")
            if b"ready." in log.read_bytes():
                return
            time.sleep(0.1)
        raise RuntimeError(f"celery worker not ready in {timeout}s:\n{log.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL the worker, its pool processes and its beat at once: a crash, not a stop."""
        if self.proc is None or self.proc.poll() is not None:
            return
        for pid in [self.proc.pid, *_descendants(self.proc.pid)]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()  # warm shutdown: finishes the task at hand
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _descendants(pid: int) -> list[int]:
    """Every living process below pid (Celery's pool processes, its embedded beat)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # gone meanwhile
        ppid = int(text[text.rindex(")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    """A redis-server of a test's own on a free loopback port, which the test may stop.

    Nothing is persisted: a stop loses every key and queued message, as a crash would.
    """

    def __init__(self) -> None:
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self, timeout: float = 10.0) -> None:
        import redis

        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(redis.ConnectionError):
                if redis.Redis.from_url(self.url(), socket_timeout=1).ping():
                    return
            time.sleep(0.05)
        raise RuntimeError(f"redis-server on port {self.port} did not start in {timeout}s")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None
