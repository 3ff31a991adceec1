"""Tenant scoping: the one way views reach organizations, domains and mailboxes.

Every view resolves its object through a get_*_for_request() helper. An object of another
tenant answers 404 exactly like a missing one (Http404 from the same scoped queryset); a
read-only member gets 403 (PermissionDenied) when the view changes something.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.shortcuts import get_object_or_404

from domains.models import Domain
from jobs.models import Job
from mailboxes.models import Mailbox
from organizations.models import Membership, Organization, Role

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser
    from django.contrib.auth.models import User as AuthUser

    User = AuthUser | AnonymousUser


def is_provider_staff(user: User) -> bool:
    return bool(user.is_authenticated and user.is_staff)


def organizations_for(user: User) -> QuerySet[Organization]:
    if is_provider_staff(user):
        return Organization.objects.all()
    if not user.is_authenticated:
        return Organization.objects.none()
    return Organization.objects.filter(memberships__user=user).distinct()


def _domain_scope(user: User, *, writable: bool) -> Q:
    """Domains a member may see (or, with writable, change), as one filter."""
    whole_org_roles = [Role.ADMIN] if writable else [Role.ADMIN, Role.READ_ONLY]
    return Q(
        organization__memberships__user=user,
        organization__memberships__role__in=whole_org_roles,
    ) | Q(admins__user=user, admins__role=Role.DOMAIN_ADMIN)


def domains_for(user: User, *, writable: bool = False) -> QuerySet[Domain]:
    if is_provider_staff(user):
        return Domain.objects.all()
    if not user.is_authenticated:
        return Domain.objects.none()
    ids = Domain.objects.filter(_domain_scope(user, writable=writable)).values("id")
    return Domain.objects.filter(id__in=ids)


def mailboxes_for(user: User) -> QuerySet[Mailbox]:
    return Mailbox.objects.filter(domain__in=domains_for(user).values("id"))


def mailbox_of_owner(user: User) -> Mailbox | None:
    """The mailbox a mailbox owner is logged in as: all an owner may ever see (None for
    anyone else). Owners hold no membership, so every query above gives them nothing."""
    if not user.is_authenticated:
        return None
    return (
        Mailbox.objects.select_related("domain", "domain__organization")
        .filter(owner__user=user)
        .first()
    )


def can_change_domain(user: User, domain: Domain) -> bool:
    return domains_for(user, writable=True).filter(pk=domain.pk).exists()


def sees_whole_organization(user: User, organization: Organization) -> bool:
    """Staff, organization admins and read-only members: every domain, and the organization's
    own records (its audit events without a domain). Domain admins see only their domains."""
    if is_provider_staff(user):
        return True
    if not user.is_authenticated:
        return False
    return Membership.objects.filter(
        user=user, organization=organization, role__in=[Role.ADMIN, Role.READ_ONLY]
    ).exists()


def can_change_organization(user: User, organization: Organization) -> bool:
    if is_provider_staff(user):
        return True
    if not user.is_authenticated:
        return False
    return Membership.objects.filter(user=user, organization=organization, role=Role.ADMIN).exists()


def get_organization_for_request(
    request: HttpRequest, organization_id: int, *, write: bool = False
) -> Organization:
    organization = get_object_or_404(organizations_for(request.user), pk=organization_id)
    if write and not can_change_organization(request.user, organization):
        raise PermissionDenied("Your role in this organization cannot change it.")
    return organization


def get_domain_for_request(request: HttpRequest, domain_id: int, *, write: bool = False) -> Domain:
    domain = get_object_or_404(
        domains_for(request.user).select_related("organization", "organization__plan", "node"),
        pk=domain_id,
    )
    if write and not can_change_domain(request.user, domain):
        raise PermissionDenied("Your role cannot change this domain.")
    return domain


def get_mailbox_for_request(
    request: HttpRequest, mailbox_id: int, *, write: bool = False
) -> Mailbox:
    mailbox = get_object_or_404(
        mailboxes_for(request.user).select_related("domain", "domain__organization"),
        pk=mailbox_id,
    )
    if write and not can_change_domain(request.user, mailbox.domain):
        raise PermissionDenied("Your role cannot change this account.")
    return mailbox


def get_job_for_request(request: HttpRequest, job_id: object) -> Job:
    """A background job (jobs.Job) the user may watch: one of a domain they see, or of an
    organization they see whole. 404 otherwise, like everything here."""
    user = request.user
    visible = Q(domain__in=domains_for(user).values("id")) | Q(
        domain__isnull=True, organization__in=_whole_organizations(user)
    )
    return get_object_or_404(Job.objects.filter(visible).select_related("domain"), pk=job_id)


def _whole_organizations(user: User) -> QuerySet[Organization]:
    if is_provider_staff(user):
        return Organization.objects.all()
    if not user.is_authenticated:
        return Organization.objects.none()
    return Organization.objects.filter(
        memberships__user=user, memberships__role__in=[Role.ADMIN, Role.READ_ONLY]
    )
