"""Accounts in the JSON API (/api/v1/domains/<domain>/accounts...). Objects come only through
request.api's querysets (another domain's account is 404 like a missing one) and every write
through mailboxes/services.py with request.api.actor, so the pages' validation, audit rows and
provisioning apply unchanged."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpResponse, JsonResponse

from api import v1_fields as fields
from api.access import get_domain_for_api, get_mailbox_for_api
from api.auth import api_endpoint
from api.principal import ApiRequest
from domains.models import Domain
from mailboxes.models import Mailbox
from mailboxes.passwords import generate_password
from mailboxes.selectors import SORTS, STATUS_FILTERS, MailboxListRows
from mailboxes.sending import UNAVAILABLE, sent_for_mailboxes
from mailboxes.services import (
    mailbox_create,
    mailbox_deactivate,
    mailbox_delete,
    mailbox_reactivate,
    mailbox_set_password,
    mailbox_update,
)

DEFAULT_PER_PAGE = 50
MAX_PER_PAGE = 200
SORT_CHOICES = tuple(s for key in SORTS for s in (key, f"-{key}"))


def _update(request: ApiRequest, mailbox: Mailbox, changes: dict[str, Any]) -> Mailbox:
    try:
        return mailbox_update(actor=request.api.actor, mailbox=mailbox, changes=changes)
    except ValidationError as exc:
        raise fields.api_field_names(exc) from exc


# --- the list ---------------------------------------------------------------------------------


def _choice(request: ApiRequest, name: str, choices: tuple[str, ...]) -> str:
    value = request.GET.get(name, "")
    if value and value not in choices:
        raise ValidationError({name: [f"One of: {', '.join(choices)}."]})
    return value


def _positive(request: ApiRequest, name: str, default: int, maximum: int | None = None) -> int:
    raw = request.GET.get(name, "")
    if raw == "":
        return default
    if not raw.isdigit() or int(raw) < 1 or (maximum is not None and int(raw) > maximum):
        upto = f" up to {maximum}" if maximum else ""
        raise ValidationError({name: [f"A whole number from 1{upto}."]})
    return int(raw)


def _list(request: ApiRequest, domain: Domain) -> JsonResponse:
    """The account list page's query (search, status filter, sort; ties broken by address, so
    the order is stable) in numbered pages, with the live sent counters of the page's rows."""
    query = request.GET.get("q", "")
    if len(query) > 200:
        raise ValidationError({"q": ["At most 200 characters."]})
    status = _choice(request, "status", STATUS_FILTERS)
    sort = _choice(request, "sort", SORT_CHOICES) or "address"
    per_page = _positive(request, "per_page", DEFAULT_PER_PAGE, MAX_PER_PAGE)
    page = _positive(request, "page", 1, 10**9)
    rows = MailboxListRows(domain, query=query, status=status, sort=sort)
    total = rows.count()
    start = (page - 1) * per_page
    mailboxes = rows[start : start + per_page] if start < total else []
    for mailbox in mailboxes:
        mailbox.domain = domain
    return JsonResponse(
        {
            "data": [fields.account(m) for m in mailboxes],
            "page": page,
            "per_page": per_page,
            "total": total,
            "next_page": page + 1 if start + per_page < total else None,
        }
    )


def _create(request: ApiRequest, domain: Domain) -> JsonResponse:
    body = fields.json_body(request)
    local_part = body.pop("local_part", None)
    if not isinstance(local_part, str):
        raise ValidationError({"local_part": ["Enter the part of the address before the @."]})
    generated = "password" not in body
    password = generate_password() if generated else fields.password_in(body.pop("password"))
    kind = fields.kind_in(body.pop("kind", "person"))
    settings = fields.settings_in(body, fields.SETTINGS)
    try:
        mailbox = mailbox_create(
            actor=request.api.actor,
            domain=domain,
            local_part=local_part,
            password=password,
            quota_bytes=settings.pop("quota_bytes", None),
            first_name=settings.pop("first_name", ""),
            last_name=settings.pop("last_name", ""),
            settings=settings,
            kind=kind,
        )
    except ValidationError as exc:
        raise fields.api_field_names(exc) from exc
    mailbox.domain = domain
    answer = fields.account(mailbox)
    if generated:
        answer["password"] = password  # shown this once; only its hash is kept
    return JsonResponse(answer, status=201)


