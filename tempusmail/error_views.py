"""The panel's answer to an unexpected error (handler500 in tempusmail/urls.py): the request id
that the log carries beside the traceback, as JSON under /api/ and as a small page elsewhere.
Nothing here touches the database or the template engine, which may be what failed."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseServerError
from django.utils.html import escape

from tempusmail.request_guard import api_error, is_api

MESSAGE = "Something went wrong on our side. It is logged under request id {id}."


def server_error(request: HttpRequest) -> HttpResponse:
    request_id = getattr(request, "request_id", "") or "-"
    if is_api(request):
        message = MESSAGE.format(id=request_id)
        return api_error(request, 500, message, extra={"request_id": request_id})
    page = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        "<title>Server error · TempusMail</title></head><body><h1>Server error</h1>"
        f"<p>{escape(MESSAGE.format(id=request_id))}</p>"
        "<p>Please try again in a moment, and quote the id if you report it.</p></body></html>"
    )
    return HttpResponseServerError(page)
