"""The DKIM & spam tab's forms: a DKIM action with its algorithm or selector; the spam scores."""

from __future__ import annotations

from django import forms

ACTIONS = [("generate", "Generate"), ("rotate", "Rotate"), ("activate", "Activate")]


class DkimActionForm(forms.Form):
    action = forms.ChoiceField(choices=ACTIONS)
    algorithm = forms.ChoiceField(
        choices=[("rsa", "RSA 2048 (every receiver verifies it)"), ("ed25519", "Ed25519")],
        initial="rsa",
        required=False,
    )
    selector = forms.CharField(max_length=63, required=False)

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        if data.get("action") == "activate" and not data.get("selector"):
            self.add_error("selector", "Choose the key to activate.")
        data["algorithm"] = data.get("algorithm") or "rsa"
        return data


class SpamScoresForm(forms.Form):
    spam_junk_score = forms.DecimalField(
        label="Junk from score", max_digits=5, decimal_places=1,
        help_text="Inbound mail scoring this or more goes to Junk (or the inbox, for accounts "
        "that asked for spam there).",
    )  # fmt: skip
    spam_reject_score = forms.DecimalField(
        label="Refuse from score", max_digits=5, decimal_places=1,
        help_text="Inbound mail scoring this or more is refused with a 5xx reply.",
    )  # fmt: skip
