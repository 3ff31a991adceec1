"""The order of an apply: Postfix never accepts what Dovecot cannot deliver to."""

from __future__ import annotations

from provisioning.node.state import AccountState, DomainState, plan_apply

H = "$6$saltsalt$" + "b" * 86


def _domain(version: int, *accounts: AccountState) -> DomainState:
    return DomainState(id=1, name="example.test", version=version, accounts=accounts)


def _locals(state: DomainState) -> dict[str, bool]:
    return {a.local_part: a.active for a in state.accounts}


def test_new_account_reaches_postfix_only_after_dovecot() -> None:
    old = _domain(1, AccountState(1, "alice", H))
    new = _domain(2, AccountState(1, "alice", H), AccountState(2, "bob", H))
    plan = plan_apply(old, new)
    assert _locals(plan.postfix_first) == {"alice": True}
    assert _locals(plan.dovecot_first) == {"alice": True, "bob": True}
    assert _locals(plan.final) == {"alice": True, "bob": True}
    assert plan.kick == () and plan.move_homes == ()


def test_first_apply_of_a_domain() -> None:
    plan = plan_apply(None, _domain(1, AccountState(1, "alice", H)))
    assert _locals(plan.postfix_first) == {}
    assert _locals(plan.dovecot_first) == {"alice": True}


def test_deactivation_rejects_in_postfix_first_and_kicks() -> None:
    old = _domain(1, AccountState(1, "alice", H))
    new = _domain(2, AccountState(1, "alice", H, active=False))
    plan = plan_apply(old, new)
    assert _locals(plan.postfix_first) == {"alice": False}
    assert plan.kick == ("alice@example.test",)
    assert plan.move_homes == ()


def test_reactivation_stays_rejected_until_dovecot_allows() -> None:
    old = _domain(1, AccountState(1, "alice", H, active=False))
    new = _domain(2, AccountState(1, "alice", H))
    plan = plan_apply(old, new)
    assert _locals(plan.postfix_first) == {"alice": False}
    assert _locals(plan.dovecot_first) == {"alice": True}
    assert plan.kick == ()


def test_delete_removes_from_postfix_first_then_kicks_and_moves_home() -> None:
    old = _domain(1, AccountState(1, "alice", H), AccountState(2, "bob", H))
    new = _domain(2, AccountState(2, "bob", H))
    plan = plan_apply(old, new)
    assert _locals(plan.postfix_first) == {"bob": True}
    assert plan.kick == ("alice@example.test",)
    assert plan.move_homes == ("alice",)


def test_recreated_address_moves_the_old_home_before_dovecot_knows_the_new_account() -> None:
    old = _domain(1, AccountState(1, "alice", H))
    new = _domain(2, AccountState(9, "alice", H))
    plan = plan_apply(old, new)
    assert _locals(plan.postfix_first) == {}
    assert _locals(plan.dovecot_first) == {}
    assert plan.kick == ("alice@example.test",)
    assert plan.move_homes == ("alice",)
    assert _locals(plan.final) == {"alice": True}


def test_deleting_a_deactivated_account_needs_no_kick() -> None:
    old = _domain(1, AccountState(1, "alice", H, active=False))
    plan = plan_apply(old, _domain(2))
    assert plan.kick == ()
    assert plan.move_homes == ("alice",)
