"""A newcomer's first run (issue 21): no traceback from `make run` on a machine without
/etc/postfix/main.cf, the demo account Online once `mailstack start` ran (nothing typed by
hand), and a Provisioning tab that says what to do and promises a retry only where one comes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from django.conf import settings as conf

from domains.models import Domain
from tests.personas import World, build_world

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def world(domain_name: str) -> World:
    return build_world(domain_name.split(".")[0])


def _tab(world: World) -> str:
    Domain.objects.filter(pk=world.acme_domain.pk).update(
        desired_version=99, apply_error="NodeFileError: postmap virtual_mailboxes failed",
        apply_failures=3,
    )  # fmt: skip
    page = world.client("alice").get(f"/domains/{world.acme_domain.pk}/provisioning/")
    assert page.status_code == 200
    return page.content.decode()


@pytest.mark.django_db
def test_in_local_mode_the_tab_says_to_start_the_servers_and_promises_no_retry(
    world: World, settings, tmp_path: Path
) -> None:
    settings.CELERY_TASK_ALWAYS_EAGER = True  # `make run`
    settings.MAILNODE_DIR = tmp_path / "node"  # no mail servers running there
    page = _tab(world)
    assert "Not running</span> Start them: <code>python manage.py mailstack start</code>" in page
    assert "Start the mail servers: <code>python manage.py mailstack start</code>" in page
    assert "under make run nothing retries by itself" in page
    assert "retried automatically" not in page


@pytest.mark.django_db
def test_with_a_worker_the_tab_says_when_it_retries(world: World, settings) -> None:
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.PROVISIONING_RESEND_AFTER_SECONDS = 60
    page = _tab(world)
    assert "3 failed attempts, retried automatically within 300 s" in page
    assert "Mail servers" not in page and "mailstack start" not in page


def _root_with_unshare() -> bool:
    return os.geteuid() == 0 and shutil.which("unshare") is not None


@pytest.mark.skipif(not _root_with_unshare(), reason="needs root and unshare (a mount namespace)")
@pytest.mark.skipif(not Path("/usr/sbin/postfix").exists(), reason="needs Postfix and Dovecot")
def test_first_run_without_a_system_main_cf_ends_online_and_logs_in_over_imap() -> None:
    # Not pytest's tmp_path (0700): Dovecot's processes must reach the node folder.
    work = Path(tempfile.mkdtemp(prefix="tm-first-run-"))
    work.chmod(0o755)
    env = {
        **os.environ,
        "MAILNODE_REDIS_URL": conf.MAILNODE_REDIS_URL,
        "SENDING_REDIS_URL": conf.SENDING_REDIS_URL,
    }
    try:
        run = subprocess.run(
            ["unshare", "-m", sys.executable, "-m", "tests.first_run", str(work)],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=180,
        )  # fmt: skip
        assert run.returncode == 0, run.stderr
        seen = json.loads(run.stdout)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    assert seen["system_main_cf"] is False
    assert "Traceback" not in seen["make_run_output"], seen["make_run_output"]
    assert "Demo data is ready." in seen["make_run_output"]
    # The node applies the demo without the system's Postfix configuration, servers or not.
    assert seen["after_demo"] == {"status": "online", "apply_error": ""}
    assert seen["before_start"]["status"] == "updating", seen
    # `mailstack start` applies what was waiting: no `provision reconcile` typed by hand.
    assert "applied 1 of 1 waiting domain(s)" in seen["start_output"], seen["start_output"]
    assert "Traceback" not in seen["start_output"]
    assert seen["after_start"] == {"status": "online", "apply_error": ""}
    assert (seen.get("imap_login"), seen.get("imap_select")) == ("OK", "OK"), seen
    assert "Traceback" not in seen["stop_output"]
