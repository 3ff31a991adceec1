"""Forced two-factor login: which policy applies to a user, and where their grace period is.

Organization policy: its members and the owners of its accounts. Domain policy: the owners of
the domain's accounts and its domain admins. Account policy: that account's owner. The grace
period is the strictest (shortest) organization grace among the policies that apply, counted
from the user's first login after a policy applied to them (TwoFactorGrace).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth.models import User

from domains.models import Domain
from organizations.access import mailbox_of_owner
from organizations.models import Organization, Role
from security import clock
from security.models import TwoFactorGrace


@dataclass(frozen=True)
class TwoFactorPolicy:
    required: bool
    grace_days: int = 0
    source: str = ""  # who requires it, for the page: "the organization Acme"


NOT_REQUIRED = TwoFactorPolicy(required=False)


def two_factor_policy(user: User) -> TwoFactorPolicy:
    sources: list[tuple[str, int]] = []
    mailbox = mailbox_of_owner(user)
    if mailbox is not None:
        domain, organization = mailbox.domain, mailbox.domain.organization
        grace = organization.two_factor_grace_days
        if mailbox.force_2fa:
            sources.append((f"the account {mailbox.address}", grace))
        if domain.force_2fa:
            sources.append((f"the domain {domain.name}", grace))
        if organization.force_2fa:
            sources.append((f"the organization {organization.name}", grace))
    for organization in Organization.objects.filter(force_2fa=True, memberships__user=user):
        sources.append(
            (f"the organization {organization.name}", organization.two_factor_grace_days)
        )
    administered = Domain.objects.filter(
        force_2fa=True, admins__user=user, admins__role=Role.DOMAIN_ADMIN
    ).select_related("organization")
    for domain in administered:
        sources.append((f"the domain {domain.name}", domain.organization.two_factor_grace_days))
    if not sources:
        return NOT_REQUIRED
    source, grace = min(sources, key=lambda s: s[1])
    return TwoFactorPolicy(required=True, grace_days=grace, source=source)


@dataclass(frozen=True)
class Grace:
    deadline: datetime

    @property
    def over(self) -> bool:
        return clock.now() >= self.deadline

    @property
    def days_left(self) -> int:
        return max(0, math.ceil((self.deadline - clock.now()) / timedelta(days=1)))


def grace_started_at(user: User) -> datetime | None:
    return TwoFactorGrace.objects.filter(user=user).values_list("started_at", flat=True).first()


def grace_of(user: User, policy: TwoFactorPolicy, started: datetime | None = None) -> Grace | None:
    """The grace period of a user a policy applies to; None before their first login under it
    (a policy switched on mid-session starts counting at the next login)."""
    started = started or grace_started_at(user)
    if started is None:
        return None
    return Grace(deadline=started + timedelta(days=policy.grace_days))
