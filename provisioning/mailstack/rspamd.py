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
HS_CACHE = Path("/var/lib/rspamd/tempusmail-hs")
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


# Per-domain actions on inbound mail, from the agent's spam scores map ("domain junk:reject"):
# rspamd's own action for the score is replaced by the recipient domain's (the strictest when
# a message goes to several). A pre-result set by another module (GTUBE's reject) is kept.
# Authenticated (outbound) mail is left to rspamd's defaults.
DOMAIN_ACTIONS_LUA = """\
local scores = rspamd_config:add_map({
  type = "map",
  url = "%(map)s",
  description = "TempusMail: per-domain spam scores (junk:reject)",
})

rspamd_config:register_symbol({
  name = "TM_DOMAIN_ACTIONS",
  type = "postfilter",
  priority = 5,
  callback = function(task)
    if task:get_user() or task:has_pre_result() or not scores then return end
    local junk, reject
    for _, rcpt in ipairs(task:get_recipients("smtp") or {}) do
      local value = scores:get_key(string.lower(rcpt.domain or ""))
      local j, r = tostring(value or ""):match("^([0-9.]+):([0-9.]+)$")
      if j then
        junk = math.min(junk or math.huge, tonumber(j))
        reject = math.min(reject or math.huge, tonumber(r))
      end
    end
    if not junk then return end
    local score = task:get_metric_score("default")[1]
    if score >= reject then
      task:set_pre_result("reject", "5.7.1 Spam message rejected", "tempusmail")
    elseif score >= junk then
      task:set_pre_result("add header", "Spam", "tempusmail")
    else
      task:set_pre_result("no action", nil, "tempusmail")
    end
  end,
})
"""
# The test bed only: a message with "X-TempusMail-Test-Score: N" (0 < N <= 50) gets N points,
# so the tests place a message between a domain's scores deterministically.
TEST_SCORE_LUA = """\
rspamd_config:register_symbol({
  name = "TM_TEST_SCORE",
  score = 1.0,
  description = "Test bed only: the points its header names",
  callback = function(task)
    local n = tonumber(task:get_header("X-TempusMail-Test-Score") or "")
    if n and n > 0 and n <= 50 then return true, n end
    return false
  end,
})
"""


def render_config(
    paths: NodePaths, ports: dict[str, int], *, testbed: bool = False
) -> dict[str, str]:
    """override.d/ and local.d/ files, by path relative to the rspamd folder (pure)."""
    milter, controller = ports["rspamd_milter"], ports["rspamd_controller"]
    lua = DOMAIN_ACTIONS_LUA % {"map": paths.rspamd_spam_scores_map}
    return {
        "rspamd.local.lua": lua + (TEST_SCORE_LUA if testbed else ""),
        "override.d/worker-proxy.inc": (
            f'bind_socket = "127.0.0.1:{milter}";\n'
            "milter = yes;\ntimeout = 120s;\ncount = 1;\n"
            # What Dovecot's global spam-to-Junk Sieve rule tests (provisioning/node/sieve.py).
            'spam_header = "X-Spam-Flag";\n'
            'reject_message = "5.7.1 Spam message rejected";\n'
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
        # Compiled Hyperscan rules are the same for every node folder on the host: one cache
        # (rspamd's own folder) instead of a ~15 s compile at each folder's first start.
        "local.d/options.inc": (
            f'map_file_watch_multiplier = 0.01;\nhs_cache_dir = "{HS_CACHE}";\n'
        ),
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


def start_rspamd(paths: NodePaths, ports: dict[str, int], *, testbed: bool = False) -> None:
    """Write the configuration and start rspamd (it forks; the caller waits for its ports)."""
    why = missing()
    if why:
        raise RspamdError(why)
    base = paths.rspamd_dir
    for sub in ("override.d", "local.d"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    for name, text in render_config(paths, ports, testbed=testbed).items():
        atomic_write(base / name, text, mode=0o644, group="root")
    for data_map in (paths.rspamd_selector_map, paths.rspamd_spam_scores_map):
        if not data_map.exists():  # the agent's; empty until it writes
            atomic_write(data_map, "", mode=0o644, group="root")
    for folder in (base / "db", pid_file(paths).parent, HS_CACHE):
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
