"""The Queue pages and `manage.py queue` on the panel's snapshot (issue 22).

A node's report is stored through provisioning.queue.record_queue, exactly what the node's
task sends; the live tests (tests/test_relay_live.py) prove the node's side over the wire. Here:
who sees which message (a domain by its sender or recipients; other tenants 404; staff per
node), who may act (read-only: 403; GET: 405), the audit row and the task to the node.
"""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from provisioning.models import QueuedMessage, QueueReport
from provisioning.queue import record_queue
from security.models import AuditEvent
from tests.personas import World, build_world

pytestmark = pytest.mark.django_db


def _row(queue_id: str, sender: str, *recipients: str, reason: str = "") -> dict:
    return {
        "id": queue_id, "state": "deferred", "arrival": int(time.time()) - 3600, "size": 900,
        "sender": sender, "recipients": list(recipients),
        "reason": reason or "host capture said: 451 4.3.0 try again later",
    }  # fmt: skip


@pytest.fixture
def world(domain_name: str) -> World:
    world = build_world(domain_name.split(".")[0])
    acme, other = world.acme_domain.name, world.other_domain.name
    record_queue(
        world.acme_domain.node.name,
        [
            _row("A1B2C3D4E5", f"info@{acme}", "friend@far.test"),  # acme's by its sender
            _row("B1B2C3D4E5", "someone@far.test", f"info@{acme}"),  # acme's by a recipient
            _row("C1B2C3D4E5", f"info@{other}", "x@far.test"),  # the other tenant's
            _row("D1B2C3D4E5", "SRS0=ab=CD=far.test=x@mx.test", "y@far.test"),  # nobody's
        ],
    )
    return world


def _ids(html: str) -> set[str]:
    return {i for i in ("A1B2C3D4E5", "B1B2C3D4E5", "C1B2C3D4E5", "D1B2C3D4E5") if i in html}


def test_a_domain_admin_sees_only_the_domains_queued_mail(world: World) -> None:
    url = reverse("domain_queue", args=[world.acme_domain.pk])
    for name in ("alice", "bob"):
        page = world.client(name).get(url)
        assert page.status_code == 200
        assert _ids(page.content.decode()) == {"A1B2C3D4E5", "B1B2C3D4E5"}
    page = world.client("alice").get(url).content.decode()
    assert "451 4.3.0 try again later" in page and "friend@far.test" in page
    assert "Retry now" in page
    assert "Retry now" not in world.client("bob").get(url).content.decode()
    assert world.client("charlie").get(url).status_code == 404
    assert world.client("anonymous").get(url).status_code == 302


def test_staff_see_every_node_and_others_get_404(world: World) -> None:
    url = reverse("staff_queue")
    page = world.client("staff").get(url)
    assert page.status_code == 200 and _ids(page.content.decode()) == {
        "A1B2C3D4E5", "B1B2C3D4E5", "C1B2C3D4E5", "D1B2C3D4E5"
    }  # fmt: skip
    assert f"Node {world.acme_domain.node.name}" in page.content.decode()
    for name in ("alice", "charlie"):
        assert world.client(name).get(url).status_code == 404


def test_retry_is_audited_and_sent_to_the_node(world: World, django_capture_on_commit_callbacks):
    url = reverse("domain_queue_action", args=[world.acme_domain.pk, "A1B2C3D4E5", "retry"])
    assert world.client("alice").get(url).status_code == 405
    assert world.client("bob").post(url).status_code == 403
    other = reverse("domain_queue_action", args=[world.other_domain.pk, "C1B2C3D4E5", "retry"])
    assert world.client("alice").post(other).status_code == 404
    # Another tenant's message through alice's own domain: 404 as well.
    foreign = reverse("domain_queue_action", args=[world.acme_domain.pk, "C1B2C3D4E5", "retry"])
    assert world.client("alice").post(foreign).status_code == 404
    assert not AuditEvent.objects.filter(action__startswith="queue.").exists()

    with django_capture_on_commit_callbacks(execute=True) as sent:
        response = world.client("alice").post(url)
    assert response.status_code == 302
    assert len(sent) == 1  # the node task, once committed
    event = AuditEvent.objects.get(action="queue.retry")
    assert event.domain == world.acme_domain and event.organization == world.acme
    assert event.changes["before"]["queue_id"] == "A1B2C3D4E5"
    # The test node's queue is empty: its report after the action replaced the snapshot.
    assert not QueuedMessage.objects.filter(node=world.acme_domain.node).exists()
    assert QueueReport.objects.get(node=world.acme_domain.node).error == ""


