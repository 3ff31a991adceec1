from __future__ import annotations

from django.contrib.admin.views.decorators import staff_member_required
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from domains.models import Domain
from mailboxes.models import Mailbox

PAGE = 200


@staff_member_required
def overview(request: HttpRequest) -> HttpResponse:
    """Provider staff's view of the loop: each domain's sync state and its first accounts.

    (Tenant-scoped pages for organization and domain admins arrive with the panel issue.)
    """
    domains = Domain.objects.select_related("organization", "node").annotate(
        account_count=Count("mailboxes")
    )
    mailboxes = Mailbox.objects.select_related("domain").order_by("domain__name", "local_part")[
        :PAGE
    ]
    return render(
        request, "domains/overview.html", {"domains": domains, "mailboxes": mailboxes, "page": PAGE}
    )
