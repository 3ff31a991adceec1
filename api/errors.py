"""The API's error answers, all of one shape:

    {"error": {"code": "validation", "message": "...", "fields": {"field": ["msg", ...]}}}

``fields`` is present only when particular inputs are at fault. Service ValidationErrors keyed
by field become exactly that, with the messages the pages show.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.http import JsonResponse


def api_error(
    status: int,
    code: str,
    message: str,
    *,
    fields: Mapping[str, Sequence[str]] | None = None,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, str] | None = None,
) -> JsonResponse:
    """extra: more members of the error, such as a 500's ``request_id``."""
    error: dict[str, object] = {"code": code, "message": message}
    if fields:
        error["fields"] = {name: list(messages) for name, messages in fields.items()}
    error.update(extra or {})
    response = JsonResponse({"error": error}, status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def validation_error(exc: ValidationError, *, status: int = 400) -> JsonResponse:
    """A ValidationError as a 400: messages keyed by field go into ``fields``; the others (and
    a summary when there are none) into ``message``."""
    if not hasattr(exc, "error_dict"):
        return api_error(status, "validation", " ".join(exc.messages))
    by_field = exc.message_dict
    general = list(by_field.pop(NON_FIELD_ERRORS, []))
    message = " ".join(general) or "Some fields are not valid."
    return api_error(status, "validation", message, fields=by_field)


def unauthorized(message: str) -> JsonResponse:
    return api_error(
        401, "unauthorized", message, headers={"WWW-Authenticate": 'Bearer realm="api"'}
    )


def not_found(message: str = "Not found.") -> JsonResponse:
    return api_error(404, "not_found", message)


def forbidden(message: str) -> JsonResponse:
    return api_error(403, "forbidden", message)
