"""The "+ Email Account" wizard's pages: four steps, a summary, and one confirm that creates.

Each page resolves the domain with write access, then the run's draft by its token (see
mailboxes.wizard). Nothing is written before confirm; confirm takes the draft out of the
session before calling mailbox_create, so a reload or a second click finds no draft and is sent
to the account created by the first.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import IntegrityError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_POST

from domains.models import Domain
from mailboxes.models import LANGUAGES
from mailboxes.services import mailbox_create
from mailboxes.validators import format_size
from mailboxes.wizard import (
    STEP_SLUGS,
    STEPS,
    SUMMARY,
    AccountStepForm,
    Draft,
    account_limit_reached,
    as_form_data,
    create_arguments,
    created_mailbox_id,
    displayed_values,
    remember_created,
    service_errors_by_step,
    step_form,
    validate_draft,
)
from organizations.access import get_domain_for_request
from security.audit import Actor


def _step_url(domain: Domain, token: str, index: int) -> str:
    if index >= SUMMARY:
        return reverse("mailbox_wizard_summary", args=[domain.pk, token])
    return reverse("mailbox_wizard_step", args=[domain.pk, token, STEP_SLUGS[index]])


def _account_url(mailbox_id: int, domain: Domain) -> str:
    # The account page is built separately; until it exists, the domain's list.
    try:
        return reverse("mailbox_detail", args=[mailbox_id])
    except NoReverseMatch:
        return reverse("mailbox_list", args=[domain.pk])


def _writable_active_domain(request: HttpRequest, domain_id: int) -> Domain | HttpResponse:
    domain = get_domain_for_request(request, domain_id, write=True)
    if not domain.is_active:
        messages.error(
            request,
            f"The domain {domain.display_name} is not active: "
            "accounts can only be created on an active domain.",
        )
        return redirect("mailbox_list", domain_id=domain.pk)
    return domain


def _draft_or_response(request: HttpRequest, domain: Domain, token: str) -> Draft | HttpResponse:
    """The run's draft; if it is gone, the account it created or a clear message."""
    draft = Draft.load(request.session, token, domain)
    if draft is not None:
        return draft
    mailbox_id = created_mailbox_id(request.session, token)
    if mailbox_id is not None:
        messages.info(request, "This account has already been created.")
        return redirect(_account_url(mailbox_id, domain))
    messages.error(
        request,
        "This new account form has expired or was cancelled: nothing was created. "
        "Start again with “+ Email Account”.",
    )
    return redirect("mailbox_list", domain_id=domain.pk)


def _resolve(
    request: HttpRequest, domain_id: int, token: Any
) -> tuple[Domain, Draft] | HttpResponse:
    domain = _writable_active_domain(request, domain_id)
    if isinstance(domain, HttpResponse):
        return domain
    draft = _draft_or_response(request, domain, str(token))
    if isinstance(draft, HttpResponse):
        return draft
    return domain, draft


def _indicator(domain: Domain, draft: Draft, current: int) -> list[dict[str, Any]]:
    titles = [step.title for step in STEPS] + ["Summary"]
    return [
        {
            "number": index + 1 if index < SUMMARY else None,
            "title": title,
            "url": _step_url(domain, draft.token, index) if index <= draft.reached else None,
            "state": "current" if index == current else "done" if index < draft.reached else "todo",
        }
        for index, title in enumerate(titles)
    ]


def _page_context(domain: Domain, draft: Draft, current: int) -> dict[str, Any]:
    return {
        "domain": domain,
        "token": draft.token,
        "steps": _indicator(domain, draft, current),
        "back_url": _step_url(domain, draft.token, current - 1) if current > 0 else None,
    }


@login_required
def wizard_start(request: HttpRequest, domain_id: int) -> HttpResponse:
    domain = _writable_active_domain(request, domain_id)
    if isinstance(domain, HttpResponse):
        return domain
    limit = account_limit_reached(domain)
    if limit:
        messages.error(request, limit)
        return redirect("mailbox_list", domain_id=domain.pk)
    draft = Draft.start(request.session, domain)
    return redirect(_step_url(domain, draft.token, 0))


