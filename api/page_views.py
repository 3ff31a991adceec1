"""Pages to manage API keys: an organization's (its admins create and revoke, read-only
members see the list) and a mailbox owner's personal keys (/me/api-keys/, when the account has
API access). A new key is shown once, in the answer to the POST that made it: it is never kept
anywhere to be shown again (no redirect that would need it in the session)."""

from __future__ import annotations

from datetime import datetime
from typing import TypedDict

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from api.forms import OrganizationKeyForm, PersonalKeyForm
from api.models import ApiKey
from api.services import (
    NewKey,
    api_key_create,
    api_key_create_personal,
    api_key_revoke,
    end_of_day,
)
from mailboxes.models import Mailbox
from organizations.access import (
    can_change_organization,
    get_organization_for_request,
    mailbox_of_owner,
    sees_whole_organization,
)
from organizations.models import Organization
from security import reauth
from security.audit import Actor
from tempusmail.forms import add_service_errors


def _organization(request: HttpRequest, organization_id: int, *, write: bool) -> Organization:
    # Keys reach the whole organization: domain admins (who see only some domains) get 404.
    organization = get_organization_for_request(request, organization_id, write=write)
    if not sees_whole_organization(request.user, organization):
        raise Http404("No such organization.")
    return organization


class KeyOptions(TypedDict):
    """What both key forms pass on to api_key_create / api_key_create_personal."""

    name: str
    read_only: bool
    expires_at: datetime | None
    allowed_networks: str


def _key_options(form: PersonalKeyForm) -> KeyOptions:
    data = form.cleaned_data
    return {
        "name": data["name"],
        "read_only": data["read_only"],
        "expires_at": end_of_day(data["expires_on"]) if data["expires_on"] else None,
        "allowed_networks": data["allowed_networks"],
    }


def _shown_once(request: HttpRequest, template: str, context: dict, new: NewKey) -> HttpResponse:
    # The views are @never_cache: no browser or proxy keeps this answer.
    return render(request, template, {**context, "new_key": new})


@login_required
def organization_keys(request: HttpRequest, organization_id: int) -> HttpResponse:
    organization = _organization(request, organization_id, write=False)
    keys = (
        ApiKey.objects.filter(organization=organization)
        .select_related("mailbox", "mailbox__domain", "created_by")
        .prefetch_related("domains")
    )
    may_change = can_change_organization(request.user, organization)
    context = {"organization": organization, "keys": keys, "may_change": may_change}
    return render(request, "api/organization_keys.html", context)


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def organization_key_create(request: HttpRequest, organization_id: int) -> HttpResponse:
    organization = _organization(request, organization_id, write=True)
    form = OrganizationKeyForm(request.POST or None, organization=organization)
    context = {"organization": organization, "form": form}
    if request.method == "POST":
        needs = reauth.required(request, action="create an API key")
        if needs is not None:
            return needs
        if form.is_valid():
            try:
                new = api_key_create(
                    actor=Actor.for_request(request),
                    organization=organization,
                    domains=form.cleaned_data["domains"],
                    **_key_options(form),
                )
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                return _shown_once(request, "api/key_created.html", context, new)
    return render(request, "api/organization_key_new.html", context)


@login_required
@require_POST
def organization_key_revoke(
    request: HttpRequest, organization_id: int, key_id: int
) -> HttpResponse:
    organization = _organization(request, organization_id, write=True)
    key = get_object_or_404(ApiKey.objects.filter(organization=organization), pk=key_id)
    _revoke(request, key)
    return redirect("api_keys_organization", organization_id=organization.pk)


def _revoke(request: HttpRequest, key: ApiKey) -> None:
    # No re-authentication: revoking only ever takes access away, and must be quick when a
    # key has leaked.
    try:
        api_key_revoke(actor=Actor.for_request(request), key=key)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"The key “{key.name}” is revoked: it no longer works.")


# --- the owner's personal keys ------------------------------------------------------------


def _own_mailbox(request: HttpRequest) -> Mailbox:
    mailbox = mailbox_of_owner(request.user)
    if mailbox is None:
        raise Http404("Only mailbox owners have this page.")
    return mailbox


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def owner_keys(request: HttpRequest) -> HttpResponse:
    """The owner's keys and the form for a new one (POST creates it)."""
    mailbox = _own_mailbox(request)
    form = PersonalKeyForm(request.POST or None)
    keys = ApiKey.objects.personal_keys(mailbox)
    context = {"mailbox": mailbox, "form": form, "keys": keys}
    if request.method == "POST" and mailbox.api_access:
        needs = reauth.required(request, action="create an API key")
        if needs is not None:
            return needs
        if form.is_valid():
            try:
                new = api_key_create_personal(
                    actor=Actor.for_request(request), mailbox=mailbox, **_key_options(form)
                )
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                return _shown_once(request, "api/owner_keys.html", context, new)
    return render(request, "api/owner_keys.html", context)


@login_required
@require_POST
def owner_key_revoke(request: HttpRequest, personal_key_id: int) -> HttpResponse:
    mailbox = _own_mailbox(request)
    key = get_object_or_404(ApiKey.objects.personal_keys(mailbox), pk=personal_key_id)
    _revoke(request, key)
    return redirect("api_keys_owner")
