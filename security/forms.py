from __future__ import annotations

from django import forms

from organizations.models import Organization


def _code_field(label: str, help_text: str = "", autofocus: bool = True) -> forms.CharField:
    attrs = {"autocomplete": "one-time-code", "autocapitalize": "none", "spellcheck": "false"}
    if autofocus:
        attrs["autofocus"] = "autofocus"
    return forms.CharField(
        label=label, max_length=32, help_text=help_text, widget=forms.TextInput(attrs=attrs)
    )


class LoginCodeForm(forms.Form):
    code = _code_field("Code")  # the page says which codes count


class EnrolForm(forms.Form):
    code = _code_field("Code from the app", "The 6-digit code the app now shows for TempusMail.")


class DisableForm(forms.Form):
    password = forms.CharField(
        label="Your password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
    code = _code_field("A code from your app, or a backup code", autofocus=False)


def _model_field(name: str) -> forms.Field:
    # The model's own field (and its validators): the rule lives on the model only.
    return Organization._meta.get_field(name).formfield()


class OrganizationPolicyForm(forms.Form):
    """Validates and normalises only: organization_set_two_factor_policy saves and audits."""

    force_2fa = _model_field("force_2fa")
    two_factor_grace_days = _model_field("two_factor_grace_days")
