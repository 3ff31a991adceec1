"""The account page ("click an account"): one tab per group of settings, and its actions.

Every tab is a form: GET shows it, POST saves it through one service and redirects back with
a flash. Read-only members see the tabs with disabled forms; any POST of theirs answers 403
(get_mailbox_for_request(write=True)).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.forms import Form
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from mailboxes.account_forms import (
    AccountForm,
    AutoresponderForm,
    DeleteForm,
    ForwardingForm,
    GeneralForm,
    PasswordForm,
    SecurityForm,
    WebmailForm,
)
from mailboxes.models import Mailbox
from mailboxes.rules import may_exceed_plan, raises_above_plan
from mailboxes.sending import sent_for_mailboxes, unavailable_note
from mailboxes.services import (
    mailbox_deactivate,
    mailbox_delete,
    mailbox_reactivate,
    mailbox_set_password,
    mailbox_update,
)
from mailboxes.tabs import TABS
from organizations.access import can_change_domain, get_mailbox_for_request
from provisioning.login_guard import failed_logins_or_none
from security import reauth
from security.audit import Actor
from tempusmail.forms import add_service_errors
from webmail_settings.selectors import preferences_or_new
from webmail_settings.services import preferences_update

_TAB_URLS = {key: name for key, _, name in TABS}
SAVED = "Saved. The mail servers follow in a moment."


def _resolve(request: HttpRequest, mailbox_id: int) -> tuple[Mailbox, bool]:
    """The mailbox, and whether the user may change it (a POST requires it: 403 otherwise)."""
    if request.method == "POST":
        return get_mailbox_for_request(request, mailbox_id, write=True), True
    mailbox = get_mailbox_for_request(request, mailbox_id)
    return mailbox, can_change_domain(request.user, mailbox.domain)


def _page(
    request: HttpRequest, mailbox: Mailbox, tab: str, can_change: bool, **context: Any
) -> HttpResponse:
    return render(
        request,
        f"mailboxes/account/{tab}.html",
        {"mailbox": mailbox, "domain": mailbox.domain, "tab": tab,
         "can_change": can_change, **context},
    )  # fmt: skip


def _update(actor: Actor, mailbox: Mailbox, changes: dict[str, Any]) -> object:
    return mailbox_update(actor=actor, mailbox=mailbox, changes=changes)


def _settings_tab(
    request: HttpRequest,
    mailbox_id: int,
    tab: str,
    make_form: Callable[..., AccountForm],
    save: Callable[[Actor, Mailbox, dict[str, Any]], object] | None = None,
    extra: Callable[[Mailbox], dict[str, Any]] | None = None,
    sensitive: Callable[[HttpRequest, Mailbox, dict[str, Any]], str] | None = None,
) -> HttpResponse:
    """GET shows the tab's form; POST saves it with one service call (mailbox_update).

    extra: more context for the page, computed only when it is rendered.
    sensitive: what the changes do that needs re-authentication ("" when nothing does)."""
    mailbox, can_change = _resolve(request, mailbox_id)
    data = request.POST if request.method == "POST" else None
    form = make_form(data, mailbox=mailbox, read_only=not can_change)
    if data is not None and form.is_valid():
        action = sensitive(request, mailbox, form.changes()) if sensitive else ""
        if action and (stop := reauth.required(request, action=action)):
            return stop
        try:
            (save or _update)(Actor.for_request(request), mailbox, form.changes())
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, SAVED)
            return redirect(_TAB_URLS[tab], mailbox_id=mailbox.pk)
    return _page(request, mailbox, tab, can_change, form=form, **(extra(mailbox) if extra else {}))


@login_required
@require_http_methods(["GET", "POST"])
def mailbox_detail(request: HttpRequest, mailbox_id: int) -> HttpResponse:
    def make_form(*args: Any, mailbox: Mailbox, **kwargs: Any) -> GeneralForm:
        return GeneralForm(*args, mailbox=mailbox, plan=mailbox.domain.organization.plan, **kwargs)

    def sent(mailbox: Mailbox) -> dict[str, Any]:
        counts = sent_for_mailboxes([mailbox], mailbox.domain)
        if counts is None:
            return {"sent": None, "sent_unavailable": unavailable_note(mailbox.domain.node)}
        return {"sent": counts[mailbox.pk], "sent_unavailable": ""}

    def sensitive(request: HttpRequest, mailbox: Mailbox, changes: dict[str, Any]) -> str:
        actor = Actor.for_request(request)
        if may_exceed_plan(actor) and raises_above_plan(mailbox, changes):
            return "raise sending limits above the plan"
        return ""

    return _settings_tab(request, mailbox_id, "general", make_form, extra=sent, sensitive=sensitive)


@login_required
@require_http_methods(["GET", "POST"])
def mailbox_forwarding(request: HttpRequest, mailbox_id: int) -> HttpResponse:
    return _settings_tab(request, mailbox_id, "forwarding", ForwardingForm)


@login_required
@require_http_methods(["GET", "POST"])
def mailbox_autoresponder(request: HttpRequest, mailbox_id: int) -> HttpResponse:
    return _settings_tab(request, mailbox_id, "autoresponder", AutoresponderForm)


@login_required
@require_http_methods(["GET", "POST"])
def mailbox_webmail(request: HttpRequest, mailbox_id: int) -> HttpResponse:
    def make_form(*args: Any, mailbox: Mailbox, **kwargs: Any) -> WebmailForm:
        # Not created on a GET: the defaults (the domain's for the address book) stand until
        # someone saves the tab.
        preferences = preferences_or_new(mailbox)
        return WebmailForm(*args, mailbox=mailbox, preferences=preferences, **kwargs)

    def save(actor: Actor, mailbox: Mailbox, changes: dict[str, Any]) -> object:
        return preferences_update(actor=actor, mailbox=mailbox, changes=changes)

    return _settings_tab(request, mailbox_id, "webmail", make_form, save)


@sensitive_variables()
@sensitive_post_parameters("pw-password", "pw-password_confirm")
@login_required
@require_http_methods(["GET", "POST"])
def mailbox_security(request: HttpRequest, mailbox_id: int) -> HttpResponse:
    """Two forms: a new password, and the security policy; a hidden "form" says which."""
    mailbox, can_change = _resolve(request, mailbox_id)
    which = request.POST.get("form") if request.method == "POST" else None
    read_only = not can_change
    password_form = PasswordForm(
        request.POST if which == "password" else None,
        mailbox=mailbox, read_only=read_only, prefix="pw",
    )  # fmt: skip
    policy_form = SecurityForm(
        request.POST if which == "policy" else None, mailbox=mailbox, read_only=read_only
    )
    form: Form | None = {"password": password_form, "policy": policy_form}.get(which or "")
    if form is not None and form.is_valid():
        actor = Actor.for_request(request)
        try:
            if form is password_form:
                mailbox_set_password(
                    actor=actor, mailbox=mailbox, password=form.cleaned_data["password"]
                )
            else:
                mailbox_update(actor=actor, mailbox=mailbox, changes=policy_form.changes())
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            done = "The password was changed." if form is password_form else SAVED
            messages.success(request, done)
            return redirect("mailbox_security", mailbox_id=mailbox.pk)
    return _page(
        request,
        mailbox,
        "security",
        can_change,
        password_form=password_form,
        form=policy_form,
        failed_logins=failed_logins_or_none(mailbox.address),
    )


def _back(request: HttpRequest, mailbox: Mailbox) -> HttpResponse:
    """Back to the page the action was started from (a "next" on this site), else the account."""
    target = request.POST.get("next", "")
    # Only a path: redirect() would take any other word for a view's name (and fail on it).
    if target.startswith("/") and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(target)
    return redirect("mailbox_detail", mailbox_id=mailbox.pk)


@login_required
@require_POST
def mailbox_deactivate_view(request: HttpRequest, mailbox_id: int) -> HttpResponse:
    mailbox = get_mailbox_for_request(request, mailbox_id, write=True)
    try:
        mailbox_deactivate(actor=Actor.for_request(request), mailbox=mailbox)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request,
            f"{mailbox.address} is deactivated: no logins, no incoming mail. "
            "It stays billable until it is deleted.",
        )
    return _back(request, mailbox)


@login_required
@require_POST
def mailbox_reactivate_view(request: HttpRequest, mailbox_id: int) -> HttpResponse:
    mailbox = get_mailbox_for_request(request, mailbox_id, write=True)
    try:
        mailbox_reactivate(actor=Actor.for_request(request), mailbox=mailbox)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"{mailbox.address} is active again.")
    return _back(request, mailbox)


@sensitive_variables()
@sensitive_post_parameters("password")
@login_required
@require_http_methods(["GET", "POST"])
def mailbox_delete_view(request: HttpRequest, mailbox_id: int) -> HttpResponse:
    """A confirmation page that asks for the admin's own password; POST deletes."""
    mailbox, can_change = _resolve(request, mailbox_id)
    if request.method == "POST" and (stop := reauth.required(request, action="delete the account")):
        return stop
    data = request.POST if request.method == "POST" else None
    form = DeleteForm(data, user=request.user, read_only=not can_change)
    if data is not None and form.is_valid():
        domain_id, address = mailbox.domain_id, mailbox.address
        try:
            mailbox_delete(actor=Actor.for_request(request), mailbox=mailbox)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, f"The account {address} was deleted.")
            return redirect("mailbox_list", domain_id=domain_id)
    return _page(request, mailbox, "delete", can_change, form=form)


@login_required
@require_GET
def mailbox_status(request: HttpRequest, mailbox_id: int) -> HttpResponse:
    """The status badge alone: polled by htmx while the account is Updating."""
    mailbox = get_mailbox_for_request(request, mailbox_id)
    return render(request, "mailboxes/account/_status.html", {"mailbox": mailbox})
