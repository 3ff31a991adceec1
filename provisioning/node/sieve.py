"""Pure renderers of the Sieve scripts the agent writes (Pigeonhole runs them at delivery).

User text (autoresponder subject and body) only ever appears inside Sieve quoted strings,
with backslash and double quote escaped; no extension that interprets string contents
(variables, encoded-character) is required, so "${...}" or anything that looks like Sieve
arrives verbatim. Control characters other than line breaks in the body are refused.
"""

from __future__ import annotations

import hashlib
import math
import re
from datetime import datetime

SPAM_TO_JUNK = """\
require ["fileinto", "mailbox"];
# Every account's first script; an account may turn it off to get spam in its inbox.
if header :is "X-Spam-Flag" "YES" {
  fileinto :create "Junk";
  stop;
}
"""

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_ISO = "%Y-%m-%dT%H:%M:%S"
MAX_DAYS = 30  # Pigeonhole's sieve_vacation_max_period is 60 days by default


class SieveError(ValueError):
    """A value cannot be put into a Sieve script safely."""


def quote(text: str) -> str:
    """A Sieve quoted string (RFC 5228 2.4.2): only backslash and double quote are special."""
    if _CONTROL.search(text):
        raise SieveError("control characters are not allowed")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def autoreply_script(
    *, address: str, subject: str, body: str, start: datetime | None, end: datetime | None
) -> str:
    """A vacation rule limited to [start, end) in UTC; one reply per sender per interval."""
    subject = " ".join(subject.split())  # a header: no line breaks
    body = body.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\r\n")
    conditions = ['not header :is "X-Spam-Flag" "YES"']
    if start is not None:
        conditions.append(f'currentdate :zone "+0000" :value "ge" "iso8601" "{start:{_ISO}}"')
    if end is not None:
        conditions.append(f'currentdate :zone "+0000" :value "lt" "iso8601" "{end:{_ISO}}"')
    days = MAX_DAYS
    if start is not None and end is not None:
        days = min(MAX_DAYS, max(1, math.ceil((end - start).total_seconds() / 86400)))
    # A new handle when the text or the interval changes resets who was already answered.
    handle = hashlib.sha256(f"{subject}\0{body}\0{start}\0{end}".encode()).hexdigest()[:16]
    return (
        'require ["vacation", "date", "relational"];\n'
        f"if allof ({', '.join(conditions)}) {{\n"
        f'  vacation :days {days} :handle "tm-{handle}" :from {quote(address)}\n'
        f"    :subject {quote(subject)}\n"
        f"    {quote(body)};\n"
        "}\n"
    )
