"""The company address book, read-only: for the owner (their own organization, from the
session) and for the organization's admins (scoped through organizations.access)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from mailboxes.models import Mailbox
from organizations.access import (
    get_organization_for_request,
    mailbox_of_owner,
    mailboxes_for,
    sees_whole_organization,
)
from organizations.models import Organization
from webmail_settings.addressbook import address_book, vcards

PAGE_SIZE = 50
QUERY_MAX = 200


def _query(request: HttpRequest) -> str:
    return request.GET.get("q", "")[:QUERY_MAX].strip()


def _owner_scope(request: HttpRequest) -> Organization:
    mailbox = mailbox_of_owner(request.user)
    if mailbox is None:
        raise Http404("Only mailbox owners have this page.")
    return mailbox.domain.organization


def _page(
    request: HttpRequest,
    organization: Organization,
    entries: QuerySet[Mailbox],
    *,
    export_url: str,
    owner: bool,
) -> HttpResponse:
    page_obj = Paginator(entries, PAGE_SIZE).get_page(request.GET.get("page"))
    query = _query(request)
    return render(
        request,
        "webmail_settings/addressbook.html",
        {
            "organization": organization,
            "page_obj": page_obj,
            "query": query,
            "export_url": export_url + (f"?{request.GET.urlencode()}" if query else ""),
            "owner": owner,
            "whole_organization": owner or sees_whole_organization(request.user, organization),
        },
    )


def _vcard_response(
    organization: Organization, entries: QuerySet[Mailbox]
) -> StreamingHttpResponse:
    # Streamed: an organization may list thousands of accounts.
    response = StreamingHttpResponse(
        vcards(entries.iterator(chunk_size=500), organization.name),
        content_type="text/vcard; charset=utf-8",
    )
    response["Content-Disposition"] = 'attachment; filename="address-book.vcf"'
    return response


@login_required
@require_GET
def owner_address_book(request: HttpRequest) -> HttpResponse:
    organization = _owner_scope(request)
    entries = address_book(organization, query=_query(request))
    return _page(
        request, organization, entries, export_url=reverse("owner_address_book_vcard"), owner=True
    )


@login_required
@require_GET
def owner_address_book_vcard(request: HttpRequest) -> StreamingHttpResponse:
    organization = _owner_scope(request)
    return _vcard_response(organization, address_book(organization, query=_query(request)))


def _admin_entries(request: HttpRequest, organization: Organization) -> QuerySet[Mailbox]:
    # A domain admin sees the accounts of their own domains only, as everywhere else.
    return address_book(organization, within=mailboxes_for(request.user), query=_query(request))


@login_required
@require_GET
def organization_address_book(request: HttpRequest, organization_id: int) -> HttpResponse:
    organization = get_organization_for_request(request, organization_id)
    export_url = reverse("organization_address_book_vcard", args=[organization.pk])
    entries = _admin_entries(request, organization)
    return _page(request, organization, entries, export_url=export_url, owner=False)


@login_required
@require_GET
def organization_address_book_vcard(
    request: HttpRequest, organization_id: int
) -> StreamingHttpResponse:
    organization = get_organization_for_request(request, organization_id)
    return _vcard_response(organization, _admin_entries(request, organization))
