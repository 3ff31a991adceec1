"""Time a full node apply at 1k, 10k and 100k accounts (target: <= 2 s at 100k).

A full apply is the agent writing a domain it has never seen: render and write the Dovecot
passwd-files, assemble and postmap all five Postfix maps twice (the safe intermediate state,
then the final one). Printed beside it, measured in the same run: the floor, i.e. writing the
same map sources once and running postmap on them with nothing else, and a one-account change
in the big domain (what a normal edit costs).

    .venv/bin/python benchmarks/node_apply.py [--sizes 1000,10000,100000]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from provisioning.node.agent import NodeAgent
from provisioning.node.paths import NodePaths
from provisioning.node.render import render_postfix
from provisioning.node.state import AccountState, DomainState

HASH = "$6$saltsalt$" + "b" * 86


def make_state(n: int, version: int = 1) -> DomainState:
    accounts = tuple(
        AccountState(id=i, local_part=f"user{i:06d}", password_hash=HASH, quota_bytes=1024**3)
        for i in range(n)
    )
    return DomainState(id=1, name="big.example", version=version, accounts=accounts)


def floor_seconds(state: DomainState, folder: Path) -> float:
    started = time.perf_counter()
    for name, text in render_postfix(state).items():
        path = folder / name
        path.write_text(text)
        subprocess.run(["postmap", f"cdb:{path}"], check=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,10000,100000")
    sizes = [int(s) for s in parser.parse_args().sizes.split(",")]
    header = ("accounts", "full apply", "one change", "postmap floor", "ratio")
    print("{:>9} {:>11} {:>11} {:>14} {:>6}".format(*header))
    for n in sizes:
        state = make_state(n)
        with tempfile.TemporaryDirectory() as tmp:
            agent = NodeAgent(NodePaths(Path(tmp) / "node"), map_type="cdb")
            started = time.perf_counter()
            agent.apply_domain(state)
            full = time.perf_counter() - started

            changed = replace(
                state,
                version=2,
                accounts=(replace(state.accounts[0], active=False), *state.accounts[1:]),
            )
            started = time.perf_counter()
            agent.apply_domain(changed)
            one = time.perf_counter() - started

            (Path(tmp) / "floor").mkdir()
            floor = floor_seconds(state, Path(tmp) / "floor")
        verdict = "ok" if n < 100_000 or full <= 2.0 else "OVER TARGET"
        ratio = full / floor
        print(f"{n:>9} {full:>10.3f}s {one:>10.3f}s {floor:>13.3f}s {ratio:>5.1f}x  {verdict}")


if __name__ == "__main__":
    main()
