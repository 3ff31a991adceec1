"""The node agent on a real folder with the real postmap (no daemons needed)."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pytest

from provisioning.node.agent import NodeAgent
from provisioning.node.files import atomic_write
from provisioning.node.paths import NodePaths
from provisioning.node.refusals import refused_rows
from provisioning.node.render import RenderError, user_shard
from provisioning.node.state import AccountState, DomainState

H = "$6$saltsalt$" + "b" * 86


@pytest.fixture
def agent(tmp_path: Path) -> NodeAgent:
    return NodeAgent(NodePaths(tmp_path), map_type="cdb")


def _domain(version: int, *accounts: AccountState, name: str = "example.test") -> DomainState:
    return DomainState(id=1, name=name, version=version, accounts=accounts)


def _postmap_q(agent: NodeAgent, map_name: str, key: str) -> str | None:
    proc = subprocess.run(
        ["postmap", "-q", key, f"cdb:{agent.paths.maps_dir / map_name}"],
        capture_output=True,
        text=True,
    )
    return proc.stdout.strip() if proc.returncode == 0 else None


def _users(agent: NodeAgent, domain: str = "example.test") -> str:
    folder = agent.paths.dovecot_domain_dir("users") / domain
    return "".join(p.read_text() for p in sorted(folder.iterdir())) if folder.exists() else ""


def test_apply_writes_dovecot_files_and_postfix_maps(agent: NodeAgent) -> None:
    agent.apply_domain(_domain(1, AccountState(1, "alice", H, quota_bytes=2048)))
    shard = (
        agent.paths.dovecot_domain_dir("users") / "example.test" / user_shard("alice@example.test")
    )
    assert shard.read_text().startswith("alice@example.test:{SHA512-CRYPT}$6$saltsalt$")
    assert _postmap_q(agent, "virtual_mailboxes", "alice@example.test") == "example.test/alice/"
    assert _postmap_q(agent, "virtual_domains", "example.test") == "OK"
    assert _postmap_q(agent, "sender_login", "alice@example.test") == "alice@example.test"
    assert _postmap_q(agent, "virtual_mailboxes", "bob@example.test") is None


def test_maps_hold_every_domain_of_the_node(agent: NodeAgent) -> None:
    agent.apply_domain(_domain(1, AccountState(1, "alice", H)))
    other = DomainState(id=2, name="other.test", version=1, accounts=(AccountState(2, "bob", H),))
    agent.apply_domain(other)
    assert _postmap_q(agent, "virtual_mailboxes", "alice@example.test")
    assert _postmap_q(agent, "virtual_mailboxes", "bob@other.test")
    assert _postmap_q(agent, "virtual_domains", "other.test") == "OK"


def test_reapplying_the_same_state_writes_nothing(agent: NodeAgent) -> None:
    agent.apply_domain(_domain(1, AccountState(1, "alice", H)))
    result = agent.apply_domain(_domain(2, AccountState(1, "alice", H)))
    assert result.written == []


def test_an_older_version_never_overwrites_a_newer_one(agent: NodeAgent) -> None:
    agent.apply_domain(_domain(5, AccountState(1, "alice", H, active=False)))
    result = agent.apply_domain(_domain(4, AccountState(1, "alice", H)))
    assert result.stale
    assert _postmap_q(agent, "recipient_access", "alice@example.test") is not None


def test_deactivation_rejects_and_disables(agent: NodeAgent) -> None:
    agent.apply_domain(_domain(1, AccountState(1, "alice", H)))
    agent.apply_domain(_domain(2, AccountState(1, "alice", H, active=False)))
    assert (
        _postmap_q(agent, "recipient_access", "alice@example.test") == "550 5.2.1 Mailbox disabled"
    )
    db = agent.paths.dovecot_refusals_db
    assert refused_rows(db, "example.test") == {("alice@example.test", "*")}
    agent.apply_domain(_domain(3, AccountState(1, "alice", H)))
    assert refused_rows(db, "example.test") == set()  # reactivated


def test_refusals_of_a_domain_are_replaced_without_touching_other_domains(
    agent: NodeAgent,
) -> None:
    db = agent.paths.dovecot_refusals_db
    agent.apply_domain(_domain(1, AccountState(1, "bob", H, active=False), name="other.test"))
    agent.apply_domain(_domain(1, AccountState(1, "alice", H, denied_services=("pop3", "imap"))))
    assert refused_rows(db, "example.test") == {
        ("alice@example.test", "imap"),
        ("alice@example.test", "pop3"),
    }
    agent.apply_domain(_domain(2, AccountState(1, "alice", H, denied_services=("imap",))))
    assert refused_rows(db, "example.test") == {("alice@example.test", "imap")}
    assert refused_rows(db, "other.test") == {("bob@other.test", "*")}


def test_refusal_files_of_the_old_layout_are_removed(agent: NodeAgent) -> None:
    old = agent.paths.dovecot_dir / "deny.d" / "example.test"
    old.mkdir(parents=True)
    (old / "ab").write_text("pop3/alice@example.test\n")
    agent.apply_domain(_domain(1, AccountState(1, "alice", H)))
    assert not old.exists()


def test_delete_moves_the_home_aside(agent: NodeAgent) -> None:
    agent.apply_domain(_domain(1, AccountState(1, "alice", H)))
    home = agent.paths.home("example.test", "alice")
    (home / "Maildir" / "new").mkdir(parents=True)
    (home / "Maildir" / "new" / "1.msg").write_text("hello")
    result = agent.apply_domain(_domain(2))
    assert result.moved == ["alice@example.test"]
    assert not home.exists()
    (trashed,) = agent.paths.trash_dir.iterdir()
    assert trashed.name.startswith("alice@example.test.")
    assert (trashed / "Maildir" / "new" / "1.msg").read_text() == "hello"
    assert _postmap_q(agent, "virtual_mailboxes", "alice@example.test") is None
    assert _users(agent) == ""  # the emptied shard is gone: Dovecot reads "no such user"


def test_a_hostile_state_writes_nothing(agent: NodeAgent) -> None:
    agent.apply_domain(_domain(1, AccountState(1, "alice", H)))
    before = _users(agent)
    with pytest.raises(RenderError):
        agent.apply_domain(_domain(2, AccountState(1, "alice", H), AccountState(2, "x\ny", H)))
    assert _users(agent) == before


def test_atomic_write_bumps_mtime_past_the_old_one(tmp_path: Path) -> None:
    path = tmp_path / "users"
    atomic_write(path, "a\n", group=None)
    first = os.stat(path).st_mtime
    atomic_write(path, "b\n", group=None)  # same size, same second
    assert os.stat(path).st_mtime >= first + 1
    assert path.read_text() == "b\n"
    assert atomic_write(path, "b\n", group=None) is False


def test_accounts_are_sharded_like_dovecots_md5_variable(agent: NodeAgent) -> None:
    accounts = [AccountState(i, f"user{i}", H) for i in range(200)]
    agent.apply_domain(_domain(1, *accounts))
    folder = agent.paths.dovecot_domain_dir("users") / "example.test"
    shards = {p.name: p.read_text() for p in folder.iterdir()}
    assert 100 < len(shards) <= 256
    for i in range(200):
        address = f"user{i}@example.test"
        # Dovecot's %2Mu: the first two hex digits of the MD5 of the user name.
        assert (
            f"{address}:"
            in shards[hashlib.md5(address.encode(), usedforsecurity=False).hexdigest()[:2]]
        )


def test_the_agents_memory_follows_its_file_not_only_its_cache(agent: NodeAgent) -> None:
    import json

    agent.apply_domain(_domain(1, AccountState(1, "alice", H)))
    memory = agent.paths.agent_dir / "domains" / "example.test.json"
    newer = json.loads(memory.read_text())
    newer["version"] = 5  # as if another agent process had applied version 5 meanwhile
    atomic_write(memory, json.dumps(newer), group=None)
    assert agent.apply_domain(_domain(3, AccountState(1, "alice", H))).stale