def test_unknown_action_and_bad_ids_change_nothing(world: World) -> None:
    client = world.client("alice")
    base = [world.acme_domain.pk, "A1B2C3D4E5"]
    assert client.post(reverse("domain_queue_action", args=[*base, "hold"])).status_code == 404
    assert (
        client.post(reverse("domain_queue_action", args=[base[0], "nope", "retry"])).status_code
        == 404
    )
    assert not AuditEvent.objects.filter(action__startswith="queue.").exists()
    assert QueuedMessage.objects.count() == 4


def _cli(*args: str) -> str:
    out = io.StringIO()
    call_command("queue", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_cli_bad_input_is_one_line_and_changes_nothing(world: World) -> None:
    for args, message in [
        (("retry",), "retry: give a queue id"),
        (("retry", "ZZZZZZZZZZ"), "id: no queued message ZZZZZZZZZZ"),
        (("retry", "bad id!"), "is not a Postfix queue id"),
        (("retry", "A1B2C3D4E5", "--all"), "not both"),
        (("retry", "--all", "--domain", "nowhere.test"), "domain: no domain nowhere.test"),
        (("delete", "ZZZZZZZZZZ"), "id: no queued message"),
        (("list", "--domain", "nowhere.test"), "domain: no domain nowhere.test"),
    ]:
        with pytest.raises(CommandError, match=message) as caught:
            _cli(*args)
        assert "\n" not in str(caught.value)
    assert not AuditEvent.objects.filter(action__startswith="queue.").exists()
    assert QueuedMessage.objects.count() == 4


def test_cli_list_json_asks_the_node_first(world: World) -> None:
    # Eager here: the (empty) test node answers at once and its report replaces the snapshot.
    QueueReport.objects.all().delete()
    assert json.loads(_cli("list", "--json", "--domain", world.acme_domain.name)) == []
    assert QueueReport.objects.filter(node=world.acme_domain.node).exists()


def test_cli_retry_all_of_a_domain_is_audited_per_message(world: World) -> None:
    out = _cli("retry", "--all", "--domain", world.acme_domain.name)
    assert out.strip() == "retry asked for 2 message(s)"
    audited = AuditEvent.objects.filter(action="queue.retry")
    assert sorted(e.changes["before"]["queue_id"] for e in audited) == ["A1B2C3D4E5", "B1B2C3D4E5"]
    assert all(e.actor_label.startswith("cli:") and e.domain for e in audited)


def test_cli_usage_errors_are_one_line_with_exit_status_1() -> None:
    import subprocess
    import sys

    for args in (["frob"], ["retry", "--bogus"], ["delete"], ["list", "--wait", "soon"]):
        result = subprocess.run(
            [sys.executable, "manage.py", "queue", *args],
            cwd=Path(__file__).resolve().parent.parent,
            capture_output=True,
            text=True,
        )
        assert result.returncode == 1, result
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_the_queue_pages_cost_the_same_queries_for_many_messages(world: World) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    acme = world.acme_domain.name
    pages = [reverse("domain_queue", args=[world.acme_domain.pk]), reverse("staff_queue")]
    client = world.client("staff")
    counts = []
    for size in (2, 30):
        rows = [_row(f"E{n:09d}", f"info@{acme}", f"r{n}@far.test") for n in range(size)]
        record_queue(world.acme_domain.node.name, rows)
        with CaptureQueriesContext(connection) as queries:
            for url in pages:
                assert client.get(url).status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1], counts
