"""Safe writes of the files Postfix and Dovecot read (see shared MAILSTACK.md, section 0).

Dovecot notices a changed passwd-file only by its whole-second mtime or size, checked at most
once a second, so every write bumps the mtime past the old one. Postfix notices a replaced
indexed map because the old inode is unlinked; maps are built under a temporary name and
renamed into place so a reader never sees half a map. Unchanged content is never rewritten.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

MAP_SUFFIX = {"cdb": ".cdb", "lmdb": ".lmdb", "hash": ".db"}


class NodeFileError(RuntimeError):
    """A file could not be written or a map could not be built."""


def _ids(owner: str | None, group: str | None) -> tuple[int, int]:
    uid = -1
    gid = -1
    if os.geteuid() == 0:
        if owner:
            try:
                uid = pwd.getpwnam(owner).pw_uid
            except KeyError:
                uid = -1
        if group:
            try:
                gid = grp.getgrnam(group).gr_gid
            except KeyError:
                gid = -1
    return uid, gid


def atomic_write(
    path: Path,
    text: str,
    *,
    mode: int = 0o640,
    owner: str | None = "root",
    group: str | None = "dovecot",
    force: bool = False,
) -> bool:
    """Replace path with text; return False (and touch nothing) when it already holds text."""
    data = text.encode("utf-8")
    if not force:
        try:
            if path.read_bytes() == data:
                return False
        except FileNotFoundError:
            pass
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        uid, gid = _ids(owner, group)
        if uid != -1 or gid != -1:
            os.chown(tmp, uid, gid)
        try:
            old = int(os.stat(path).st_mtime)
        except FileNotFoundError:
            old = 0
        new = max(int(time.time()), old + 1)
        os.utime(tmp, (new, new))
        os.rename(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True


def postmap_binary() -> str:
    found = shutil.which("postmap") or (
        "/usr/sbin/postmap" if os.path.exists("/usr/sbin/postmap") else None
    )
    if not found:
        raise NodeFileError("postmap not found: install Postfix on this mail node")
    return found


# postmap reads a main.cf before anything else and refuses to run without one. The system's
# (/etc/postfix/main.cf) is missing after Debian's "No configuration" install, and is edited
# by `mailstack start`; the node's own (postfix/main.cf) exists only once the mail servers
# were started. So postmap always reads this one, which the node writes for it alone.
POSTMAP_MAIN_CF = "compatibility_level = 3.7\n"


def postmap_config_dir(maps_dir: Path) -> Path:
    """The node's config directory for postmap (<node>/postfix/postmap/), made if missing."""
    config = maps_dir.parent / "postmap"
    main_cf = config / "main.cf"
    if atomic_write(main_cf, POSTMAP_MAIN_CF, mode=0o644, group="root"):
        # Postfix pauses up to ~2 s on a main.cf younger than a second (an editor may still
        # be writing it); ours is complete, so date it in the past.
        past = time.time() - 2
        os.utime(main_cf, (past, past))
    return config


def postmap(table: str, maps_dir: Path) -> None:
    """Index table ("<type>:<path>") with the node's own postmap configuration."""
    config = postmap_config_dir(maps_dir)
    try:
        subprocess.run(
            [postmap_binary(), "-c", str(config), table], check=True, capture_output=True, text=True
        )
    except subprocess.CalledProcessError as exc:
        raise NodeFileError(f"postmap {table} failed: {exc.stderr.strip()}") from exc


def write_map(maps_dir: Path, name: str, text: str, *, map_type: str) -> bool:
    """Write a Postfix map's source and its indexed form; False when nothing changed."""
    suffix = MAP_SUFFIX[map_type]
    source = maps_dir / name
    indexed = maps_dir / f"{name}{suffix}"
    try:
        unchanged = source.read_text("utf-8") == text and indexed.exists()
    except FileNotFoundError:
        unchanged = False
    if unchanged:
        return False
    maps_dir.mkdir(parents=True, exist_ok=True)
    staging = maps_dir / f".new.{name}"
    atomic_write(staging, text, mode=0o644, group="root", force=True)
    try:
        postmap(f"{map_type}:{staging}", maps_dir)
    finally:
        staging.unlink(missing_ok=True)
    os.rename(maps_dir / f".new.{name}{suffix}", indexed)
    atomic_write(source, text, mode=0o644, group="root", force=True)
    return True
