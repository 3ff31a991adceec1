"""/api/v1/me: a personal key's own account, with what its owner may change in the panel
(owners/permissions.py) and nothing more. Organization keys get 404 here, as no account is
theirs."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, JsonResponse

from api import v1_fields as fields
from api.auth import api_endpoint
from api.principal import ApiRequest
from api.v1_accounts import usage_answer
from mailboxes.models import Mailbox
from mailboxes.services import mailbox_update
from owners.permissions import (
    FORWARDING_FIELDS,
    FORWARDING_MANAGED,
    may_change_password,
    may_forward,
)


def _own_mailbox(request: ApiRequest) -> Mailbox:
    if request.api.mailbox is None:
        raise Http404("Only a personal API key has an account of its own.")
    # Re-read through the scope: fresh values, usage loaded with it.
    mailbox = request.api.mailboxes().select_related("domain__organization", "usage").first()
    if mailbox is None:
        raise Http404("Only a personal API key has an account of its own.")
    return mailbox


def _permissions(mailbox: Mailbox) -> dict[str, bool]:
    return {
        "may_forward": may_forward(mailbox),
        "may_change_password": may_change_password(mailbox),
    }


@api_endpoint(methods=["GET"])
def me(request: ApiRequest) -> JsonResponse:
    mailbox = _own_mailbox(request)
    return JsonResponse({**fields.account(mailbox), "permissions": _permissions(mailbox)})


@api_endpoint(methods=["GET"])
def me_usage(request: ApiRequest) -> JsonResponse:
    return usage_answer(_own_mailbox(request))


def _save(request: ApiRequest, mailbox: Mailbox, changes: dict[str, Any]) -> Mailbox:
    return mailbox_update(actor=request.api.actor, mailbox=mailbox, changes=changes)


@api_endpoint(methods=["GET", "PATCH"])
def me_forwarding(request: ApiRequest) -> JsonResponse:
    mailbox = _own_mailbox(request)
    if request.method == "PATCH":
        changes = fields.settings_in(fields.json_body(request), fields.FORWARDING)
        if set(changes) & set(FORWARDING_FIELDS) and not may_forward(mailbox):
            raise PermissionDenied(FORWARDING_MANAGED)
        mailbox = _save(request, mailbox, changes)
    return JsonResponse(fields.settings_of(mailbox, fields.FORWARDING))


@api_endpoint(methods=["GET", "PATCH"])
def me_autoresponder(request: ApiRequest) -> JsonResponse:
    mailbox = _own_mailbox(request)
    if request.method == "PATCH":
        changes = fields.settings_in(fields.json_body(request), fields.AUTORESPONDER)
        mailbox = _save(request, mailbox, changes)
    return JsonResponse(fields.settings_of(mailbox, fields.AUTORESPONDER))
