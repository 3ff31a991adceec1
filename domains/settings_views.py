"""The domain's Settings tab: defaults for new accounts and the catch-all target."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from domains.forms import DomainSettingsForm
from domains.services import domain_update_settings
from mailboxes.rules import DOMAIN_LIMIT_FIELDS
from organizations.access import can_change_domain, get_domain_for_request
from security.audit import Actor
from tempusmail.forms import add_service_errors

# How the form is laid out on the page: (heading, note, field names).
SECTIONS = [
    ("Defaults for new accounts",
     "Used when an account is created; existing accounts keep their own settings.",
     ["default_quota_bytes", "default_language", "default_time_zone"]),
    ("Webmail",
     "How webmail shows dates and times for accounts that have not chosen their own.",
     ["default_date_format", "default_time_format"]),
    ("Sending limits",
     "Apply now to every account of the domain that has no limit of its own.",
     list(DOMAIN_LIMIT_FIELDS)),
    ("Password policy", "", ["password_min_length", "password_expiry_days"]),
    ("Two-factor authentication", "", ["force_2fa"]),
    ("Company address book",
     "Applies now to every account of the domain that has not saved its own choice.",
     ["default_address_book_visible"]),
    ("Catch-all", "", ["catchall_target"]),
]  # fmt: skip


@login_required
def domain_settings(request: HttpRequest, domain_id: int) -> HttpResponse:
    writing = request.method == "POST"
    domain = get_domain_for_request(request, domain_id, write=writing)
    can_change = writing or can_change_domain(request.user, domain)
    form = DomainSettingsForm(request.POST if writing else None, domain=domain)
    if not can_change:
        for field in form.fields.values():
            field.disabled = True
    if writing and form.is_valid():
        try:
            domain_update_settings(
                actor=Actor.for_request(request), domain=domain, changes=form.cleaned_data
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, f"The settings of {domain.display_name} are saved.")
            return redirect("domain_settings", domain_id=domain.pk)
    sections = [(title, note, [form[name] for name in names]) for title, note, names in SECTIONS]
    return render(
        request,
        "domains/domain_settings.html",
        {
            "domain": domain,
            "tab": "settings",
            "form": form,
            "sections": sections,
            "can_change": can_change,
        },
    )
