"""Keeps secrets out of log lines: password hashes, TOTP keys, the secret key and SQL values.

Plain passwords never reach a logger of ours; what can reach one by accident is a value that
travels inside something else: a mailbox hash in a task's message or an exception, session data
(the wizard keeps the new password there until confirm) or a TOTP key in logged SQL. So every
record is rewritten before a handler formats it: logged SQL keeps its shape but loses its
values, and anything that looks like a hash or a key is replaced.
"""

from __future__ import annotations

import logging
import re

from django.conf import settings

MASK = "[redacted]"

_SECRET_PATTERNS = [
    # crypt(3) hashes, as Dovecot stores them ({SHA512-CRYPT}$6$...), and Django's own hashes.
    re.compile(r"(?:\{[A-Z0-9-]+\})?\$(?:1|2[abxy]?|5|6|y|7)\$[^\s'\",;)\]}]+"),
    re.compile(
        r"\b(?:pbkdf2_sha256|pbkdf2_sha1|argon2|bcrypt_sha256|bcrypt|scrypt|md5)\$[^\s'\",;]+"
    ),
    # A PEM private key (a DKIM key inside a node's apply payload), its newlines escaped or not.
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S),
    # The key of a TOTP enrolment (otpauth://totp/...?secret=BASE32&...).
    re.compile(r"(?i)(?<=secret=)[A-Z2-7]+=*"),
]
# SQL string literals ('it''s') and the repr() of Python strings and bytes in logged params.
_SQL_LITERAL = re.compile(r"""[bE]?'(?:[^'\\]|\\.|'')*'""")


def redact(text: str) -> str:
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(MASK, text)
    secret_key = getattr(settings, "SECRET_KEY", "")
    if len(secret_key) >= 8:
        text = text.replace(secret_key, MASK)
    return text


def redact_sql(sql: str) -> str:
    return _SQL_LITERAL.sub(f"'{MASK}'", sql)


class RedactSecrets(logging.Filter):
    """Rewrites a record's message and traceback text; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("django.db.backends"):
            self._redact_sql_record(record)
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: the handler reports it, as without us
            return True
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True

    @staticmethod
    def _redact_sql_record(record: logging.LogRecord) -> None:
        # Django logs the SQL and its params as arguments of the message, and in `extra` too.
        if isinstance(record.args, tuple):
            record.args = tuple(_without_values(arg) for arg in record.args)
        for name in ("sql", "params"):
            if hasattr(record, name):
                setattr(record, name, _without_values(getattr(record, name)))


def _without_values(arg: object) -> object:
    if isinstance(arg, str):
        return redact_sql(arg)
    if isinstance(arg, list | tuple | dict):
        return f"<{len(arg)} values>"
    return arg  # the duration, None
