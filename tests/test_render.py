"""Golden-file tests of the pure renderers, and hostile input that must never be written."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from provisioning.node.render import RenderError, render_domain, render_dovecot, render_postfix
from provisioning.node.state import AccountState, DomainState

GOLDEN = Path(__file__).parent / "golden"
HASH = "$6$rounds=5000$abcdefgh12345678$" + "A" * 86
HASH2 = "$6$saltsalt$" + "b" * 86


def _state() -> DomainState:
    return DomainState(
        id=7,
        name="example.test",
        version=3,
        catchall_target="alice@example.test",
        accounts=(
            AccountState(
                id=2,
                local_part="zed",
                password_hash=HASH2,
                active=False,
                denied_services=("pop3", "imap"),
            ),
            AccountState(
                id=1,
                local_part="alice",
                password_hash=HASH,
                quota_bytes=1024**3,
                forward_to=("bob@other.test", "carol@example.test"),
                forward_keep_copy=True,
            ),
            AccountState(
                id=4,
                local_part="fwd",
                password_hash=HASH,
                forward_to=("x@remote.test",),
                forward_keep_copy=False,
            ),
            AccountState(
                id=3,
                local_part="b.o-b_1",
                password_hash=HASH,
                quota_bytes=1500,
                allow_nets=("127.0.0.9", "10.1.2.3/8", "2001:db8::/32"),
            ),
        ),
    )


def _check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_bytes(text.encode())
    assert text == path.read_bytes().decode(), f"{name} differs from its golden file"


def test_dovecot_shards_match_golden() -> None:
    shards = render_domain(_state()).dovecot["users"]
    _check_golden("dovecot_users.txt", "".join(f"## {k}\n{v}" for k, v in shards.items()))


def test_refusals_match_golden() -> None:
    refused = sorted(render_domain(_state()).refused)
    _check_golden("dovecot_refused.txt", "".join(f"{a} {s}\n" for a, s in refused))


@pytest.mark.parametrize(
    "map_name",
    ["virtual_domains", "virtual_mailboxes", "virtual_aliases", "recipient_access", "sender_login"],
)
def test_postfix_maps_match_golden(map_name: str) -> None:
    _check_golden(f"postfix_{map_name}.txt", render_postfix(_state())[map_name])


def test_quota_is_rounded_up_to_whole_kib() -> None:
    users = "".join(render_domain(_state()).dovecot["users"].values())
    assert "b.o-b_1@example.test:" in users
    assert "userdb_quota_rule=*:storage=2K" in users  # 1500 bytes never becomes 1K


HOSTILE_LOCAL_PARTS = [
    "a b",  # a space separates map fields
    "a\nb",  # a newline adds a line
    "evil\n@other.test",
    "a:b",  # ':' separates passwd-file fields
    'a"b',  # a quote ends a Sieve string
    "a/../../etc",  # a path in the mail home
    "A",  # not normalised
    "",
    ".a",
    "a..b",
    "x" * 65,
    "a\tb",
    "a@b",
]


@pytest.mark.parametrize("local_part", HOSTILE_LOCAL_PARTS)
def test_hostile_local_part_is_refused(local_part: str) -> None:
    state = DomainState(
        id=1,
        name="example.test",
        version=1,
        accounts=(AccountState(id=1, local_part=local_part, password_hash=HASH),),
    )
    with pytest.raises(RenderError):
        render_dovecot(state)
    with pytest.raises(RenderError):
        render_postfix(state)


@pytest.mark.parametrize(
    "name",
    [
        "exa mple.test",
        "example.test\nevil.test OK",
        "a:b.test",
        "Example.TEST",
        "-a.test",
        "single",
        "a/b.test",
    ],
)
def test_hostile_domain_is_refused(name: str) -> None:
    state = DomainState(id=1, name=name, version=1)
    with pytest.raises(RenderError):
        render_postfix(state)


@pytest.mark.parametrize(
    "password_hash",
    [
        "plain",
        HASH + "\nroot@x.test:{PLAIN}x",
        HASH.replace("A", ":", 1),
        HASH + " allow_nets=0.0.0.0/0",
        "{PLAIN}secret",
        "$2b$10$" + "a" * 53,
    ],
)
def test_hostile_password_hash_is_refused(password_hash: str) -> None:
    state = DomainState(
        id=1,
        name="example.test",
        version=1,
        accounts=(AccountState(id=1, local_part="alice", password_hash=password_hash),),
    )
    with pytest.raises(RenderError):
        render_dovecot(state)


@pytest.mark.parametrize(
    "net",
    ["10.0.0.0/8 userdb_quota_rule=*:storage=0", "1.2.3.4\nroot", "example.test", "", "300.1.1.1"],
)
def test_hostile_allowed_network_is_refused(net: str) -> None:
    state = DomainState(
        id=1,
        name="example.test",
        version=1,
        accounts=(AccountState(id=1, local_part="a", password_hash=HASH, allow_nets=(net,)),),
    )
    with pytest.raises(RenderError):
        render_dovecot(state)


@pytest.mark.parametrize("service", ["ftp", "imap/x", "pop3\nsmtp", ""])
def test_unknown_service_is_refused(service: str) -> None:
    state = DomainState(
        id=1,
        name="example.test",
        version=1,
        accounts=(
            AccountState(id=1, local_part="a", password_hash=HASH, denied_services=(service,)),
        ),
    )
    with pytest.raises(RenderError):
        render_dovecot(state)


@pytest.mark.parametrize(
    "target",
    [
        "a b@x.test",
        "x@y.test, root@evil.test",
        "x@y.test\n@evil.test z@evil.test",
        "nobody",
        "@x.test",
        "x@-y.test",
    ],
)
def test_hostile_forwarding_target_is_refused(target: str) -> None:
    state = DomainState(
        id=1,
        name="example.test",
        version=1,
        accounts=(AccountState(id=1, local_part="a", password_hash=HASH, forward_to=(target,)),),
    )
    with pytest.raises(RenderError):
        render_postfix(state)
    with pytest.raises(RenderError):
        render_postfix(DomainState(id=1, name="example.test", version=1, catchall_target=target))


def test_more_than_20_forwards_are_refused() -> None:
    targets = tuple(f"t{i}@remote.test" for i in range(21))
    state = DomainState(
        id=1,
        name="example.test",
        version=1,
        accounts=(AccountState(id=1, local_part="a", password_hash=HASH, forward_to=targets),),
    )
    with pytest.raises(RenderError):
        render_postfix(state)


def test_negative_quota_is_refused() -> None:
    state = DomainState(
        id=1,
        name="example.test",
        version=1,
        accounts=(AccountState(id=1, local_part="a", password_hash=HASH, quota_bytes=-1),),
    )
    with pytest.raises(RenderError):
        render_dovecot(state)


def test_state_round_trips_through_json() -> None:
    state = _state()
    assert DomainState.from_json(state.to_json()) == state


def test_autoresponder_script_matches_golden_and_keeps_user_text_in_strings() -> None:
    state = DomainState(
        id=1,
        name="example.test",
        version=1,
        accounts=(
            AccountState(
                id=1,
                local_part="alice",
                password_hash=HASH,
                autoreply=True,
                autoreply_subject='Away "now" \\ ${x} };\nstop;',
                autoreply_body='Line 1\r\nrequire ["fileinto"]; fileinto "Junk";\n"}\\',
                autoreply_start="2026-03-29T00:30:00",
                autoreply_end="2026-04-05T22:00:00",
            ),
            AccountState(id=2, local_part="bob", password_hash=HASH, spam_to_inbox=True),
        ),
    )
    rendered = render_domain(state)
    assert set(rendered.sieve) == {"alice"}
    _check_golden("sieve_autoreply.txt", rendered.sieve["alice"])
    assert "userdb_sieve_before=" in "".join(rendered.dovecot["users"].values())


@pytest.mark.parametrize(
    "field", [{"autoreply_body": "bad \x00 byte"}, {"autoreply_start": "tomorrow"}]
)
def test_autoresponder_refuses_what_it_cannot_write(field: dict) -> None:
    account = AccountState(id=1, local_part="a", password_hash=HASH, autoreply=True, **field)
    with pytest.raises(RenderError):
        render_domain(DomainState(id=1, name="example.test", version=1, accounts=(account,)))


def test_a_noreply_account_can_send_but_has_no_mailbox() -> None:
    account = AccountState(id=1, local_part="noreply", password_hash=HASH, noreply=True)
    rendered = render_domain(DomainState(id=1, name="example.test", version=1, accounts=(account,)))
    assert "noreply@example.test:" in "".join(rendered.dovecot["users"].values())  # SMTP AUTH works
    assert rendered.postfix["virtual_mailboxes"] == ""
    assert rendered.postfix["recipient_access"] == (
        "noreply@example.test 550 5.7.1 This address does not accept replies (no-reply)\n"
    )
    assert rendered.postfix["sender_login"] == "noreply@example.test noreply@example.test\n"
    assert ("noreply@example.test", "imap") in rendered.refused
    assert ("noreply@example.test", "pop3") in rendered.refused
    assert ("noreply@example.test", "smtp") not in rendered.refused
