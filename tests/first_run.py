"""A newcomer's first run on a machine whose Postfix was installed with "No configuration"
(no /etc/postfix/main.cf), driven by tests/test_first_run.py inside a private mount namespace:

    unshare -m python -m tests.first_run WORKDIR

It bind-mounts a copy of /etc/postfix without main.cf over /etc/postfix (only this namespace
sees it), then does what the README says, each step a real `manage.py` in local mode (no
broker: tasks run in-process, no beat): migrate, demo (as `make run`), then `mailstack start`
on a fresh node folder. Before the start it also leaves a change of the demo domain unapplied
(as when the node failed while the servers were down), which the start must apply by itself.
It prints one JSON object of what it saw; the test asserts on it.
"""

from __future__ import annotations

import imaplib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=REPO, env=env, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip


def _private_postfix_without_main_cf(work: Path) -> None:
    copy = work / "etc-postfix"
    shutil.copytree("/etc/postfix", copy, symlinks=True)
    (copy / "main.cf").unlink(missing_ok=True)
    subprocess.run(["mount", "--bind", str(copy), "/etc/postfix"], check=True)


def _leave_a_change_unapplied(db: Path) -> None:
    """The demo account changed one version past what its node applied, with the error of a
    failed apply on its domain (as if the node had failed while the servers were down)."""
    with sqlite3.connect(db) as conn:
        conn.execute(
            "UPDATE domains_domain SET desired_version = desired_version + 1, apply_failures = 1,"
            " apply_error = 'NodeFileError: the mail servers were down' WHERE name = 'demo.test'"
        )
        conn.execute(
            "UPDATE mailboxes_mailbox SET changed_version = (SELECT desired_version FROM"
            " domains_domain WHERE name = 'demo.test') WHERE local_part = 'demo'"
        )


def _demo_status(db: Path) -> dict[str, object]:
    """What the account list shows for the demo account (Mailbox.sync_status) and its
    domain's last error, read from the panel's database."""
    with sqlite3.connect(db) as conn:
        changed, applied, state, error = conn.execute(
            "SELECT m.changed_version, d.applied_version, m.state, d.apply_error"
            " FROM mailboxes_mailbox m JOIN domains_domain d ON d.id = m.domain_id"
            " WHERE d.name = 'demo.test' AND m.local_part = 'demo'"
        ).fetchone()
    status = "updating" if changed > applied else "online" if state == "active" else "offline"
    return {"status": status, "apply_error": error}


def main(work: Path) -> dict[str, object]:
    _private_postfix_without_main_cf(work)
    env = {k: v for k, v in os.environ.items() if k != "CELERY_BROKER_URL"}  # local mode
    env.update(
        DATABASE_URL=f"sqlite:///{work / 'panel.sqlite3'}",
        MAILNODE_DIR=str(work / "node"),
        DJANGO_SETTINGS_MODULE="tempusmail.settings",
    )
    seen: dict[str, object] = {"system_main_cf": Path("/etc/postfix/main.cf").exists()}
    migrate = _manage(env, "migrate", "--noinput", "-v0")
    demo = _manage(env, "demo")
    seen["make_run_output"] = migrate.stdout + migrate.stderr + demo.stdout + demo.stderr
    db = work / "panel.sqlite3"
    seen["after_demo"] = _demo_status(db)
    password = re.search(r"mailbox:\s+demo@demo\.test / (\S+)", demo.stdout)
    _leave_a_change_unapplied(db)
    seen["before_start"] = _demo_status(db)
    start = _manage(env, "mailstack", "start")
    seen["start_output"] = start.stdout + start.stderr
    try:
        seen["after_start"] = _demo_status(db)
        ports = dict(re.findall(r"^(\w+) 127\.0\.0\.1:(\d+)$", start.stdout, re.M))
        if password and "imap" in ports:
            try:
                with imaplib.IMAP4("127.0.0.1", int(ports["imap"]), timeout=10) as imap:
                    seen["imap_login"] = imap.login("demo@demo.test", password.group(1))[0]
                    seen["imap_select"] = imap.select("INBOX")[0]
            except (imaplib.IMAP4.error, OSError) as exc:
                seen["imap_error"] = repr(exc)
    finally:
        stop = _manage(env, "mailstack", "stop")
        seen["stop_output"] = stop.stdout + stop.stderr
    return seen


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]))))
