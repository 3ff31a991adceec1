"""Invitations are reached through their domain's scope (organizations.access)."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.shortcuts import get_object_or_404

from invitations.models import Invitation
from organizations.access import can_change_domain, domains_for


def get_invitation_for_request(
    request: HttpRequest, invitation_id: int, *, write: bool = False
) -> Invitation:
    invitation = get_object_or_404(
        Invitation.objects.filter(domain__in=domains_for(request.user).values("id"))
        .select_related("domain", "domain__organization"),
        pk=invitation_id,
    )  # fmt: skip
    if write and not can_change_domain(request.user, invitation.domain):
        raise PermissionDenied("Your role cannot change this domain's invitations.")
    return invitation
