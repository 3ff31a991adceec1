from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from organizations.access import mailbox_of_owner, organizations_for


@login_required
def home(request: HttpRequest) -> HttpResponse:
    if mailbox_of_owner(request.user) is not None:
        return redirect("owner_home")
    organizations = list(organizations_for(request.user)[:2])
    if len(organizations) == 1:
        return redirect("domain_list", organization_id=organizations[0].pk)
    return redirect("organization_list")


@login_required
def organization_list(request: HttpRequest) -> HttpResponse:
    organizations = (
        organizations_for(request.user)
        .select_related("plan")
        .annotate(domain_count=Count("domains", distinct=True))
        .order_by("name")
    )
    return render(request, "organizations/organization_list.html", {"organizations": organizations})
