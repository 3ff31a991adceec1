"""Each request's id: set by the request guard, sent back as X-Request-ID, written beside the
traceback of an unexpected error (the log filter below) and shown on the 500 answer, so a
report that quotes it finds its traceback."""

from __future__ import annotations

import logging
import uuid


def new_request_id() -> str:
    return uuid.uuid4().hex


class RequestIdLogFilter(logging.Filter):
    """On the django.request logger: adds "[request <id>]" to records that carry a request
    ("Internal Server Error: /path" with its traceback), before any handler sees them."""

    def filter(self, record: logging.LogRecord) -> bool:
        request_id = getattr(getattr(record, "request", None), "request_id", None)
        record.request_id = request_id or "-"
        if request_id:
            record.msg = f"{record.msg} [request {request_id}]"
        return True
