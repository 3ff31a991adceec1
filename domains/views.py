from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Count, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from domains.forms import DomainActivateForm
from domains.services import domain_create
from organizations.access import (
    can_change_organization,
    domains_for,
    get_domain_for_request,
    get_organization_for_request,
    sees_whole_organization,
)
from provisioning.advice import START_SERVERS, node_advice
from provisioning.tls_summary import tls_summary
from security.audit import Actor
from tempusmail.forms import add_service_errors


@login_required
def domain_list(request: HttpRequest, organization_id: int) -> HttpResponse:
    organization = get_organization_for_request(request, organization_id)
    domains = (
        domains_for(request.user)
        .filter(organization=organization)
        .annotate(
            account_count=Count("mailboxes"),
            allocated=Sum("mailboxes__quota_bytes"),
            used=Sum("mailboxes__usage__storage_bytes"),
        )
        .order_by("name")
    )
    return render(
        request,
        "domains/domain_list.html",
        {
            "organization": organization,
            "domains": domains,
            "can_add": can_change_organization(request.user, organization),
            # Organization-wide pages (API keys) are not for domain admins.
            "sees_organization": sees_whole_organization(request.user, organization),
        },
    )


@login_required
def domain_activate(request: HttpRequest, organization_id: int) -> HttpResponse:
    organization = get_organization_for_request(request, organization_id, write=True)
    form = DomainActivateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            domain = domain_create(
                actor=Actor.for_request(request),
                name=form.cleaned_data["name"],
                organization=organization,
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, f"The domain {domain.display_name} is active.")
            return redirect("mailbox_list", domain_id=domain.pk)
    return render(
        request, "domains/domain_activate.html", {"organization": organization, "form": form}
    )


@login_required
def domain_provisioning(request: HttpRequest, domain_id: int) -> HttpResponse:
    domain = get_domain_for_request(request, domain_id)
    context = {
        "domain": domain,
        "tab": "provisioning",
        "advice": node_advice(domain),
        "start_servers": START_SERVERS,
        "tls": tls_summary(domain.node, domain.name),
    }
    return render(request, "domains/domain_provisioning.html", context)
