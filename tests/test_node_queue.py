"""The node's reading of `postqueue -j` and its guard on queue ids (provisioning/node/queue.py);
the commands themselves run against a live Postfix in tests/test_relay_live.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from provisioning.node.paths import NodePaths
from provisioning.node.queue import QueueError, act, list_queue, parse

LINES = [
    {
        "queue_name": "deferred", "queue_id": "7E48620ED43", "arrival_time": 1765160000,
        "message_size": 1234, "forced_expire": False, "sender": "alice@acme.test",
        "recipients": [
            {"address": "late@slow.test", "delay_reason": "host x said: 451 4.3.0 later"},
            {"address": "other@slow.test"},
        ],
    },
    {
        "queue_name": "active", "queue_id": "8F0000000AB", "arrival_time": 1765160100,
        "message_size": 900, "sender": "", "recipients": [{"address": "bob@far.test"}],
    },
]  # fmt: skip


def test_postqueue_json_lines_become_rows() -> None:
    text = "\n".join(json.dumps(line) for line in LINES) + "\n\n"
    deferred, bounce = parse(text)
    assert deferred.to_json() == {
        "id": "7E48620ED43", "state": "deferred", "arrival": 1765160000, "size": 1234,
        "sender": "alice@acme.test", "recipients": ["late@slow.test", "other@slow.test"],
        "reason": "host x said: 451 4.3.0 later",
    }  # fmt: skip
    assert (bounce.sender, bounce.reason, bounce.state) == ("", "", "active")


def test_a_node_never_started_has_an_empty_queue(tmp_path: Path) -> None:
    assert list_queue(NodePaths(tmp_path)) == []


@pytest.mark.parametrize("bad", ["-d ALL", "ALL;rm", "../x", "abc", ""])
def test_ids_outside_postfix_alphabet_never_reach_a_command(tmp_path: Path, bad: str) -> None:
    with pytest.raises(QueueError, match="not a queue id"):
        act(NodePaths(tmp_path), "delete", [bad])
    with pytest.raises(QueueError, match="unknown queue action"):
        act(NodePaths(tmp_path), "hold", ["7E48620ED43"])
