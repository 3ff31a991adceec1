"""An admin's own panel password. (Mailbox owners change their mailbox password at /me/.)"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import PasswordChangeForm
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.debug import sensitive_post_parameters

from organizations.access import mailbox_of_owner
from security.audit import Actor
from security.services import panel_password_change
from tempusmail.http import AuthenticatedRequest


@sensitive_post_parameters()
@login_required
def password_change(request: AuthenticatedRequest) -> HttpResponse:
    if mailbox_of_owner(request.user) is not None:
        return redirect("owner_password_change")
    form = PasswordChangeForm(request.user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        panel_password_change(
            actor=Actor.for_request(request),
            user=request.user,
            password=form.cleaned_data["new_password1"],
        )
        update_session_auth_hash(request, request.user)  # this session goes on, the others end
        messages.success(request, "Your panel password is changed.")
        return redirect("home")
    return render(request, "security/password_change.html", {"form": form})
