"""The one place every request passes before a view: refuses values nothing behind the panel
can hold, gives each request an id, and keeps the API's errors JSON.

- A NUL character, bytes that are not UTF-8 or a lone surrogate anywhere (path, query string,
  headers, form fields, JSON bodies), and a control character in a one-line
  place (path, query string, headers) answer 400 before any view runs, so nothing is written
  and no view needs to be careful: a page saying which field holds what, or under /api/ the
  API's JSON error with ``fields``. What is left to the forms is in tempusmail/input_faults.py
  and docs/architecture.md ("Hostile input").
- ``request.request_id`` (also the X-Request-ID header of the answer) is logged beside any
  traceback (tempusmail/request_id.py), and an API 500 gives it in its body.
- Under /api/ every error answer that is not JSON yet (Django's 404, a 405 of ``require_GET``,
  a 400 for a bad Host) becomes the API's JSON error of the same status.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from django.core.exceptions import BadRequest, SuspiciousOperation
from django.core.handlers.exception import response_for_exception
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse

from tempusmail.input_faults import Fault, request_faults
from tempusmail.request_id import new_request_id

API_PREFIX = "/api/"
WEBMAIL_API_PREFIX = "/api/webmail/"
_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
          405: "method_not_allowed", 413: "too_large", 429: "rate_limited",
          500: "server_error"}  # fmt: skip


class RequestGuardMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.request_id = new_request_id()  # type: ignore[attr-defined]
        try:
            faults = request_faults(request)
        except (SuspiciousOperation, BadRequest) as exc:  # a body past the size limits
            response = response_for_exception(request, exc)
        else:
            response = _refusal(request, faults) if faults else self.get_response(request)
        if is_api(request) and response.status_code >= 400 and not _is_json(response):
            response = _as_api_error(request, response)
        response["X-Request-ID"] = request.request_id  # type: ignore[attr-defined]
        return response


def is_api(request: HttpRequest) -> bool:
    return request.path_info.startswith(API_PREFIX)


def api_error(
    request: HttpRequest,
    status: int,
    message: str,
    *,
    code: str | None = None,
    fields: dict[str, list[str]] | None = None,
    extra: dict[str, str] | None = None,
) -> JsonResponse:
    """An error in the shape of the API the path belongs to: the webmail endpoint's
    ``{"error": message}`` (docs/webmail.md), else api/errors.py's ``{"error": {...}}``."""
    from api.errors import api_error as v1_error  # the api app is loaded after this module

    if request.path_info.startswith(WEBMAIL_API_PREFIX):
        return JsonResponse({"error": message, **(extra or {})}, status=status)
    code = code or _CODES.get(status, "error")
    return v1_error(status, code, message, fields=fields, extra=extra)


def _refusal(request: HttpRequest, faults: Sequence[Fault]) -> HttpResponse:
    if is_api(request):
        fields: dict[str, list[str]] = {}
        for fault in faults:
            fields.setdefault(fault.name, []).append(fault.message)
        inputs = all(fault.place in ("query", "json", "form") for fault in faults)
        code = "validation" if inputs else "bad_request"
        return api_error(request, 400, faults[0].message, code=code, fields=fields)
    # Back to the page the form is on (GET), unless the address itself was at fault.
    at_path = any(fault.place == "path" for fault in faults)
    back = reverse("home") if at_path else request.path
    context = {"faults": faults, "back": back}
    return render(request, "request_refused.html", context, status=400)


def _is_json(response: HttpResponse) -> bool:
    return response.get("Content-Type", "").startswith("application/json")


def _as_api_error(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    status = response.status_code
    message = {404: "Not found."}.get(status, f"{response.reason_phrase}.")
    if status == 405 and response.has_header("Allow"):
        message = f"Use {response['Allow']}."
    converted = api_error(request, status, message)
    for header in ("Allow", "Retry-After", "WWW-Authenticate"):
        if response.has_header(header):
            converted[header] = response[header]
    return converted
