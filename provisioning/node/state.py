"""Desired state of one domain on a mail node, as it travels from the panel to the agent.

Plain frozen dataclasses that serialise to JSON: the node agent needs no access to the panel's
database, everything it writes is derived from one DomainState.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any


@dataclass(frozen=True)
class AccountState:
    id: int
    local_part: str
    password_hash: str
    active: bool = True
    quota_bytes: int = 0


@dataclass(frozen=True)
class DomainState:
    # id tells a re-created domain of the same name from the old one (versions restart).
    id: int
    name: str
    version: int
    accounts: tuple[AccountState, ...] = field(default_factory=tuple)

    def address(self, account: AccountState) -> str:
        return f"{account.local_part}@{self.name}"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DomainState:
        accounts = tuple(AccountState(**a) for a in data.get("accounts", ()))
        return cls(
            id=int(data["id"]), name=data["name"], version=int(data["version"]), accounts=accounts
        )


@dataclass(frozen=True)
class ApplyPlan:
    """The steps of one apply, in the order MAILSTACK.md proves necessary.

    Postfix first stops accepting what goes away (and does not yet accept what is new), then
    Dovecot learns the new state, open sessions of removed or disabled accounts are cut, homes
    of deleted accounts move aside, and only then Postfix accepts mail for new accounts. So
    mail is never accepted for a user LMTP cannot deliver to, and a deleted user's mail never
    lands in a re-created address's home.
    """

    postfix_first: DomainState
    dovecot_first: DomainState
    kick: tuple[str, ...]
    move_homes: tuple[str, ...]
    final: DomainState


def plan_apply(old: DomainState | None, new: DomainState) -> ApplyPlan:
    old_accounts = {a.local_part: a for a in old.accounts} if old else {}
    new_accounts = {a.local_part: a for a in new.accounts}

    def same_account(local_part: str) -> bool:
        prev, cur = old_accounts.get(local_part), new_accounts.get(local_part)
        return prev is not None and cur is not None and prev.id == cur.id

    gone = [lp for lp in old_accounts if not same_account(lp)]  # deleted or re-created
    kick = [
        new.address(old_accounts[lp])
        for lp in old_accounts
        if old_accounts[lp].active and (lp in gone or not new_accounts[lp].active)
    ]

    postfix_first: list[AccountState] = []
    for account in new.accounts:
        if not same_account(account.local_part):
            continue  # new to Postfix only once Dovecot knows it
        if account.active and not old_accounts[account.local_part].active:
            postfix_first.append(replace(account, active=False))  # reactivated: still rejected
        else:
            postfix_first.append(account)

    dovecot_first = tuple(a for a in new.accounts if a.local_part not in gone)
    return ApplyPlan(
        postfix_first=replace(new, accounts=tuple(postfix_first)),
        dovecot_first=replace(new, accounts=dovecot_first),
        kick=tuple(sorted(kick)),
        move_homes=tuple(sorted(gone)),
        final=new,
    )
