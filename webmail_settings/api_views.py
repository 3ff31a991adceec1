"""The webmail integration endpoint: what a webmail front end (a Roundcube plugin, say) reads
at login to fill the owner's identities, signatures and preferences. See docs/webmail.md.

Two ways in: the owner's own panel session, or the webmail server's service key
(WEBMAIL_SERVICE_KEY, as "Authorization: Bearer <key>") naming the account with ?address=.
"""

from __future__ import annotations

import hmac

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from mailboxes.models import Mailbox, MailboxKind, MailboxState
from mailboxes.selectors import mailbox_by_address
from organizations.access import mailbox_of_owner
from webmail_settings.openapi import openapi_document
from webmail_settings.selectors import webmail_profile


def _error(status: int, message: str) -> JsonResponse:
    response = JsonResponse({"error": message}, status=status)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="webmail"'
    return response


def _bearer_key(request: HttpRequest) -> str | None:
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    return key.strip() if scheme.lower() == "bearer" and key.strip() else None


def _valid_service_key(key: str) -> bool:
    expected = settings.WEBMAIL_SERVICE_KEY
    # No key configured: the service-key way in is closed (never "empty matches empty").
    return bool(expected) and hmac.compare_digest(key.encode(), expected.encode())


def _servable(mailbox: Mailbox) -> bool:
    # The account must be one that can use webmail at all; its owner's IP restrictions are
    # for the webmail's own login, which happens before this call.
    return (
        mailbox.state == MailboxState.ACTIVE
        and mailbox.kind == MailboxKind.PERSON
        and mailbox.domain.is_active
        and mailbox.webmail_enabled
    )


@never_cache
@require_GET
def me(request: HttpRequest) -> JsonResponse:
    key = _bearer_key(request)
    if key is not None:
        if not _valid_service_key(key):
            return _error(401, "invalid service key")
        try:
            mailbox = mailbox_by_address(request.GET.get("address", ""))
        except ValidationError:
            return _error(404, "no such account")
        if not _servable(mailbox):
            return _error(404, "no such account")
        return JsonResponse(webmail_profile(mailbox))
    if not request.user.is_authenticated:
        return _error(401, "log in, or send the service key")
    owned = mailbox_of_owner(request.user)
    if owned is None:
        return _error(404, "only mailbox owners have webmail settings")
    return JsonResponse(webmail_profile(owned))


@require_GET
def openapi(request: HttpRequest) -> JsonResponse:
    return JsonResponse(openapi_document())