@sensitive_variables()  # the draft holds the new account's password until confirm
@sensitive_post_parameters("password1", "password2")
@login_required
@never_cache  # the page may show a generated password: keep it out of every cache
def wizard_step(request: HttpRequest, domain_id: int, token: Any, step: str) -> HttpResponse:
    if step not in STEP_SLUGS:
        raise Http404("No such step.")
    resolved = _resolve(request, domain_id, token)
    if isinstance(resolved, HttpResponse):
        return resolved
    domain, draft = resolved
    index = STEP_SLUGS.index(step)
    if index > draft.reached:
        return redirect(_step_url(domain, draft.token, draft.reached))

    if request.method == "POST":
        submitted = _submit_step(request, domain, draft, index)
        if isinstance(submitted, HttpResponse):
            return submitted
        form = submitted
    elif (errors := draft.pop_errors(step)) is not None:
        form = _form_with_errors(domain, draft, step, errors)
    else:
        form = step_form(step, domain=domain, draft=draft)

    context = _page_context(domain, draft, index)
    context.update(
        form=form,
        step=STEPS[index],
        step_number=index + 1,
        step_count=len(STEPS),
        is_last_step=index == SUMMARY - 1,
        revealed_password=draft.take_password_to_reveal() if step == "account" else "",
        password_generated=draft.password_generated,
    )
    return render(request, f"mailboxes/wizard/step_{step}.html", context)


def _submit_step(
    request: HttpRequest, domain: Domain, draft: Draft, index: int
) -> HttpResponse | forms.Form:
    """Next, Back or Generate: a redirect, or the form to show again with its errors."""
    step = STEP_SLUGS[index]
    draft.pop_errors(step)
    form = step_form(step, domain=domain, draft=draft, data=request.POST)
    action = request.POST.get("action", "next")
    draft.set_values(step, displayed_values(form))  # Back and Next keep what was entered
    if action == "back" and index > 0:
        return redirect(_step_url(domain, draft.token, index - 1))
    if action == "generate" and isinstance(form, AccountStepForm):
        draft.generate_password(form.min_password_length)
        return redirect(_step_url(domain, draft.token, index))
    valid = form.is_valid()
    if isinstance(form, AccountStepForm) and form.cleaned_data.get("password"):
        draft.set_password(form.cleaned_data["password"], generated=False)
        if not valid:  # shown again without the password, which is now kept
            form = step_form(step, domain=domain, draft=draft, data=request.POST)
            form.is_valid()
    if not valid:
        return form
    draft.reach(index + 1)
    return redirect(_step_url(domain, draft.token, index + 1))


def _form_with_errors(
    domain: Domain, draft: Draft, step: str, errors: dict[str, list[str]]
) -> forms.Form:
    """Sent back from the summary or confirm: the step as entered, with its errors."""
    form = step_form(step, domain=domain, draft=draft, data=as_form_data(draft.values(step) or {}))
    form.is_valid()
    for field, field_errors in errors.items():
        if field not in form.errors:
            form.add_error(field, field_errors)
    return form


def _back_to_first_invalid(
    request: HttpRequest, domain: Domain, draft: Draft, failing: str
) -> HttpResponse:
    draft.set_errors(failing, {})
    messages.warning(request, "Please check the highlighted fields.")
    return redirect(_step_url(domain, draft.token, STEP_SLUGS.index(failing)))


def _ready_to_create(
    request: HttpRequest, domain_id: int, token: Any
) -> HttpResponse | tuple[Domain, Draft, dict[str, dict[str, Any]]]:
    """The draft of a run that reached the summary, every step valid again; else where to go."""
    resolved = _resolve(request, domain_id, token)
    if isinstance(resolved, HttpResponse):
        return resolved
    domain, draft = resolved
    if draft.reached < SUMMARY:
        return redirect(_step_url(domain, draft.token, draft.reached))
    cleaned, failing = validate_draft(draft, domain)
    if failing is not None:
        return _back_to_first_invalid(request, domain, draft, failing)
    return domain, draft, cleaned


