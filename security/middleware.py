"""Two-factor login on every request, after the owners' middleware.

- A session of an enrolled user that never gave a code (it began before enrolment, or through
  a back door) ends: the login asks for the code.
- A forced policy whose grace period is over leaves nothing reachable but enrolment, the
  owners' forced password change, and logout, until the user is enrolled. During the grace
  period nothing is blocked (the login itself sends the user to enrolment).
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import logout
from django.shortcuts import redirect
from django.urls import reverse

from security.policy import grace_of, grace_started_at, two_factor_policy
from security.twofactor import is_enrolled

_REACHABLE_AFTER_GRACE = ("two_factor_enrol", "owner_password_change", "logout")


class TwoFactorPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self._reachable: tuple[str, ...] | None = None

    def __call__(self, request):
        if request.user.is_authenticated and not request.user.is_verified():
            response = self._check(request)
            if response is not None:
                return response
        return self.get_response(request)

    def _check(self, request):
        user = request.user
        if is_enrolled(user):
            logout(request)
            messages.info(request, "Please log in again with your two-factor code.")
            return redirect("login")
        if self._reachable is None:
            self._reachable = tuple(reverse(name) for name in _REACHABLE_AFTER_GRACE)
        if request.path in self._reachable:
            return None
        # One query when no grace period is running (the common case: no policy applies).
        started = grace_started_at(user)
        if started is None:
            return None
        policy = two_factor_policy(user)  # it may have been lifted since the login
        grace = grace_of(user, policy, started) if policy.required else None
        if grace is not None and grace.over:
            return redirect("two_factor_enrol")
        return None
