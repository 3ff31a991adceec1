"""The account list's batch form: deactivate, reactivate, delete (after the admin's password)
or export the ticked accounts or all that match the list's filter (mailboxes/batch.py)."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from domains.models import Domain
from mailboxes.account_forms import DeleteForm
from mailboxes.batch import (
    ACTIONS,
    Selection,
    batch_export_record,
    batch_start,
    export_rows,
    parse_ids,
    selection_ids,
)
from mailboxes.models import Mailbox
from mailboxes.selectors import SORTS, STATUS_FILTERS
from organizations.access import get_domain_for_request
from security import reauth
from security.audit import Actor
from tempusmail.csv_safety import neutralise

BOM = "\ufeff"  # Excel reads the file as UTF-8 only with it
PREVIEW = 10  # addresses named on the delete confirmation


def _selection(request: HttpRequest) -> Selection:
    post = request.POST
    status = post.get("status", "")
    sort = post.get("sort", "")
    return Selection(
        all_matching=post.get("scope") == "all",
        ids=parse_ids(post.getlist("selected")),
        query=post.get("q", "")[:200],
        status=status if status in STATUS_FILTERS else "",
        sort=sort if sort.lstrip("-") in SORTS else "address",
    )


def _back(domain: Domain, selection: Selection) -> HttpResponse:
    """To the list, with the filter the admin was looking at."""
    query = {"q": selection.query, "status": selection.status, "sort": selection.sort}
    query = {k: v for k, v in query.items() if v}
    url = reverse("mailbox_list", args=[domain.pk])
    return redirect(f"{url}?{urlencode(query)}" if query else url)


@sensitive_post_parameters("password")
@login_required
@require_POST
def mailbox_batch(request: HttpRequest, domain_id: int) -> HttpResponse | StreamingHttpResponse:
    domain = get_domain_for_request(request, domain_id, write=True)
    selection = _selection(request)
    action = request.POST.get("action", "")
    if action != "export" and action not in ACTIONS:
        messages.error(request, "Choose what to do with the selected accounts.")
        return _back(domain, selection)
    if action == "export":
        return _export(request, domain, selection)
    ids = selection_ids(domain, selection)
    if not ids:
        messages.error(request, "Select at least one account first.")
        return _back(domain, selection)
    if action == "delete":
        return _delete(request, domain, selection, ids)
    job = batch_start(actor=Actor.for_request(request), domain=domain, action=action, ids=ids)
    return redirect("job_detail", job_id=job.pk)


def _delete(
    request: HttpRequest, domain: Domain, selection: Selection, ids: list[int]
) -> HttpResponse:
    """First the confirmation page; its POST (with the admin's password, in a fresh session)
    starts the job."""
    form = DeleteForm(None, user=request.user)
    if request.POST.get("confirm"):
        count = len(ids)
        what = f"delete {count} account{'s' if count != 1 else ''}"
        if stop := reauth.required(request, action=what):
            return stop
        form = DeleteForm(request.POST, user=request.user)
        if form.is_valid():
            job = batch_start(
                actor=Actor.for_request(request), domain=domain, action="delete", ids=ids
            )
            return redirect("job_detail", job_id=job.pk)
    addresses = [f"{local}@{domain.name}" for local in _local_parts(ids[:PREVIEW])]
    context = {
        "domain": domain,
        "form": form,
        "selection": selection,
        "count": len(ids),
        "addresses": addresses,
        "more": max(0, len(ids) - PREVIEW),
    }
    return render(request, "mailboxes/batch_delete.html", context)


def _local_parts(ids: list[int]) -> list[str]:
    by_id = dict(Mailbox.objects.filter(pk__in=ids).values_list("id", "local_part"))
    return [by_id[i] for i in ids if i in by_id]


class _Line:
    """csv.writer writes into this and gets the line back, so rows stream one at a time."""

    def write(self, value: str) -> str:
        return value


def _csv_lines(rows: Iterator[list[str]]) -> Iterator[str]:
    writer = csv.writer(_Line())
    yield BOM
    for row in rows:
        yield writer.writerow([neutralise(cell) for cell in row])


def _export(
    request: HttpRequest, domain: Domain, selection: Selection
) -> HttpResponse | StreamingHttpResponse:
    if not selection.all_matching and not selection.ids:
        messages.error(request, "Select at least one account first.")
        return _back(domain, selection)
    batch_export_record(actor=Actor.for_request(request), domain=domain, selection=selection)
    response = StreamingHttpResponse(
        _csv_lines(export_rows(domain, selection)), content_type="text/csv; charset=utf-8"
    )
    name = f"{domain.name}-accounts-{timezone.now():%Y%m%d-%H%M}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["Cache-Control"] = "no-store"
    return response
