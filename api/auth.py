"""The one way into the JSON API: ``@api_endpoint``.

    @api_endpoint(methods=["GET"])
    def domain_list(request):
        domains = request.api.domains()          # what the key may see, nothing else
        ...

The decorator (in this order): answers 405 for other methods; reads
``Authorization: Bearer tm_<prefix>_<secret>`` and answers 401 for a missing, unknown, revoked
or expired key, a personal key whose account no longer has API access, and a caller outside the
key's allowed networks; 429 (Retry-After) past the key's rate; 403 for a write with a read-only
key. Then it stamps "last used", sets ``request.api`` (an ApiPrincipal) and calls the view,
turning ValidationError (400), Http404 (404) and PermissionDenied (403) into the JSON error
shape of api/errors.py. Session cookies are ignored and CSRF does not apply: a Bearer header
is not something a browser sends on its own.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence
from functools import wraps
from typing import cast

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from api import errors, ratelimit
from api.keys import parse_key, secret_matches
from api.models import ApiKey
from api.principal import ApiPrincipal, ApiRequest
from api.services import api_key_mark_used
from mailboxes.models import MailboxState
from security import clock
from security.audit import Actor
from tempusmail.client_ip import client_ip

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
INVALID_KEY = "The API key is missing or not valid."


def _bearer(request: HttpRequest) -> str | None:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def _find_key(text: str) -> ApiKey | None:
    parsed = parse_key(text)
    if parsed is None:
        return None
    key = (
        ApiKey.objects.select_related("organization", "mailbox", "mailbox__domain", "created_by")
        .filter(prefix=parsed.prefix)
        .first()
    )
    if key is None or not secret_matches(parsed.secret, key.secret_hash):
        return None
    return key


def _in_networks(address: str | None, networks: list[str]) -> bool:
    if not networks:
        return True
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(net, strict=False) for net in networks)


def _refusal(key: ApiKey, address: str | None) -> str | None:
    """Why a genuine key may not be used now (None: it may)."""
    if key.revoked_at is not None:
        return "This API key was revoked."
    if key.expires_at is not None and key.expires_at <= clock.now():
        return "This API key has expired."
    mailbox = key.mailbox
    if mailbox is not None and not (mailbox.api_access and mailbox.state == MailboxState.ACTIVE):
        return "API access is off for this key's account."
    if not _in_networks(address, key.allowed_networks):
        return "This API key may not be used from this address."
    return None


def authenticate(request: HttpRequest) -> ApiPrincipal | HttpResponse:
    """The caller's principal, or the 401/429 answer. Exposed for tests and for endpoints
    that need a principal outside the decorator (none yet)."""
    text = _bearer(request)
    key = _find_key(text) if text else None
    if key is None:
        return errors.unauthorized(INVALID_KEY)
    address = client_ip(request)
    refusal = _refusal(key, address)
    if refusal is not None:
        return errors.unauthorized(refusal)
    verdict = ratelimit.check(key.prefix)
    if not verdict.allowed:
        return errors.api_error(
            429,
            "rate_limited",
            "Too many requests with this API key; try again later.",
            headers={"Retry-After": str(verdict.retry_after)},
        )
    api_key_mark_used(key=key, ip_address=address)
    actor = Actor(label=f"api:{key.name}", user=key.created_by, ip_address=address, via_api=True)
    return ApiPrincipal(key=key, actor=actor)


def api_endpoint(
    *, methods: Sequence[str], write: bool | None = None
) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """Make a view an API endpoint. write: whether the view changes something (read-only
    keys get 403); by default every method but GET/HEAD/OPTIONS is a write."""
    allowed = [m.upper() for m in methods]

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
            if request.method not in allowed:
                return errors.api_error(
                    405,
                    "method_not_allowed",
                    f"Use {', '.join(allowed)}.",
                    headers={"Allow": ", ".join(allowed)},
                )
            principal = authenticate(request)
            if isinstance(principal, HttpResponse):
                return principal
            is_write = write if write is not None else request.method not in SAFE_METHODS
            if is_write and principal.read_only:
                return errors.forbidden("This API key is read-only.")
            api_request = cast(ApiRequest, request)  # the same object, now with its caller
            api_request.api = principal
            try:
                return view(api_request, *args, **kwargs)
            except ValidationError as exc:
                return errors.validation_error(exc)
            except Http404 as exc:
                return errors.not_found(str(exc) or "Not found.")
            except PermissionDenied as exc:
                return errors.forbidden(str(exc) or "Not allowed with this API key.")

        return csrf_exempt(never_cache(wrapper))

    return decorate
