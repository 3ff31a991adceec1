"""Forms validate and normalise; the services write."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from domains.models import Domain
from invitations.models import Invitation
from invitations.services import MAX_INVITEES, Invitee, check_new_address
from mailboxes.models import Mailbox, MailboxKind, MailboxState
from mailboxes.passwords import check_new_password
from tempusmail.forms import typed_field


class LocalPartForm(forms.Form):
    local_part = forms.CharField(
        label="Email address", max_length=64,
        help_text="Only what comes before the @.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )  # fmt: skip

    def __init__(self, *args: Any, domain: Domain, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.domain = domain

    def clean_local_part(self) -> str:
        try:
            return check_new_address(self.domain, self.cleaned_data["local_part"])
        except ValidationError as exc:
            raise ValidationError(exc.message_dict["local_part"]) from exc


class InviteForm(LocalPartForm):
    members = forms.MultipleChoiceField(
        label="Members of the organization", required=False,
        widget=forms.CheckboxSelectMultiple,
    )  # fmt: skip
    emails = forms.CharField(
        label="External e-mail addresses", required=False,
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false"}),
        help_text="One per line (or separated by commas).",
    )  # fmt: skip
    may_change_password = forms.BooleanField(
        label="May change the password", required=False, initial=True
    )
    may_forward = forms.BooleanField(label="May set up forwarding", required=False, initial=True)

    def __init__(self, *args: Any, domain: Domain, **kwargs: Any) -> None:
        super().__init__(*args, domain=domain, **kwargs)
        self.member_users = {
            str(user.pk): user
            for user in get_user_model()
            .objects.filter(memberships__organization=domain.organization)
            .exclude(email="")
            .order_by("username")
        }
        typed_field(self, "members", forms.MultipleChoiceField).choices = [
            (pk, f"{user.get_full_name() or user.get_username()} <{user.email}>")
            for pk, user in self.member_users.items()
        ]
        if not self.member_users:
            self.fields[
                "members"
            ].help_text = "No member of the organization has an e-mail address."

    def clean_emails(self) -> list[str]:
        emails = []
        for item in re.split(r"[\s,;]+", self.cleaned_data["emails"]):
            if not item:
                continue
            try:
                validate_email(item)
            except ValidationError as exc:
                raise ValidationError(f"{item} is not an e-mail address.") from exc
            emails.append(item.lower())
        return emails

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        invitees = [
            Invitee(email=self.member_users[pk].email.lower(), user=self.member_users[pk])
            for pk in data.get("members", [])
        ]
        invitees += [Invitee(email=email) for email in data.get("emails", [])]
        unique = list({invitee.email: invitee for invitee in invitees}.values())
        if not unique and not self.errors:
            self.add_error("emails", "Choose a member or enter an e-mail address to invite.")
        elif len(unique) > MAX_INVITEES:
            self.add_error("emails", f"Invite at most {MAX_INVITEES} people at once.")
        data["invitees"] = unique
        return data


class PasswordFields(forms.Form):
    password1 = forms.CharField(
        label="Password", strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )  # fmt: skip
    password2 = forms.CharField(
        label="Repeat the password", strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )  # fmt: skip

    def check_password(self, domain: Domain, local_part: str, names: tuple[str, ...]) -> None:
        first, second = self.cleaned_data.get("password1"), self.cleaned_data.get("password2")
        if not first or not second:
            return
        if first != second:
            self.add_error("password2", "The two passwords differ.")
            return
        try:
            check_new_password(first, domain=domain, local_part=local_part, names=names)
        except ValidationError as exc:
            self.add_error("password1", exc)
        else:
            self.cleaned_data["password"] = first


PHONE = re.compile(r"^\+?[0-9 ()./-]{6,30}$")


class AcceptForm(PasswordFields):
    first_name = forms.CharField(label="Name", max_length=150)
    last_name = forms.CharField(label="Surname", max_length=150)
    phone = forms.CharField(
        label="Phone", max_length=40, help_text="Your personal phone number, e.g. +41 22 555 01 23."
    )

    field_order = ["first_name", "last_name", "phone", "password1", "password2"]

    def __init__(self, *args: Any, invitation: Invitation, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.invitation = invitation

    def clean_phone(self) -> str:
        phone = self.cleaned_data["phone"].strip()
        if not PHONE.match(phone):
            raise ValidationError("Enter a phone number: digits, spaces and + ( ) - . / only.")
        return phone

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        names = (data.get("first_name", ""), data.get("last_name", ""))
        self.check_password(self.invitation.domain, self.invitation.local_part, names)
        return data


class NoReplyForm(LocalPartForm, PasswordFields):
    """A sending-only address: it refuses inbound mail; apps log in to send with it."""

    field_order = ["local_part", "password1", "password2"]

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if "local_part" in data:
            self.check_password(self.domain, data["local_part"], ())
        return data


class CatchAllForm(forms.Form):
    catchall_target = forms.ChoiceField(
        label="Deliver mail for unknown addresses to", required=False,
        help_text="Every message to an address that does not exist on the domain goes here.",
    )  # fmt: skip

    def __init__(self, *args: Any, domain: Domain, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        targets = Mailbox.objects.filter(
            domain=domain, kind=MailboxKind.PERSON, state=MailboxState.ACTIVE
        ).order_by("local_part")
        choices = [("", "Nobody (refuse unknown addresses)")]
        choices += [(f"{m.local_part}@{domain.name}",) * 2 for m in targets]
        if domain.catchall_target and domain.catchall_target not in dict(choices):
            choices.append((domain.catchall_target,) * 2)
        typed_field(self, "catchall_target", forms.ChoiceField).choices = choices
        self.initial.setdefault("catchall_target", domain.catchall_target)