@sensitive_variables()
@login_required
@never_cache
def wizard_summary(request: HttpRequest, domain_id: int, token: Any) -> HttpResponse:
    ready = _ready_to_create(request, domain_id, token)
    if isinstance(ready, HttpResponse):
        return ready
    domain, draft, cleaned = ready
    arguments = create_arguments(cleaned, draft, domain)
    context = _page_context(domain, draft, SUMMARY)
    context.update(
        account={k: v for k, v in arguments.items() if k != "password"},
        settings=arguments["settings"],
        address=f"{arguments['local_part']}@{domain.display_name}",
        quota=format_size(arguments["quota_bytes"]),
        language=dict(LANGUAGES).get(arguments["settings"]["language"], ""),
        password_generated=draft.password_generated,
        errors=(draft.pop_errors("summary") or {}).get("__all__", []),
        step_urls={slug: _step_url(domain, draft.token, i) for i, slug in enumerate(STEP_SLUGS)},
    )
    return render(request, "mailboxes/wizard/summary.html", context)


@sensitive_variables()
@login_required
@require_POST
def wizard_confirm(request: HttpRequest, domain_id: int, token: Any) -> HttpResponse:
    ready = _ready_to_create(request, domain_id, token)
    if isinstance(ready, HttpResponse):
        return ready
    domain, draft, cleaned = ready

    # Take the draft out of the stored session before writing: a second click arriving while
    # this one runs finds no draft (or the address taken), never a second account.
    arguments = create_arguments(cleaned, draft, domain)
    draft.discard()
    request.session.save()
    try:
        mailbox = mailbox_create(actor=Actor.for_request(request), **arguments)
    except IntegrityError:  # lost a race on the unique address
        error = ValidationError({"local_part": "This address has just been taken."})
        return _confirm_failed(request, domain, draft, error)
    except ValidationError as exc:
        return _confirm_failed(request, domain, draft, exc)
    remember_created(request.session, draft.token, mailbox.pk)
    request.session.save()  # at once, for a second click already on its way
    messages.success(
        request,
        f"Account {mailbox.local_part}@{domain.display_name} created; "
        "the mail servers are being updated.",
    )
    return redirect(_account_url(mailbox.pk, domain))


def _confirm_failed(
    request: HttpRequest, domain: Domain, draft: Draft, exc: ValidationError
) -> HttpResponse:
    """Put the draft back and send the admin to the step where the first error belongs."""
    stored = request.session.__class__(request.session.session_key)
    mailbox_id = created_mailbox_id(stored, draft.token)
    if mailbox_id is not None:  # a concurrent click of the same run created it
        remember_created(request.session, draft.token, mailbox_id)
        messages.info(request, "This account has already been created.")
        return redirect(_account_url(mailbox_id, domain))
    draft.restore()
    by_step, elsewhere = service_errors_by_step(exc)
    for slug, errors in by_step.items():
        draft.set_errors(slug, errors)
    if elsewhere:
        draft.set_errors("summary", {"__all__": elsewhere})
    first = next((i for i, slug in enumerate(STEP_SLUGS) if slug in by_step), SUMMARY)
    messages.error(request, "The account was not created: please check the highlighted fields.")
    return redirect(_step_url(domain, draft.token, first))


@login_required
@require_POST
def wizard_cancel(request: HttpRequest, domain_id: int, token: Any) -> HttpResponse:
    domain = get_domain_for_request(request, domain_id, write=True)
    draft = Draft.load(request.session, str(token), domain)
    if draft is not None:
        draft.discard()
        messages.info(request, "Cancelled: no account was created.")
    return redirect("mailbox_list", domain_id=domain.pk)
