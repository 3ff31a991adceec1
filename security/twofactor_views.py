"""Two-factor pages: a user's own (status, enrolment, backup codes, switching off), an admin's
reset of someone else's, and an organization's policy. Admins and mailbox owners alike."""

from __future__ import annotations

import django_otp
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.text import capfirst
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST
from django_otp.plugins.otp_totp.models import TOTPDevice

from mailboxes.passwords import verify_password
from organizations.access import can_change_organization, mailbox_of_owner
from organizations.models import Role
from security import reauth, throttle
from security.access import (
    get_member_for_reset,
    get_organization_two_factor_page,
    get_owner_for_reset,
    members_writable_by,
)
from security.audit import Actor
from security.forms import DisableForm, EnrolForm, OrganizationPolicyForm
from security.login_views import safe_next
from security.policy import grace_of, two_factor_policy
from security.services import (
    organization_set_two_factor_policy,
    two_factor_backup_codes_regenerate,
    two_factor_disable,
    two_factor_enable,
    two_factor_reset,
)
from security.twofactor import (
    backup_codes_left,
    first_code_step,
    is_enrolled,
    login_name,
    manual_key,
    new_key,
    otpauth_url,
    qr_svg,
    verify_code,
)
from tempusmail.forms import add_service_errors
from tempusmail.http import AuthenticatedRequest

ENROL_KEY = "security.enrol_key"


def reauthentication_required(request: HttpRequest) -> HttpResponse | None:
    """THE hook for re-authentication before resetting someone's two-factor login
    (security/reauth.py): a response (to the re-authentication page) stops here, None goes on."""
    return reauth.required(request, action="reset a two-factor login")


# --- the user's own -------------------------------------------------------------------------


@login_required
def two_factor_status(request: AuthenticatedRequest) -> HttpResponse:
    return _status_page(request, DisableForm())


def _status_page(request: AuthenticatedRequest, disable_form: DisableForm, status: int = 200):
    user = request.user
    enrolled = is_enrolled(user)
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first() if enrolled else None
    context = {
        "enrolled": enrolled,
        "device": device,
        "codes_left": backup_codes_left(user) if enrolled else 0,
        "disable_form": disable_form,
        "policy": two_factor_policy(user),
        "organizations": _organizations_with_a_policy_page(user),
    }
    return render(request, "security/status.html", context, status=status)


def _organizations_with_a_policy_page(user):
    if mailbox_of_owner(user) is not None or user.is_staff:
        return []  # owners have none; staff reach every organization's from its own pages
    return [
        m.organization
        for m in user.memberships.filter(role__in=[Role.ADMIN, Role.READ_ONLY])
        .select_related("organization")
        .order_by("organization__name")
    ]


@login_required
def two_factor_enrol(request: AuthenticatedRequest) -> HttpResponse:
    next_url = safe_next(request, request.POST.get("next") or request.GET.get("next"))
    user = request.user
    if is_enrolled(user):
        messages.info(request, "Two-factor login is already on.")
        return redirect("two_factor")
    key = request.session.get(ENROL_KEY) or new_key()
    request.session[ENROL_KEY] = key  # the same key until confirmed, across reloads
    form = EnrolForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        step = first_code_step(key, form.cleaned_data["code"])
        if step is None:
            form.add_error("code", "That code is not right. Check the app shows TempusMail's.")
        else:
            try:
                device, codes = two_factor_enable(
                    actor=Actor.for_request(request), user=user, key=key, confirmed_step=step
                )
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                del request.session[ENROL_KEY]
                django_otp.login(request, device)  # this session counts as verified
                # Rendered in the response, never stored for a later page: shown once.
                return _backup_codes_page(request, codes, next_url, first=True)
    account = login_name(user)
    context = {
        "form": form,
        "qr": qr_svg(otpauth_url(key, account)),
        "manual_key": manual_key(key),
        "account": account,
        "next": next_url,
        **_policy_notice(user),
    }
    return render(request, "security/enrol.html", context)


def _policy_notice(user) -> dict:
    policy = two_factor_policy(user)
    if not policy.required:
        return {"policy": policy, "may_postpone": True, "days_left": None}
    grace = grace_of(user, policy)
    if grace is None:  # the policy came mid-session: its grace starts at the next login
        return {"policy": policy, "may_postpone": True, "days_left": policy.grace_days}
    return {"policy": policy, "may_postpone": not grace.over, "days_left": grace.days_left}


def _backup_codes_page(request, codes: list[str], next_url: str, first: bool) -> HttpResponse:
    context = {"codes": codes, "next": next_url, "first": first}
    return render(request, "security/backup_codes.html", context)


