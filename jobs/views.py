"""Watching a job: its page, the progress fragment htmx polls, and the one-time download."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from jobs.services import job_take_download
from organizations.access import get_job_for_request
from security.audit import Actor


@login_required
@require_GET
def job_detail(request: HttpRequest, job_id: str) -> HttpResponse:
    job = get_job_for_request(request, job_id)
    return render(request, "jobs/job_detail.html", {"job": job, **_download(request, job)})


@login_required
@require_GET
def job_progress(request: HttpRequest, job_id: str) -> HttpResponse:
    job = get_job_for_request(request, job_id)
    return render(request, "jobs/_progress.html", {"job": job, **_download(request, job)})


@login_required
@require_POST
def job_download(request: HttpRequest, job_id: str) -> HttpResponse:
    job = get_job_for_request(request, job_id)
    if not _mine(request, job):
        messages.error(request, "Only who started this job may download its file.")
        return redirect("job_detail", job_id=job.pk)
    taken = job_take_download(actor=Actor.for_request(request), job=job)
    if taken is None:
        messages.error(request, "This file was already downloaded (it is kept for one download).")
        return redirect("job_detail", job_id=job.pk)
    name, text = taken
    response = HttpResponse(text, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["Cache-Control"] = "no-store"
    return response


def _mine(request: HttpRequest, job) -> bool:
    # Only who started the job fetches what it made (e.g. new accounts' passwords).
    return job.created_by_id is not None and job.created_by_id == request.user.pk


def _download(request: HttpRequest, job) -> dict[str, bool]:
    return {"may_download": bool(job.download) and _mine(request, job)}
