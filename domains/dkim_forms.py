"""The DKIM tab's one form: which action, with its algorithm or selector."""

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
