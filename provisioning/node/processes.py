"""Whether a mail daemon of a node's state folder is running."""

from __future__ import annotations

from pathlib import Path


def live_pid(pid_file: Path, comm: str) -> int | None:
    """The pid in pid_file if that process is alive and is the expected program."""
    try:
        pid = int(pid_file.read_text().split()[0])
        # A zombie still answers kill(pid, 0); the state in /proc/<pid>/stat does not lie.
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ValueError, IndexError, ProcessLookupError):
        return None
    name = stat[stat.index("(") + 1 : stat.rindex(")")]
    state = stat[stat.rindex(")") + 2 :].split()[0]
    return pid if name == comm and state not in ("Z", "X") else None