@api_endpoint(methods=["GET", "POST"])
def account_collection(request: ApiRequest, domain_name: str) -> JsonResponse:
    domain = get_domain_for_api(request, domain_name)
    return _create(request, domain) if request.method == "POST" else _list(request, domain)


# --- one account ------------------------------------------------------------------------------


@api_endpoint(methods=["GET", "PATCH", "DELETE"])
def account_detail(request: ApiRequest, domain_name: str, local_part: str) -> HttpResponse:
    mailbox = get_mailbox_for_api(request, domain_name, local_part)
    if request.method == "DELETE":
        mailbox_delete(actor=request.api.actor, mailbox=mailbox)
        return HttpResponse(status=204)
    if request.method == "PATCH":
        changes = fields.settings_in(fields.json_body(request), fields.SETTINGS)
        mailbox = _update(request, mailbox, changes)
    return JsonResponse(fields.account(mailbox))


@api_endpoint(methods=["POST"])
def account_deactivate(request: ApiRequest, domain_name: str, local_part: str) -> JsonResponse:
    mailbox = get_mailbox_for_api(request, domain_name, local_part)
    return JsonResponse(
        fields.account(mailbox_deactivate(actor=request.api.actor, mailbox=mailbox))
    )


@api_endpoint(methods=["POST"])
def account_reactivate(request: ApiRequest, domain_name: str, local_part: str) -> JsonResponse:
    mailbox = get_mailbox_for_api(request, domain_name, local_part)
    return JsonResponse(
        fields.account(mailbox_reactivate(actor=request.api.actor, mailbox=mailbox))
    )


@api_endpoint(methods=["POST"])
def account_password(request: ApiRequest, domain_name: str, local_part: str) -> JsonResponse:
    """A new password: the one in the body, or a generated one returned this once."""
    mailbox = get_mailbox_for_api(request, domain_name, local_part)
    body = fields.json_body(request)
    unknown = set(body) - {"password"}
    if unknown:
        raise ValidationError({name: ["Not a field of this resource."] for name in unknown})
    generated = "password" not in body
    password = generate_password() if generated else fields.password_in(body["password"])
    mailbox_set_password(actor=request.api.actor, mailbox=mailbox, password=password)
    return JsonResponse({"password": password} if generated else {}, status=200)


def _settings_resource(request: ApiRequest, mailbox: Mailbox, names: tuple[str, ...]):
    if request.method == "PATCH":
        mailbox = _update(request, mailbox, fields.settings_in(fields.json_body(request), names))
    return JsonResponse(fields.settings_of(mailbox, names))


@api_endpoint(methods=["GET", "PATCH"])
def account_forwarding(request: ApiRequest, domain_name: str, local_part: str) -> JsonResponse:
    mailbox = get_mailbox_for_api(request, domain_name, local_part)
    return _settings_resource(request, mailbox, fields.FORWARDING)


@api_endpoint(methods=["GET", "PATCH"])
def account_autoresponder(request: ApiRequest, domain_name: str, local_part: str) -> JsonResponse:
    mailbox = get_mailbox_for_api(request, domain_name, local_part)
    return _settings_resource(request, mailbox, fields.AUTORESPONDER)


def usage_answer(mailbox: Mailbox) -> JsonResponse:
    counts = sent_for_mailboxes([mailbox], mailbox.domain)
    return JsonResponse(
        {
            **fields.usage_of(mailbox),
            "quota_bytes": mailbox.quota_bytes,
            "sent_24h": fields.sent_of(counts[mailbox.pk]) if counts else None,
            "sent_unavailable": None if counts else UNAVAILABLE,
        }
    )


@api_endpoint(methods=["GET"])
def account_usage(request: ApiRequest, domain_name: str, local_part: str) -> JsonResponse:
    return usage_answer(get_mailbox_for_api(request, domain_name, local_part))


@api_endpoint(methods=["GET"])
def account_provisioning(request: ApiRequest, domain_name: str, local_part: str) -> JsonResponse:
    mailbox = get_mailbox_for_api(request, domain_name, local_part)
    return JsonResponse(fields.provisioning_of(mailbox))
