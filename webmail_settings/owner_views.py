"""The owner's identities and signatures (/me/identities/...). Every object comes through
webmail_settings.access, which scopes it to the logged-in owner's own mailbox."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from security.audit import Actor
from tempusmail.forms import add_service_errors
from webmail_settings import services
from webmail_settings.access import (
    get_identity_for_owner,
    get_signature_for_owner,
    owner_mailbox_for_request,
)
from webmail_settings.corporate_services import CONTACT_FIELDS, contact_details_update
from webmail_settings.forms import ContactDetailsForm, IdentityForm, SignatureForm
from webmail_settings.sanitize import html_to_text, sanitize_html
from webmail_settings.selectors import contact_details_of, identities_of


@login_required
def identity_list(request: HttpRequest) -> HttpResponse:
    mailbox = owner_mailbox_for_request(request)
    context = {"mailbox": mailbox, "identities": identities_of(mailbox)}
    return render(request, "webmail_settings/identity_list.html", context)


@login_required
def identity_create(request: HttpRequest) -> HttpResponse:
    mailbox = owner_mailbox_for_request(request)
    initial = {"display_name": f"{mailbox.first_name} {mailbox.last_name}".strip()}
    form = IdentityForm(
        request.POST or None, initial=initial, addresses=services.sender_addresses(mailbox)
    )
    if request.method == "POST" and form.is_valid():
        try:
            identity = services.identity_create(
                actor=Actor.for_request(request), mailbox=mailbox, **form.cleaned_data
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, f"Identity {identity} added. Now add a signature.")
            return redirect("identity_edit", identity_id=identity.pk)
    return render(request, "webmail_settings/identity_form.html", {"form": form, "identity": None})


@login_required
def identity_edit(request: HttpRequest, identity_id: int) -> HttpResponse:
    identity = get_identity_for_owner(request, identity_id)
    form = IdentityForm(
        request.POST or None,
        initial={"display_name": identity.display_name, "address": identity.address},
        addresses=services.sender_addresses(identity.mailbox),
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.identity_update(
                actor=Actor.for_request(request), identity=identity, **form.cleaned_data
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, "Identity saved.")
            return redirect("identity_list")
    context = {"form": form, "identity": identity, "signatures": identity.signatures.all()}
    return render(request, "webmail_settings/identity_form.html", context)


@login_required
@require_POST
def identity_delete(request: HttpRequest, identity_id: int) -> HttpResponse:
    identity = get_identity_for_owner(request, identity_id)
    try:
        services.identity_delete(actor=Actor.for_request(request), identity=identity)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("identity_edit", identity_id=identity.pk)
    messages.success(request, f"Identity {identity} deleted.")
    return redirect("identity_list")


def _signature_page(request: HttpRequest, identity, signature) -> HttpResponse:
    """The signature form, for a new signature (signature None) or an existing one. The
    Preview button shows the sanitised HTML and the plain text as they would be saved."""
    initial = {}
    if signature is not None:
        initial = {f: getattr(signature, f) for f in SignatureForm.base_fields}
    form = SignatureForm(request.POST or None, initial=initial)
    if signature is not None and signature.locked:
        for field in form.fields.values():  # the service refuses a change anyway
            field.disabled = True
    preview = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        if "preview" in request.POST:
            html = sanitize_html(data["html"])
            preview = {"html": html, "text": data["text"].strip() or html_to_text(html)}
        else:
            try:
                _save_signature(request, identity, signature, data)
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                messages.success(request, f"Signature {data['name']} saved.")
                return redirect("identity_edit", identity_id=identity.pk)
    context = {"form": form, "identity": identity, "signature": signature, "preview": preview}
    return render(request, "webmail_settings/signature_form.html", context)


def _save_signature(request: HttpRequest, identity, signature, data: dict) -> None:
    actor = Actor.for_request(request)
    if signature is None:
        services.signature_create(actor=actor, identity=identity, **data)
    else:
        services.signature_update(actor=actor, signature=signature, **data)


@login_required
def signature_create(request: HttpRequest, identity_id: int) -> HttpResponse:
    return _signature_page(request, get_identity_for_owner(request, identity_id), None)


@login_required
def signature_edit(request: HttpRequest, identity_id: int, signature_id: int) -> HttpResponse:
    signature = get_signature_for_owner(request, identity_id, signature_id)
    return _signature_page(request, signature.identity, signature)


@login_required
@require_POST
def signature_set_default(
    request: HttpRequest, identity_id: int, signature_id: int
) -> HttpResponse:
    signature = get_signature_for_owner(request, identity_id, signature_id)
    services.signature_set_default(actor=Actor.for_request(request), signature=signature)
    messages.success(request, f"{signature.name} is now the default signature.")
    return redirect("identity_edit", identity_id=identity_id)


@login_required
@require_POST
def signature_delete(request: HttpRequest, identity_id: int, signature_id: int) -> HttpResponse:
    signature = get_signature_for_owner(request, identity_id, signature_id)
    try:
        services.signature_delete(actor=Actor.for_request(request), signature=signature)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("identity_edit", identity_id=identity_id)
    messages.success(request, f"Signature {signature.name} deleted.")
    return redirect("identity_edit", identity_id=identity_id)


@login_required
def owner_contact_details(request: HttpRequest) -> HttpResponse:
    """The owner's title, department, phone and postal address (what corporate signatures
    say about them)."""
    mailbox = owner_mailbox_for_request(request)
    contact = contact_details_of(mailbox)
    initial = {f: getattr(contact, f) for f in CONTACT_FIELDS}
    form = ContactDetailsForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            contact_details_update(
                actor=Actor.for_request(request), mailbox=mailbox, changes=form.cleaned_data
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, "Your contact details are saved.")
            return redirect("owner_contact_details")
    context = {"form": form, "mailbox": mailbox}
    return render(request, "webmail_settings/owner_contact_details.html", context)