@login_required
@require_POST
def two_factor_backup_codes(request: AuthenticatedRequest) -> HttpResponse:
    try:
        codes = two_factor_backup_codes_regenerate(
            actor=Actor.for_request(request), user=request.user
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("two_factor")
    return _backup_codes_page(request, codes, reverse("two_factor"), first=False)


@sensitive_post_parameters("password", "code")
@login_required
@require_POST
def two_factor_disable_view(request: AuthenticatedRequest) -> HttpResponse:
    user = request.user
    form = DisableForm(request.POST)
    if not form.is_valid():
        return _status_page(request, form)
    # Guessing the password or a code here counts like at the login form.
    attempt = throttle.begin((throttle.account_key(login_name(user)), throttle.ip_key(request)))
    if isinstance(attempt, throttle.Refusal):
        form.add_error(None, attempt.message)
        return _status_page(request, form, status=429)
    if not _is_own_password(user, form.cleaned_data["password"]):
        form.add_error("password", "This is not your current password.")
    elif verify_code(user, form.cleaned_data["code"]) is None:
        form.add_error("code", "That code is not right (or was already used).")
    if form.errors:
        refusal = throttle.failed(attempt, request)
        if refusal is not None:
            form.add_error(None, refusal.message)
        return _status_page(request, form)
    throttle.passed(attempt)
    two_factor_disable(actor=Actor.for_request(request), user=user)
    request.session.pop(django_otp.DEVICE_ID_SESSION_KEY, None)
    messages.success(request, "Two-factor login is off. Your password alone logs you in now.")
    return redirect("two_factor")


def _is_own_password(user, password: str) -> bool:
    mailbox = mailbox_of_owner(user)
    if mailbox is not None:
        return verify_password(password, mailbox.password_hash)
    return user.check_password(password)


# --- an admin's reset of someone else's -------------------------------------------------------


@login_required
def two_factor_reset_member(request: HttpRequest, user_id: int) -> HttpResponse:
    target = get_member_for_reset(request, user_id)
    return _reset(request, target, label=target.get_username(), back=reverse("home"))


@login_required
def two_factor_reset_owner(request: HttpRequest, mailbox_id: int) -> HttpResponse:
    mailbox, target = get_owner_for_reset(request, mailbox_id)
    back = reverse("mailbox_security", args=[mailbox.pk])
    return _reset(request, target, label=f"the owner of {mailbox.address}", back=back)


def _reset(request: HttpRequest, target, *, label: str, back: str) -> HttpResponse:
    back = safe_next(request, request.POST.get("next") or request.GET.get("next") or back)
    enrolled = target is not None and is_enrolled(target)
    if request.method == "POST":
        stop = reauthentication_required(request)
        if stop is not None:
            return stop
        if enrolled and two_factor_reset(actor=Actor.for_request(request), user=target):
            messages.success(
                request,
                f"Two-factor login of {label} was reset: they log in with their password and "
                "set it up again if a policy requires it.",
            )
        else:
            messages.info(request, f"{capfirst(label)} has no two-factor login to reset.")
        return redirect(back)
    context = {"label": label, "enrolled": enrolled, "next": back}
    return render(request, "security/reset.html", context)


# --- an organization's policy ---------------------------------------------------------------


@login_required
def organization_two_factor(request: AuthenticatedRequest, organization_id: int) -> HttpResponse:
    organization = get_organization_two_factor_page(request, organization_id)
    may_change = can_change_organization(request.user, organization)
    initial = {
        "force_2fa": organization.force_2fa,
        "two_factor_grace_days": organization.two_factor_grace_days,
    }
    form = OrganizationPolicyForm(request.POST or None, initial=initial)
    if request.method == "POST":
        if not may_change:
            raise PermissionDenied("Your role cannot change this organization.")
        if form.is_valid():
            try:
                organization_set_two_factor_policy(
                    actor=Actor.for_request(request),
                    organization=organization,
                    force_2fa=form.cleaned_data["force_2fa"],
                    grace_days=form.cleaned_data["two_factor_grace_days"],
                )
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                messages.success(request, "Two-factor policy saved.")
                return redirect("organization_two_factor", organization_id=organization.pk)
    if not may_change:
        for field in form.fields.values():
            field.disabled = True
    memberships = organization.memberships.select_related("user").order_by("user__username")
    users = [m.user for m in memberships]
    enrolled = set(
        TOTPDevice.objects.filter(user__in=users, confirmed=True).values_list("user_id", flat=True)
    )
    resettable = set(
        members_writable_by(request.user).filter(pk__in=enrolled).values_list("pk", flat=True)
    )
    members = [
        {"membership": m, "enrolled": m.user_id in enrolled, "resettable": m.user_id in resettable}
        for m in memberships
    ]
    context = {
        "organization": organization,
        "form": form,
        "may_change": may_change,
        "members": members,
    }
    return render(request, "security/organization.html", context)
