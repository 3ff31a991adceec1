"""The panel's login, for admins (user name) and mailbox owners (address) alike.

Step 1 checks the password (both authentication backends). A user with a confirmed
authenticator then gives a code (step 2): the session holds only who is pending, for
LOGIN_CODE_TIMEOUT_SECONDS. Both steps go through the login throttle (security/throttle.py).
After a complete login, a forced two-factor policy sends the user to enrolment.
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlencode

import django_otp
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth import login as auth_login
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters

from security import clock, throttle
from security.forms import LoginCodeForm
from security.policy import two_factor_policy
from security.services import two_factor_note_login
from security.twofactor import is_enrolled, verify_code

PENDING = "security.login_pending"


def safe_next(request: HttpRequest, value: str | None) -> str:
    """Where to go after login: the given local URL, else the home page. Only a path: redirect()
    would take any other word for a view's name (and fail on it)."""
    if (
        value
        and value.startswith("/")
        and url_has_allowed_host_and_scheme(
            value, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        )
    ):
        return value
    return resolve_url(settings.LOGIN_REDIRECT_URL)


def _render_login(
    request: HttpRequest, form: AuthenticationForm, next_url: str, refusal=None
) -> HttpResponse:
    context = {"form": form, "next": next_url, "refusal": refusal.message if refusal else ""}
    return render(
        request, "registration/login.html", context, status=429 if refusal is not None else 200
    )


@sensitive_post_parameters("password")
@csrf_protect
@never_cache
def login_view(request: HttpRequest) -> HttpResponse:
    next_url = safe_next(request, request.POST.get("next") or request.GET.get("next"))
    if request.user.is_authenticated:
        return redirect(next_url)
    if request.method != "POST":
        return _render_login(request, AuthenticationForm(request), next_url)

    form = AuthenticationForm(request, data=request.POST)
    keys = throttle.keys_for(request, request.POST.get("username", ""))
    attempt = throttle.begin(keys)
    if isinstance(attempt, throttle.Refusal):
        return _render_login(request, AuthenticationForm(request), next_url, attempt)
    if not form.is_valid():
        refusal = throttle.failed(attempt, request)
        return _render_login(request, form, next_url, refusal)
    throttle.passed(attempt)
    user = form.get_user()
    if is_enrolled(user):
        request.session.cycle_key()
        request.session[PENDING] = {
            "user": user.pk,
            "backend": user.backend,
            "account": keys[0],
            "next": next_url,
            "since": clock.now().timestamp(),
        }
        return redirect("login_code")
    return complete_login(request, user, user.backend, next_url, device=None)


def _pending(request: HttpRequest) -> dict | None:
    """The login waiting for its code, or None (and forgotten) when it is missing or old."""
    pending = request.session.get(PENDING)
    if pending is None:
        return None
    age = clock.now() - datetime.fromtimestamp(pending["since"], tz=UTC)
    if age.total_seconds() > settings.LOGIN_CODE_TIMEOUT_SECONDS:
        del request.session[PENDING]
        messages.error(request, "That took too long. Please log in again.")
        return None
    return pending


@sensitive_post_parameters("code")
@csrf_protect
@never_cache
def login_code(request: HttpRequest) -> HttpResponse:
    pending = _pending(request)
    users = get_user_model().objects.filter(is_active=True)
    user = users.filter(pk=pending["user"]).first() if pending else None
    if pending is None or user is None:
        request.session.pop(PENDING, None)
        return redirect("login")
    form = LoginCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        attempt = throttle.begin((pending["account"], throttle.ip_key(request)))
        if isinstance(attempt, throttle.Refusal):
            del request.session[PENDING]
            return _render_login(request, AuthenticationForm(request), pending["next"], attempt)
        device = verify_code(user, form.cleaned_data["code"])
        if device is not None:
            throttle.passed(attempt)
            del request.session[PENDING]
            return complete_login(request, user, pending["backend"], pending["next"], device)
        refusal = throttle.failed(attempt, request)
        if refusal is not None:
            del request.session[PENDING]
            return _render_login(request, AuthenticationForm(request), pending["next"], refusal)
        form.add_error("code", "That code is not right (or was already used). Try again.")
    return render(request, "security/login_code.html", {"form": form})


def complete_login(request: HttpRequest, user, backend: str, next_url: str, device) -> HttpResponse:
    auth_login(request, user, backend=backend)
    if device is not None:
        django_otp.login(request, device)  # this session has given its second factor
    policy = two_factor_policy(user)
    two_factor_note_login(user=user, policy=policy)
    if policy.required and device is None:
        return redirect(f"{reverse('two_factor_enrol')}?{urlencode({'next': next_url})}")
    return redirect(next_url)


def admin_login(request: HttpRequest) -> HttpResponse:
    """The Django admin's own login form would skip the code and the throttle: send it here."""
    if request.user.is_authenticated:
        return redirect("home")  # logged in but not staff: the admin has nothing for them
    query = urlencode({"next": request.GET["next"]}) if "next" in request.GET else ""
    return redirect(f"{reverse('login')}?{query}" if query else reverse("login"))
