"""Keeps an owner's session in step with their mailbox, on every request.

A deactivated (or deleted) mailbox ends its owner's session at the next click, and an owner
whose password must be changed (forced by an admin, or expired) reaches nothing but the
password change page until they have changed it.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import logout
from django.shortcuts import redirect
from django.urls import reverse

from owners.backends import may_log_in
from owners.models import Owner
from owners.permissions import must_change_password
from owners.sessions import password_changed_since

_ALWAYS_REACHABLE = ("owner_password_change", "logout")


class OwnerSessionMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self._reachable: tuple[str, ...] | None = None

    def __call__(self, request):
        if request.user.is_authenticated:
            response = self._check(request)
            if response is not None:
                return response
        return self.get_response(request)

    def _check(self, request):
        owner = Owner.objects.filter(user=request.user).select_related("mailbox__domain").first()
        if owner is None:
            return None  # an admin
        request.user.owner = owner  # cached with its mailbox: base.html names the address
        mailbox = owner.mailbox
        if mailbox is None or not may_log_in(mailbox, request):
            logout(request)
            messages.error(request, "Your session has ended: this account cannot log in now.")
            return redirect("login")
        if password_changed_since(request, mailbox):
            logout(request)
            messages.error(request, "Your password was changed: log in with the new one.")
            return redirect("login")
        if must_change_password(mailbox):
            if self._reachable is None:
                self._reachable = tuple(reverse(name) for name in _ALWAYS_REACHABLE)
            if request.path not in self._reachable:
                return redirect("owner_password_change")
        return None
