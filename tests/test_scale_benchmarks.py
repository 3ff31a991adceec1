"""The issue-21 benchmarks run at their --smoke size, so they keep working: the cost of one
account's create/update/delete at two organization sizes, and the batch actions."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _smoke(script: str) -> str:
    run = subprocess.run(
        [sys.executable, f"benchmarks/{script}", "--smoke"],
        cwd=REPO, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    return run.stdout


@pytest.mark.parametrize(
    ("script", "lines"),
    [
        ("account_scale.py", ["create ", "update ", "delete ", "old plan check (COUNT)"]),
        ("batch_actions.py", ["batch deactivate", "(100 deleted.)", "one by one delete"]),
        # issue 15: the node's rspamd milter (DKIM signing, scoring) against the same stack
        # with rspamd stopped.
        ("milter_throughput.py", ["without the milter", "with rspamd", "added by rspamd"]),
    ],
)
def test_benchmark_smoke(script: str, lines: list[str]) -> None:
    out = _smoke(script)
    for line in lines:
        assert line in out, out
