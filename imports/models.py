from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class ImportMode(models.TextChoices):
    VALID_LINES = "valid_lines", "Create the valid lines"
    ALL_OR_NOTHING = "all_or_nothing", "All or nothing"


class ImportUpload(models.Model):
    """A CSV file of accounts, parsed and checked, waiting to be imported (or imported).

    Only its uploader on its domain reaches it. `rows` holds the lines that passed the checks
    as plain JSON for the import job; passwords typed in the file are in there until the job
    ends (import_run empties `rows`), generated ones never are.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    domain = models.ForeignKey(
        "domains.Domain", on_delete=models.CASCADE, related_name="import_uploads"
    )
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="import_uploads"
    )
    filename = models.CharField(max_length=200, blank=True)
    lines = models.PositiveIntegerField(default=0)  # data lines in the file
    rows = models.JSONField(default=list, blank=True)  # the valid lines, see imports.checks
    errors = models.JSONField(default=list, blank=True)  # [{"line", "column", "message"}]
    job = models.OneToOneField(
        "jobs.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="import_upload"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)  # claimed by the import job

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.filename or str(self.pk)

    @property
    def valid_count(self) -> int:
        return len(self.rows)

    @property
    def rejected_lines(self) -> int:
        return len({e["line"] for e in self.errors if e["line"]})

    @property
    def file_error(self) -> bool:
        """An error of the whole file (encoding, header): no line can be imported."""
        return any(not e["line"] for e in self.errors)
