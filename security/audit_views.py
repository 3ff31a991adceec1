"""The audit pages: per organization, per domain, per account, and all events for staff.

Each page resolves its scope through organizations.access (another tenant's object and a
mailbox owner get 404, like a missing one); reading needs no write role, so read-only
members read the audit of what they can see. Filters come from the query string and change
nothing, so every page is a GET.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from organizations.access import (
    can_change_domain,
    get_domain_for_request,
    get_mailbox_for_request,
    get_organization_for_request,
    is_provider_staff,
)
from security.audit_display import change_rows
from security.audit_forms import AuditFilterForm
from security.audit_selectors import (
    all_events,
    events_for_domain,
    events_for_mailbox,
    events_for_organization,
    filtered,
    page_of,
)
from security.models import AuditEvent


def _audit_page(
    request: HttpRequest,
    events: QuerySet[AuditEvent],
    template: str,
    context: dict[str, Any],
) -> HttpResponse:
    form = AuditFilterForm(request.GET)
    page = None
    if form.is_valid():  # else the page shows the errors next to the filters, and no events
        page = page_of(
            filtered(events, form.filters()),
            before=request.GET.get("before", "")[:64],
            after=request.GET.get("after", "")[:64],
        )
    rows = [(event, change_rows(event)) for event in page.events] if page else []
    paged = bool(request.GET.get("before") or request.GET.get("after"))
    return render(
        request,
        template,
        {**context, "form": form, "page": page, "rows": rows, "paged": paged},
    )


@login_required
@require_GET
def organization_audit(request: HttpRequest, organization_id: int) -> HttpResponse:
    organization = get_organization_for_request(request, organization_id)
    return _audit_page(
        request,
        events_for_organization(request.user, organization),
        "security/audit_organization.html",
        {"organization": organization},
    )


@login_required
@require_GET
def domain_audit(request: HttpRequest, domain_id: int) -> HttpResponse:
    domain = get_domain_for_request(request, domain_id)
    return _audit_page(
        request,
        events_for_domain(domain),
        "security/audit_domain.html",
        {"domain": domain, "tab": "audit"},
    )


@login_required
@require_GET
def mailbox_audit(request: HttpRequest, mailbox_id: int) -> HttpResponse:
    mailbox = get_mailbox_for_request(request, mailbox_id)
    return _audit_page(
        request,
        events_for_mailbox(mailbox),
        "security/audit_mailbox.html",
        {
            "mailbox": mailbox,
            "domain": mailbox.domain,
            "tab": "audit",
            "can_change": can_change_domain(request.user, mailbox.domain),
        },
    )


@login_required
@require_GET
def all_audit(request: HttpRequest) -> HttpResponse:
    """Every event of every tenant: provider staff only (anyone else: 404, like a missing page)."""
    if not is_provider_staff(request.user):
        raise Http404("No such page.")
    return _audit_page(request, all_events(), "security/audit_all.html", {})
