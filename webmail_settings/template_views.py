"""A domain admin's corporate signatures (/domains/<id>/signatures/...) and an account's
contact details (/accounts/<id>/contact/). Objects come through organizations.access and
webmail_settings.access: another tenant's answer 404, a read-only role's changes 403."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from domains.models import Domain
from mailboxes.models import Mailbox
from organizations.access import can_change_domain, get_domain_for_request, get_mailbox_for_request
from security.audit import Actor
from tempusmail.forms import add_service_errors
from webmail_settings import corporate_services as services
from webmail_settings.access import get_template_for_request
from webmail_settings.corporate import SAMPLE_VALUES, Rendered, placeholder_values
from webmail_settings.corporate import render as render_signature
from webmail_settings.forms import ContactDetailsForm, SignatureTemplateForm
from webmail_settings.models import ContactDetails, SignatureTemplate
from webmail_settings.sanitize import sanitize_html
from webmail_settings.selectors import contact_details_of


@login_required
def signature_template_list(request: HttpRequest, domain_id: int) -> HttpResponse:
    domain = get_domain_for_request(request, domain_id)
    templates = SignatureTemplate.objects.for_domain(domain).annotate(
        account_count=Count("signatures")
    )
    context = {
        "domain": domain,
        "tab": "signatures",
        "templates": templates,
        "can_change": can_change_domain(request.user, domain),
    }
    return render(request, "webmail_settings/template_list.html", context)


def _preview(domain: Domain, data: dict) -> tuple[Rendered, str]:
    """The template as one account would get it: the first chosen account, or a sample."""
    accounts = Mailbox.objects.filter(domain=domain) if data["all_accounts"] else data["accounts"]
    sample = accounts.select_related("contact_details").order_by("pk").first()
    if sample is None:
        values, who = SAMPLE_VALUES, "a sample account"
    else:
        try:
            contact = sample.contact_details
        except ContactDetails.DoesNotExist:
            contact = None
        values, who = placeholder_values(sample, contact), sample.address
    return render_signature(sanitize_html(data["html"]), data["text"], values), who


def _template_page(request: HttpRequest, domain: Domain, template, can_change: bool):
    initial = {}
    if template is not None:
        initial = {
            "name": template.name, "html": template.html, "text": template.text,
            "all_accounts": "1" if template.all_accounts else "0",
            "owners_may_edit": "1" if template.owners_may_edit else "0",
            "accounts": list(template.accounts.all()),
        }  # fmt: skip
    mailboxes = Mailbox.objects.filter(domain=domain).order_by("local_part")
    form = SignatureTemplateForm(request.POST or None, initial=initial, mailboxes=mailboxes)
    if not can_change:
        for field in form.fields.values():
            field.disabled = True
    preview = who = None
    if request.method == "POST" and form.is_valid():
        if "preview" in request.POST:
            preview, who = _preview(domain, form.cleaned_data)
        else:
            try:
                saved = _save_template(request, domain, template, form.cleaned_data)
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                messages.success(request, f"Signature {saved.name} saved for its accounts.")
                return redirect("signature_template_list", domain_id=domain.pk)
    elif template is not None:
        preview, who = _preview(domain, {**initial, "all_accounts": template.all_accounts,
                                         "accounts": template.accounts.all()})  # fmt: skip
    context = {
        "domain": domain, "tab": "signatures", "form": form, "template": template,
        "preview": preview, "preview_for": who, "can_change": can_change,
    }  # fmt: skip
    return render(request, "webmail_settings/template_form.html", context)


def _save_template(request: HttpRequest, domain: Domain, template, data: dict):
    actor = Actor.for_request(request)
    if template is None:
        return services.signature_template_create(actor=actor, domain=domain, **data)
    return services.signature_template_update(actor=actor, template=template, **data)


@login_required
def signature_template_create(request: HttpRequest, domain_id: int) -> HttpResponse:
    domain = get_domain_for_request(request, domain_id, write=True)
    return _template_page(request, domain, None, can_change=True)


@login_required
def signature_template_edit(request: HttpRequest, domain_id: int, template_id: int) -> HttpResponse:
    writing = request.method == "POST"
    template = get_template_for_request(request, domain_id, template_id, write=writing)
    can_change = writing or can_change_domain(request.user, template.domain)
    return _template_page(request, template.domain, template, can_change)


@login_required
@require_POST
def signature_template_delete(
    request: HttpRequest, domain_id: int, template_id: int
) -> HttpResponse:
    template = get_template_for_request(request, domain_id, template_id, write=True)
    services.signature_template_delete(actor=Actor.for_request(request), template=template)
    messages.success(request, f"Signature {template.name} deleted from its accounts.")
    return redirect("signature_template_list", domain_id=domain_id)


@login_required
def mailbox_contact_details(request: HttpRequest, mailbox_id: int) -> HttpResponse:
    """An account's title, department, phone and postal address, for corporate signatures."""
    writing = request.method == "POST"
    mailbox = get_mailbox_for_request(request, mailbox_id, write=writing)
    can_change = writing or can_change_domain(request.user, mailbox.domain)
    contact = contact_details_of(mailbox)
    initial = {f: getattr(contact, f) for f in services.CONTACT_FIELDS}
    form = ContactDetailsForm(request.POST if writing else None, initial=initial)
    if not can_change:
        for field in form.fields.values():
            field.disabled = True
    if writing and form.is_valid():
        try:
            services.contact_details_update(
                actor=Actor.for_request(request), mailbox=mailbox, changes=form.cleaned_data
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, f"The contact details of {mailbox.address} are saved.")
            return redirect("mailbox_contact_details", mailbox_id=mailbox.pk)
    context = {"mailbox": mailbox, "form": form, "can_change": can_change}
    return render(request, "webmail_settings/mailbox_contact_details.html", context)
