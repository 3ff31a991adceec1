from __future__ import annotations

from django import forms
from django.core.files.uploadedfile import UploadedFile

from imports.models import ImportMode
from imports.parsing import MAX_FILE_BYTES


class UploadForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        help_text=f"UTF-8, columns separated by ',' or ';' (as Excel saves them); at most "
        f"{MAX_FILE_BYTES // 1024**2} MB.",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
    )

    def clean_file(self) -> UploadedFile:
        upload = self.cleaned_data["file"]
        if upload.size > MAX_FILE_BYTES:
            raise forms.ValidationError(
                f"The file is {upload.size / 1024**2:.1f} MB; at most "
                f"{MAX_FILE_BYTES // 1024**2} MB are accepted. Split it."
            )
        return upload


class ModeForm(forms.Form):
    mode = forms.ChoiceField(
        label="Import", choices=ImportMode.choices, widget=forms.RadioSelect,
        initial=ImportMode.VALID_LINES,
    )  # fmt: skip
