"""The CSV import pages: upload (and the template), the preview of every line, the start.

An upload is its uploader's alone: another admin of the domain (or a stale link) is sent back
to the upload form, as the wizard does with a run it did not start.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from domains.models import Domain
from imports.checks import SERVICE_NAMES
from imports.forms import ModeForm, UploadForm
from imports.models import ImportUpload
from imports.parsing import MAX_LINES
from imports.services import import_start, import_upload_create, template_csv
from organizations.access import get_domain_for_request
from security.audit import Actor

PREVIEW_ROWS = 100


@login_required
@require_http_methods(["GET", "POST"])
def import_page(request: HttpRequest, domain_id: int) -> HttpResponse:
    domain = get_domain_for_request(request, domain_id, write=True)
    form = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        file = form.cleaned_data["file"]
        upload = import_upload_create(
            actor=Actor.for_request(request), domain=domain, filename=file.name, data=file.read()
        )
        return redirect("import_preview", domain_id=domain.pk, upload_id=upload.pk)
    return render(request, "imports/upload.html", _context(domain, form))


@login_required
@require_GET
def import_template(request: HttpRequest, domain_id: int) -> HttpResponse:
    domain = get_domain_for_request(request, domain_id)
    response = HttpResponse(template_csv(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="accounts-{domain.name}.csv"'
    return response


@login_required
@require_GET
def import_preview(request: HttpRequest, domain_id: int, upload_id: str) -> HttpResponse:
    domain = get_domain_for_request(request, domain_id, write=True)
    upload = _upload(request, domain, upload_id)
    if upload is None:
        return _gone(request, domain)
    if upload.job_id is not None:
        return redirect("job_detail", job_id=upload.job_id)
    return render(request, "imports/preview.html", _preview(domain, upload, ModeForm()))


@login_required
@require_POST
def import_begin(request: HttpRequest, domain_id: int, upload_id: str) -> HttpResponse:
    domain = get_domain_for_request(request, domain_id, write=True)
    upload = _upload(request, domain, upload_id)
    if upload is None:
        return _gone(request, domain)
    form = ModeForm(request.POST)
    if form.is_valid():
        try:
            job = import_start(
                actor=Actor.for_request(request), upload=upload, mode=form.cleaned_data["mode"]
            )
        except ValidationError as exc:
            errors = exc.message_dict if hasattr(exc, "error_dict") else {None: exc.messages}
            for field, messages_ in errors.items():
                form.add_error(field if field in form.fields else None, messages_)
        else:
            return redirect("job_detail", job_id=job.pk)
    return render(request, "imports/preview.html", _preview(domain, upload, form), status=400)


def _upload(request: HttpRequest, domain: Domain, upload_id: str) -> ImportUpload | None:
    return ImportUpload.objects.filter(
        pk=upload_id, domain=domain, uploaded_by=request.user.pk
    ).first()


def _gone(request: HttpRequest, domain: Domain) -> HttpResponse:
    messages.info(request, "That upload is no longer available: upload the file again.")
    return redirect("import_page", domain_id=domain.pk)


def _context(domain: Domain, form: UploadForm) -> dict[str, object]:
    return {"domain": domain, "form": form, "service_names": SERVICE_NAMES,
            "max_lines": MAX_LINES}  # fmt: skip


def _preview(domain: Domain, upload: ImportUpload, form: ModeForm) -> dict[str, object]:
    return {
        **_context(domain, UploadForm()),
        "upload": upload,
        "mode_form": form,
        "rows": upload.rows[:PREVIEW_ROWS],
        "more_rows": max(len(upload.rows) - PREVIEW_ROWS, 0),
    }
