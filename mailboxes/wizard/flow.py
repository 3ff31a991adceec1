"""Between the step forms and the draft: defaults, validation, the create call."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from domains.models import Domain
from mailboxes.selectors import accounts_used
from mailboxes.validators import (
    normalize_local_part,
)
from mailboxes.wizard.draft import Draft
from mailboxes.wizard.forms import (
    MAIL_ACCESS_FIELDS,
    STEPS,
    AccountStepForm,
    OptionsStepForm,
    SecurityStepForm,
    ServicesStepForm,
)

# --- between forms and the draft ---------------------------------------------------------


def displayed_values(form: forms.Form) -> dict[str, Any]:
    """What a submitted form shows in its fields (passwords left out), JSON-serialisable."""
    return {
        name: form[name].value()
        for name in form.fields
        if not isinstance(form.fields[name].widget, forms.PasswordInput)
    }


def as_form_data(values: dict[str, Any]) -> dict[str, str]:
    """Turn displayed values back into what a browser posts (unchecked boxes are absent)."""
    data: dict[str, str] = {}
    for name, value in values.items():
        if value is True:
            data[name] = "on"
        elif value not in (False, None):
            data[name] = str(value)
    return data


FORMS: dict[str, type[forms.Form]] = {
    "account": AccountStepForm,
    "services": ServicesStepForm,
    "security": SecurityStepForm,
    "options": OptionsStepForm,
}


def _defaults(slug: str, domain: Domain) -> dict[str, Any]:
    form_class = FORMS[slug]
    return form_class.defaults(domain) if hasattr(form_class, "defaults") else {}


def draft_address(draft: Draft, domain: Domain) -> str:
    local_part = str((draft.values("account") or {}).get("local_part") or "")
    try:
        local_part = normalize_local_part(local_part)
    except ValidationError:
        local_part = local_part.strip().lower()
    return f"{local_part}@{domain.name}"


def step_form(
    slug: str, *, domain: Domain, draft: Draft, data: dict[str, Any] | None = None
) -> forms.Form:
    """The step's form: showing the draft's values (or the domain's defaults), or bound."""
    values = draft.values(slug)
    kwargs: dict[str, Any] = {}
    if slug == "account":
        kwargs = {"domain": domain, "has_password": bool(draft.password)}
    elif slug == "services":
        kwargs = {"domain": domain}
    elif slug == "options":
        kwargs = {"address": draft_address(draft, domain)}
    initial = values if values is not None else _defaults(slug, domain)
    return FORMS[slug](data, initial=initial, **kwargs)


def validate_draft(draft: Draft, domain: Domain) -> tuple[dict[str, dict[str, Any]], str | None]:
    """Every step's cleaned data, or the first step that does not validate (now)."""
    cleaned: dict[str, dict[str, Any]] = {}
    for step in STEPS:
        values = draft.values(step.slug)
        if values is None:
            return cleaned, step.slug
        form = step_form(step.slug, domain=domain, draft=draft, data=as_form_data(values))
        if not form.is_valid():
            return cleaned, step.slug
        cleaned[step.slug] = form.cleaned_data
    return cleaned, None


def create_arguments(
    cleaned: dict[str, dict[str, Any]], draft: Draft, domain: Domain
) -> dict[str, Any]:
    """The keyword arguments of mailbox_create (without the actor) for a validated draft."""
    account, services = cleaned["account"], cleaned["services"]
    security, options = cleaned["security"], cleaned["options"]
    settings: dict[str, Any] = {
        "language": domain.default_language,
        "time_zone": domain.default_time_zone,
        **{field: services["mail_access"] for field in MAIL_ACCESS_FIELDS},
        "webmail_enabled": services["webmail_enabled"],
        "activesync_enabled": services["activesync_enabled"],
        "dav_enabled": services["dav_enabled"],
        "force_password_change": security["force_password_change"],
        "password_expiry_days": security["password_expiry_days"],
        "force_2fa": security["force_2fa"],
        "allowed_networks": security["allowed_networks"],
        "api_access": security["api_access"],
        "forward_to": options["forward_to"],
        "forward_keep_copy": options["forward_keep_copy"],
        "spam_to_inbox": options["spam_to_inbox"],
    }
    return {
        "domain": domain,
        "local_part": account["local_part"],
        "password": draft.password,
        "quota_bytes": services["quota"],
        "first_name": account["first_name"],
        "last_name": account["last_name"],
        "settings": settings,
    }


def account_limit_reached(domain: Domain) -> str:
    """The plan's account limit as a message when it is reached (the service checks it too)."""
    plan = domain.organization.plan
    if plan is None or plan.max_accounts is None:
        return ""
    if accounts_used(domain.organization) < plan.max_accounts:
        return ""
    return f"The plan's limit of {plan.max_accounts} accounts is reached."
