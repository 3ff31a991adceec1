"""The re-authentication page (security/reauth.py): password, and code when enrolled."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters

from security import reauth
from security.forms import DisableForm
from security.twofactor import is_enrolled
from tempusmail.http import AuthenticatedRequest


class ReauthForm(DisableForm):
    """Your password, and (only when enrolled) a code: the same fields as switching 2FA off."""

    def __init__(self, *args, enrolled: bool, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["password"].widget.attrs["autofocus"] = "autofocus"
        if not enrolled:
            del self.fields["code"]


@sensitive_post_parameters("password", "code")
@never_cache
@login_required
def reauth_view(request: AuthenticatedRequest) -> HttpResponse:
    enrolled = is_enrolled(request.user)
    form = ReauthForm(request.POST or None, enrolled=enrolled)
    pending = reauth.pending(request)
    if request.method == "POST" and form.is_valid():
        errors = reauth.confirm(
            request,
            password=form.cleaned_data["password"],
            code=form.cleaned_data.get("code", ""),
        )
        for field, message in errors.items():
            form.add_error(field or None, message)
        if not errors:
            pending = reauth.take_pending(request)
            if pending is None:
                messages.success(request, "Confirmed. You can go on for a few minutes.")
                return redirect("home")
            # The kept POST, to send again with one click (a new CSRF token comes with it).
            return render(request, "security/reauth_continue.html", {"pending": pending})
    status = 429 if any("Too many" in e for e in form.non_field_errors()) else 200
    context = {
        "form": form,
        "pending": pending,
        "minutes": settings.REAUTH_WINDOW_MINUTES,
    }
    return render(request, "security/reauth.html", context, status=status)
