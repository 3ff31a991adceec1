"""Helpers shared by the panel's forms."""

from __future__ import annotations

from typing import TypeVar

from django import forms
from django.core.exceptions import ValidationError

from mailboxes.rules import MAX_SENDING_LIMIT

FieldT = TypeVar("FieldT", bound=forms.Field)


def typed_field(form: forms.BaseForm, name: str, kind: type[FieldT]) -> FieldT:
    """The form's field `name` as the kind it was declared as (`form.fields` holds plain
    Fields for the type checker), e.g. to set a ModelChoiceField's queryset per request."""
    field = form.fields[name]
    if not isinstance(field, kind):
        raise TypeError(f"{type(form).__name__}.{name} is a {type(field).__name__}")
    return field


def add_service_errors(form: forms.BaseForm, exc: ValidationError) -> None:
    """Show a service's ValidationError next to the fields it names (else above the form)."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


def sending_limit_field(label: str) -> forms.IntegerField:
    """A sending limit (an account's, or a domain's default): empty inherits, 0 is no limit."""
    return forms.IntegerField(label=label, required=False, min_value=0, max_value=MAX_SENDING_LIMIT)
