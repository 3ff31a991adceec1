"""The owner's own pages. The mailbox always comes from the session (mailbox_of_owner): an
owner has no URL that names another account."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_http_methods

from mailboxes.account_forms import AccountForm, AutoresponderForm, ForwardingForm
from mailboxes.models import Mailbox
from mailboxes.passwords import expiry_warning
from mailboxes.sending import UNAVAILABLE, sent_for_mailboxes
from mailboxes.services import mailbox_update
from organizations.access import mailbox_of_owner
from owners.forms import OwnerWebmailForm, PasswordChangeForm
from owners.permissions import (
    FORWARDING_FIELDS,
    FORWARDING_MANAGED,
    PASSWORD_MANAGED,
    may_change_password,
    may_forward,
    must_change_password,
)
from owners.services import owner_change_password
from owners.sessions import remember_password
from provisioning.login_guard import failed_logins_or_none
from security import clock
from security.audit import Actor
from tempusmail.forms import add_service_errors
from webmail_settings.selectors import preferences_or_new
from webmail_settings.services import preferences_update

SAVED = "Saved. The mail servers follow in a moment."


def _own_mailbox(request: HttpRequest):
    mailbox = mailbox_of_owner(request.user)
    if mailbox is None:
        raise Http404("Only mailbox owners have this page.")
    return mailbox


@login_required
def owner_home(request: HttpRequest) -> HttpResponse:
    mailbox = _own_mailbox(request)
    counts = sent_for_mailboxes([mailbox], mailbox.domain)
    context = {
        "mailbox": mailbox,
        "expiry_warning": expiry_warning(mailbox, clock.now()),
        "sent": counts[mailbox.pk] if counts else None,
        "sent_unavailable": UNAVAILABLE,
        "failed_logins": failed_logins_or_none(mailbox.address),
    }
    return render(request, "owners/home.html", context)


def _settings_page(
    request: HttpRequest,
    page: str,
    make_form: Callable[..., AccountForm],
    save: Callable[..., object] = mailbox_update,
) -> HttpResponse:
    """The owner's side of an account tab: the admin's form (same validation), one service
    call with the owner as actor, POST/redirect/GET back to the same page."""
    mailbox = _own_mailbox(request)
    data = request.POST if request.method == "POST" else None
    form = make_form(data, mailbox=mailbox)
    if data is not None and form.is_valid():
        try:
            save(actor=Actor.for_request(request), mailbox=mailbox, changes=form.changes())
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, SAVED)
            return redirect(f"owner_{page}")
    context = {
        "mailbox": mailbox,
        "form": form,
        "may_forward": may_forward(mailbox),
        "forwarding_managed": FORWARDING_MANAGED,
    }
    return render(request, f"owners/{page}.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def owner_autoresponder(request: HttpRequest) -> HttpResponse:
    return _settings_page(request, "autoresponder", AutoresponderForm)


@login_required
@require_http_methods(["GET", "POST"])
def owner_forwarding(request: HttpRequest) -> HttpResponse:
    def make_form(data: Any, *, mailbox: Mailbox) -> ForwardingForm:
        form = ForwardingForm(data, mailbox=mailbox)
        if not may_forward(mailbox):
            # Disabled fields keep their stored values whatever is posted.
            for name in FORWARDING_FIELDS:
                form.fields[name].disabled = True
        return form

    return _settings_page(request, "forwarding", make_form)


@login_required
@require_http_methods(["GET", "POST"])
def owner_webmail(request: HttpRequest) -> HttpResponse:
    def make_form(data: Any, *, mailbox: Mailbox) -> OwnerWebmailForm:
        # Not created on a GET: the domain's defaults stand until the owner saves.
        preferences = preferences_or_new(mailbox)
        return OwnerWebmailForm(data, mailbox=mailbox, preferences=preferences)

    return _settings_page(request, "webmail", make_form, preferences_update)


@sensitive_variables()
@sensitive_post_parameters("current_password", "new_password", "new_password_again")
@login_required
def owner_password_change(request: HttpRequest) -> HttpResponse:
    mailbox = _own_mailbox(request)
    forced = must_change_password(mailbox)
    form = PasswordChangeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            owner_change_password(
                actor=Actor.for_request(request),
                mailbox=mailbox,
                current=form.cleaned_data["current_password"],
                new=form.cleaned_data["new_password"],
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            remember_password(request, mailbox)  # this session goes on; the others end
            messages.success(
                request, "Password changed. Your mail apps need the new password from now on."
            )
            return redirect("owner_home")
    context = {
        "form": form,
        "mailbox": mailbox,
        "forced": forced,
        "allowed": may_change_password(mailbox),
        "managed": PASSWORD_MANAGED,
    }
    return render(request, "owners/password_change.html", context)
