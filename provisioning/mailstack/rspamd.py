"""The node's private rspamd: DKIM signing (and, later, spam scoring) as one Postfix milter.

Debian 12's rspamd 3.4 runs from the packaged /etc/rspamd/rspamd.conf with every directory it
writes redirected into the node's state folder by --var (LOCAL_CONFDIR, DBDIR, RUNDIR, LOGDIR),
so several roots run side by side and the system's own rspamd (if any) is untouched. Our
settings are override.d/ and local.d/ files rendered here: the proxy worker speaks the milter
protocol on a loopback port of ports.json and scans itself (self_scan), the controller listens
on another (rspamc), the normal worker is off. Workers run as _rspamd; the DKIM keys are
root:_rspamd 0640 (provisioning/node/agent.py). Postfix asks it with milter_default_action =
accept: mail keeps flowing (unsigned, unscored) while rspamd is down. Why rspamd rather than
opendkim or dkimpy-milter: docs/dkim-spam.md.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import subprocess
from pathlib import Path

from provisioning.node.files import atomic_write
from provisioning.node.paths import NodePaths
from provisioning.node.processes import live_pid

PROCESS_NAME = "rspamd"
USER = "_rspamd"
SYSTEM_CONFIG = Path("/etc/rspamd/rspamd.conf")
# The loopback ports it takes from ports.json.
PORT_NAMES = ("rspamd_milter", "rspamd_controller")


class RspamdError(RuntimeError):
    pass


def missing() -> str:
    """Why this host cannot run rspamd ("" when it can): what the panel shows for the node."""
    if not shutil.which("rspamd") or not SYSTEM_CONFIG.exists():
        return "rspamd is not installed (apt-get install rspamd)"
    try:
        pwd.getpwnam(USER)
    except KeyError:
        return f"rspamd's user {USER} is missing (reinstall the rspamd package)"
    return ""


def pid_file(paths: NodePaths) -> Path:
    return paths.run_dir / "rspamd" / "rspamd.pid"


def rspamd_pid(paths: NodePaths) -> int | None:
    return live_pid(pid_file(paths), PROCESS_NAME)


def render_config(paths: NodePaths, ports: dict[str, int]) -> dict[str, str]:
    """override.d/ and local.d/ files, by path relative to the rspamd folder (pure)."""
    milter, controller = ports["rspamd_milter"], ports["rspamd_controller"]
    return {
        "override.d/worker-proxy.inc": (
            f'bind_socket = "127.0.0.1:{milter}";\n'
            "milter = yes;\ntimeout = 120s;\ncount = 1;\n"
            'upstream "local" {\n  default = yes;\n  self_scan = yes;\n}\n'
        ),
        "override.d/worker-controller.inc": (
            f'bind_socket = "127.0.0.1:{controller}";\ncount = 1;\n'
        ),
        "override.d/worker-normal.inc": "enabled = false;\n",
        "override.d/worker-fuzzy.inc": "enabled = false;\n",
        "override.d/logging.inc": 'type = "file";\nlevel = "notice";\n'
        f'filename = "{paths.log_dir / "rspamd.log"}";\n',
        # Local file maps (the DKIM selector map) are checked every map_watch_interval x this
        # multiplier: 3 s instead of the packaged 30 s, so a key switch is seen within seconds
        # without a reload; remote maps keep their 5 min.
        "local.d/options.inc": "map_file_watch_multiplier = 0.01;\n",
        # Sign the mail of authenticated senders whose From domain has a line in the selector
        # map (the agent's), with the key the map names; every other message goes unsigned.
        "local.d/dkim_signing.conf": (
            f'path = "{paths.rspamd_dkim_dir}/$domain.$selector.key";\n'
            f'selector_map = "{paths.rspamd_selector_map}";\n'
            "sign_authenticated = true;\nsign_local = false;\nsign_inbound = false;\n"
            'use_domain = "header";\nuse_esld = false;\ntry_fallback = false;\n'
            "allow_hdrfrom_mismatch = false;\nallow_username_mismatch = false;\n"
        ),
    }


def _own(path: Path) -> None:
    if os.geteuid() == 0:
        os.chown(path, pwd.getpwnam(USER).pw_uid, grp.getgrnam(USER).gr_gid)


def start_rspamd(paths: NodePaths, ports: dict[str, int]) -> None:
    """Write the configuration and start rspamd (it forks; the caller waits for its ports)."""
    why = missing()
    if why:
        raise RspamdError(why)
    base = paths.rspamd_dir
    for sub in ("override.d", "local.d"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    for name, text in render_config(paths, ports).items():
        atomic_write(base / name, text, mode=0o644, group="root")
    if not paths.rspamd_selector_map.exists():
        atomic_write(paths.rspamd_selector_map, "", mode=0o644, group="root")
    for folder in (base / "db", pid_file(paths).parent):
        folder.mkdir(parents=True, exist_ok=True)
        _own(folder)
    log = paths.log_dir / "rspamd.log"
    log.touch()
    _own(log)
    pid_file(paths).unlink(missing_ok=True)
    variables = {
        "LOCAL_CONFDIR": base,
        "DBDIR": base / "db",
        "RUNDIR": pid_file(paths).parent,
        "LOGDIR": paths.log_dir,
    }
    command = [str(shutil.which("rspamd")), "-c", str(SYSTEM_CONFIG), "-u", USER, "-g", USER]
    for name, value in variables.items():
        command += ["--var", f"{name}={value}"]
    with open(paths.log_dir / "rspamd-start.log", "ab") as out:
        result = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
    if result.returncode != 0:
        raise RspamdError(f"rspamd failed to start (exit {result.returncode}): see {log}")
