from __future__ import annotations

from django import forms

from mailboxes.models import Mailbox
from tempusmail.forms import typed_field
from webmail_settings.corporate import PLACEHOLDERS
from webmail_settings.models import ContactDetails, Signature


class IdentityForm(forms.Form):
    display_name = forms.CharField(label="Display name", max_length=150, required=False)
    address = forms.ChoiceField(label="Address")

    def __init__(self, *args, addresses: list[str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        typed_field(self, "address", forms.ChoiceField).choices = [(a, a) for a in addresses]


class SignatureForm(forms.Form):
    name = forms.CharField(max_length=100, initial="Signature")
    html = forms.CharField(
        label="HTML",
        required=False,
        max_length=Signature._meta.get_field("html").max_length,
        widget=forms.Textarea(attrs={"rows": 8, "spellcheck": "false"}),
        help_text="Allowed: paragraphs, line breaks, bold, italic, underline, links (http, "
        "https, mailto), images (https or inline PNG/JPEG/GIF/WebP), simple tables. Anything "
        "else is removed when you save.",
    )
    text = forms.CharField(
        label="Plain text",
        required=False,
        max_length=Signature._meta.get_field("text").max_length,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text="For plain-text messages. Leave empty to derive it from the HTML.",
    )
    is_default = forms.BooleanField(label="Default signature of this identity", required=False)
    bcc_sender = forms.BooleanField(label="Add the sender in BCC", required=False)

    def clean(self):
        super().clean()
        data = self.cleaned_data
        if not data.get("html", "").strip() and not data.get("text", "").strip():
            raise forms.ValidationError("Write the signature in HTML, in plain text or both.")
        return data


class ContactDetailsForm(forms.ModelForm):
    class Meta:
        model = ContactDetails
        fields = ["title", "department", "phone", "address"]
        widgets = {"address": forms.Textarea(attrs={"rows": 3})}


PLACEHOLDER_HELP = "Placeholders: " + ", ".join(f"{{{p}}}" for p in PLACEHOLDERS) + "."


class SignatureTemplateForm(forms.Form):
    name = forms.CharField(max_length=100)
    html = forms.CharField(
        label="HTML",
        max_length=Signature._meta.get_field("html").max_length,
        widget=forms.Textarea(attrs={"rows": 8, "spellcheck": "false"}),
        help_text=PLACEHOLDER_HELP + " Values are inserted as text, never as markup; the HTML "
        "allows what owners' signatures allow (anything else is removed when you save).",
    )
    text = forms.CharField(
        label="Plain text",
        required=False,
        max_length=Signature._meta.get_field("text").max_length,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text="With the same placeholders. Leave empty to derive it from the HTML.",
    )
    all_accounts = forms.TypedChoiceField(
        label="Accounts",
        choices=[("1", "Every account of the domain"), ("0", "The accounts chosen below")],
        coerce=lambda value: value == "1",
        widget=forms.RadioSelect,
        initial="1",
    )
    accounts: forms.ModelMultipleChoiceField[Mailbox] = forms.ModelMultipleChoiceField(
        label="Chosen accounts",
        queryset=None,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    owners_may_edit = forms.TypedChoiceField(
        label="Owners",
        choices=[("0", "Use it only (locked)"), ("1", "May edit their copy")],
        coerce=lambda value: value == "1",
        widget=forms.RadioSelect,
        initial="0",
        help_text="An owner's edits are replaced the next time this template changes.",
    )

    def __init__(self, *args, mailboxes, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        typed_field(self, "accounts", forms.ModelMultipleChoiceField).queryset = mailboxes
