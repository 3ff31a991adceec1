"""The JSON API's endpoints (/api/v1/). Each one is an @api_endpoint view: it reaches data only
through request.api (the key's scope) and writes only through services with
request.api.actor."""

from __future__ import annotations

from typing import Any

from django.http import JsonResponse

from api.access import get_domain_for_api
from api.auth import api_endpoint
from api.pagination import keyset_page
from api.principal import ApiRequest
from domains.models import Domain


def _domain(domain: Domain) -> dict[str, Any]:
    return {
        "name": domain.name,
        "display_name": domain.display_name,
        "organization": domain.organization.name,
        "is_active": domain.is_active,
        "created_at": domain.created_at.isoformat(),
        "provisioning": {
            "desired_version": domain.desired_version,
            "applied_version": domain.applied_version,
            "in_sync": domain.is_in_sync,
            "error": domain.apply_error or None,
        },
    }


@api_endpoint(methods=["GET"])
def domain_list(request: ApiRequest) -> JsonResponse:
    domains = request.api.domains().select_related("organization")
    page = keyset_page(request, domains, order=("name",))
    return JsonResponse(page.body([_domain(d) for d in page.items]))


@api_endpoint(methods=["GET"])
def domain_detail(request: ApiRequest, domain_name: str) -> JsonResponse:
    return JsonResponse(_domain(get_domain_for_api(request, domain_name)))
