"""The password guard's staff page (issue 27): current bans, the clients with the most failed
logins on each node today, and banning and unbanning an address (audited, through
provisioning/login_guard.py). A 404 for everyone but provider staff, like a missing page."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from domains.models import Domain
from organizations.access import is_provider_staff
from organizations.models import Organization
from provisioning import login_guard
from provisioning.models import MailNode
from security.audit import Actor
from tempusmail.forms import add_service_errors


class BanForm(forms.Form):
    address = forms.CharField(label="Address", max_length=64,
                              help_text="An IPv4 address, or an IPv6 address or /64.")  # fmt: skip
    minutes = forms.IntegerField(label="Minutes", initial=60, min_value=1,
                                 max_value=login_guard.MAX_BAN_MINUTES)  # fmt: skip
    reason = forms.CharField(label="Reason", required=False, max_length=login_guard.MAX_REASON)


def _staff_only(request: HttpRequest) -> None:
    if not is_provider_staff(request.user):
        raise Http404("No such page.")


@login_required
@require_http_methods(["GET", "POST"])
def staff_guard(request: HttpRequest) -> HttpResponse:
    _staff_only(request)
    form = BanForm(request.POST if request.method == "POST" else None)
    if form.is_valid():
        try:
            row = login_guard.ban(actor=Actor.for_request(request), **form.cleaned_data)
        except ValidationError as exc:
            add_service_errors(form, exc)
        except login_guard.GuardUnavailable as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Banned {row.address} on every mail server.")
            return redirect("staff_guard")
    context = {"form": form, **_overview(), **_organization(request)}
    return render(request, "provisioning/staff_guard.html", context)


@login_required
@require_POST
def staff_guard_unban(request: HttpRequest) -> HttpResponse:
    _staff_only(request)
    address = request.POST.get("address", "")
    try:
        login_guard.unban(actor=Actor.for_request(request), address=address)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    except login_guard.GuardUnavailable as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Unbanned {address.strip()}: it may log in at once.")
    return redirect("staff_guard")


def _organization(request: HttpRequest) -> dict[str, Any]:
    """The chosen organization's worst clients (?organization=<id>), and the choices."""
    organizations = Organization.objects.order_by("name").only("pk", "name")
    chosen = organizations.filter(pk=request.GET.get("organization") or 0).first() if (
        request.GET.get("organization", "").isdigit()) else None  # fmt: skip
    worst: list[tuple[str, int]] = []
    if chosen is not None:
        names = list(Domain.objects.filter(organization=chosen).values_list("name", flat=True))
        try:
            worst = login_guard.worst_clients_of_domains(names)
        except login_guard.GuardUnavailable:
            worst = []
    return {"organizations": organizations, "chosen": chosen, "org_worst": worst}


def _overview() -> dict[str, Any]:
    try:
        bans = login_guard.current_bans()
        worst = [(node, login_guard.worst_clients(node.name)) for node in MailNode.objects.all()]
    except login_guard.GuardUnavailable as exc:
        return {"unavailable": str(exc), "bans": [], "worst": []}
    return {"unavailable": "", "bans": bans, "worst": worst}
