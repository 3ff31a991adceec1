"""The owner's own pages. The mailbox always comes from the session (mailbox_of_owner): an
owner has no URL that names another account."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables

from mailboxes.passwords import expiry_warning
from organizations.access import mailbox_of_owner
from owners.forms import PasswordChangeForm
from owners.middleware import must_change_password
from owners.services import owner_change_password
from owners.sessions import remember_password
from security import clock
from security.audit import Actor
from tempusmail.forms import add_service_errors


def _own_mailbox(request: HttpRequest):
    mailbox = mailbox_of_owner(request.user)
    if mailbox is None:
        raise Http404("Only mailbox owners have this page.")
    return mailbox


@login_required
def owner_home(request: HttpRequest) -> HttpResponse:
    mailbox = _own_mailbox(request)
    context = {"mailbox": mailbox, "expiry_warning": expiry_warning(mailbox, clock.now())}
    return render(request, "owners/home.html", context)


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
    return render(
        request, "owners/password_change.html", {"form": form, "mailbox": mailbox, "forced": forced}
    )
