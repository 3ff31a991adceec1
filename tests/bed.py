"""The test bed's moving parts, shared by the test suite and the benchmarks."""

from __future__ import annotations

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

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()  # warm shutdown: finishes the task at hand
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
