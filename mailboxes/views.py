from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from mailboxes.models import Mailbox
from mailboxes.selectors import SORTS, STATUS_FILTERS, MailboxListRows
from mailboxes.sending import sent_for_mailboxes, unavailable_note
from organizations.access import can_change_domain, get_domain_for_request

PAGE_SIZE = 50


@login_required
def mailbox_list_view(request: HttpRequest, domain_id: int) -> HttpResponse:
    domain = get_domain_for_request(request, domain_id)
    query = request.GET.get("q", "")[:200]
    status = request.GET.get("status", "")
    status = status if status in STATUS_FILTERS else ""
    sort = request.GET.get("sort", "address")
    sort = sort if sort.lstrip("-") in SORTS else "address"
    rows = MailboxListRows(domain, query=query, status=status, sort=sort)
    # django-stubs wants an iterable; Django's Paginator only counts and slices, all rows has.
    page: Paginator[Mailbox] = Paginator(rows, PAGE_SIZE)  # type: ignore[arg-type]
    page_obj = page.get_page(request.GET.get("page"))
    # Live from the policy service's counters (the sort uses the periodically stored copy).
    sent = sent_for_mailboxes(page_obj.object_list, domain)
    return render(
        request,
        "mailboxes/mailbox_list.html",
        {
            "domain": domain,
            "tab": "accounts",
            "page_obj": page_obj,
            "rows": [(m, sent.get(m.pk) if sent else None) for m in page_obj.object_list],
            "sent_unavailable": unavailable_note(domain.node) if sent is None else "",
            "query": query,
            "status": status,
            "sort": sort,
            "columns": [
                ("status", "Status"),
                ("address", "Address"),
                ("storage", "Storage used"),
                ("last_access", "Last access"),
                ("sent", "Sent in 24 h"),
            ],
            "status_filters": STATUS_FILTERS,
            "can_change": can_change_domain(request.user, domain),
        },
    )
