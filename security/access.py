"""Whose two-factor login an admin may see and reset; built on organizations.access.

Panel users (members): provider staff reach everyone; organization admins and read-only
members see the members of their organizations, and only the admins may reset (read-only:
403). Staff accounts are reset by staff only. Owners of accounts go through their mailbox
(get_mailbox_for_request), so domain admins reach the owners of their domains' accounts.
Nobody resets their own here (that is the disable form, with their password and a code);
anything outside the scope answers 404 like a missing user.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest

from mailboxes.models import Mailbox
from organizations.access import get_mailbox_for_request, is_provider_staff
from organizations.models import Organization, Role
from tempusmail.http import AuthenticatedRequest


def _members(organizations: QuerySet[Organization]) -> QuerySet:
    return get_user_model().objects.filter(memberships__organization__in=organizations)


def members_visible_to(user) -> QuerySet:
    User = get_user_model()
    if is_provider_staff(user):
        return User.objects.exclude(pk=user.pk)
    organizations = Organization.objects.filter(
        memberships__user=user, memberships__role__in=[Role.ADMIN, Role.READ_ONLY]
    )
    return _members(organizations).exclude(pk=user.pk).distinct()


def members_writable_by(user) -> QuerySet:
    User = get_user_model()
    if is_provider_staff(user):
        return User.objects.exclude(pk=user.pk)
    organizations = Organization.objects.filter(
        memberships__user=user, memberships__role=Role.ADMIN
    )
    return (
        _members(organizations)
        .exclude(pk=user.pk)
        .exclude(is_staff=True)
        .exclude(is_superuser=True)
        .distinct()
    )


def get_member_for_reset(request: HttpRequest, user_id: int) -> User:
    target = members_visible_to(request.user).filter(pk=user_id).first()
    if target is None:
        raise Http404("No such user.")
    if not members_writable_by(request.user).filter(pk=user_id).exists():
        raise PermissionDenied("Your role cannot reset this user's two-factor login.")
    return target


def get_owner_for_reset(request: HttpRequest, mailbox_id: int) -> tuple[Mailbox, object | None]:
    """The account (404/403 as for every change to it) and its owner's panel user, if the
    owner has ever logged in."""
    mailbox = get_mailbox_for_request(request, mailbox_id, write=True)
    owner = getattr(mailbox, "owner", None)
    user = owner.user if owner is not None else None
    if user is not None and user.pk == request.user.pk:
        raise Http404("No such account.")
    return mailbox, user


def get_organization_two_factor_page(
    request: AuthenticatedRequest, organization_id: int
) -> Organization:
    """The organization's two-factor page: for staff, its admins and read-only members (domain
    admins see only their domains, never the organization's member list)."""
    scope = Organization.objects.all()
    if not is_provider_staff(request.user):
        scope = Organization.objects.filter(
            memberships__user=request.user,
            memberships__role__in=[Role.ADMIN, Role.READ_ONLY],
        )
    organization = scope.filter(pk=organization_id).first()
    if organization is None:
        raise Http404("No such organization.")
    return organization
