"""Who calls the API (ApiPrincipal) and the request type of API views (ApiRequest).

``@api_endpoint`` (api/auth.py) sets ``request.api``; a view and the helpers of
api/access.py annotate their request as ApiRequest, so the type checker knows it is there.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet
from django.http import HttpRequest

from api.models import ApiKey
from domains.models import Domain
from mailboxes.models import Mailbox
from security.audit import Actor


@dataclass(frozen=True)
class ApiPrincipal:
    """Who is calling: the key, and through it what they may reach."""

    key: ApiKey
    actor: Actor  # pass as actor= to services: audited as "api:<key name>"

    @property
    def read_only(self) -> bool:
        return self.key.read_only

    @property
    def mailbox(self) -> Mailbox | None:
        """The account of a personal key (None for organization keys)."""
        return self.key.mailbox

    def domains(self) -> QuerySet[Domain]:
        """Domains the key may see: the organization's, or the ones it lists. A personal key
        reaches no domain, only its own account."""
        if self.key.is_personal:
            return Domain.objects.none()
        domains = Domain.objects.filter(organization_id=self.key.organization_id)
        chosen = self.key.domains.values("id")
        if self.key.domains.exists():
            domains = domains.filter(id__in=chosen)
        return domains

    def mailboxes(self) -> QuerySet[Mailbox]:
        mailbox_id = self.key.mailbox_id
        if mailbox_id is not None:  # a personal key (is_personal)
            return Mailbox.objects.filter(pk=mailbox_id)
        return Mailbox.objects.filter(domain__in=self.domains().values("id"))


class ApiRequest(HttpRequest):
    """A request inside an ``@api_endpoint`` view: ``api`` is set before the view runs."""

    api: ApiPrincipal
