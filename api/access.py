"""Resolving objects named in API URLs, through the principal's scope only: anything outside
it answers 404 exactly like a missing object (as organizations/access.py does for pages)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.http import Http404

from api.principal import ApiRequest
from domains.models import Domain
from domains.validators import normalize_domain_name
from mailboxes.models import Mailbox


def get_domain_for_api(request: ApiRequest, name: str) -> Domain:
    try:
        ascii_name = normalize_domain_name(name)
    except ValidationError:
        raise Http404("No such domain.") from None
    domain = request.api.domains().select_related("organization").filter(name=ascii_name).first()
    if domain is None:
        raise Http404("No such domain.")
    return domain


def get_mailbox_for_api(request: ApiRequest, domain_name: str, local_part: str) -> Mailbox:
    domain = get_domain_for_api(request, domain_name)
    mailbox = (
        request.api.mailboxes()
        .select_related("usage")
        .filter(domain=domain, local_part=local_part.lower())
        .first()
    )
    if mailbox is None:
        raise Http404("No such account.")
    mailbox.domain = domain  # already loaded, with its organization and plan's join
    return mailbox
