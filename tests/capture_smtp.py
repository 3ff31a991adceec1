"""A capture smarthost for live tests: an SMTP server on a loopback port that plays "the rest of
the internet" for a mail node relaying through it.

Per recipient it accepts, defers (4xx) or refuses (5xx) by the first matching rule (fnmatch
patterns on the lower-cased address, e.g. "*@defer.test" or "bounce-*@*"; later rules win
over earlier ones, so a test can turn a deferral into an acceptance before a retry). What it
accepted is recorded whole: envelope sender, accepted recipients, the data, the AUTH login and
whether the session used STARTTLS. Optionally offers STARTTLS (an ssl.SSLContext) and AUTH
PLAIN/LOGIN against a dict of logins.

    with CaptureSMTP(auth={"relay": "secret"}) as smarthost:
        smarthost.defer("*@slow.test")
        ...                                 # the node relays to 127.0.0.1:smarthost.port
        message = smarthost.wait_for(lambda m: "x@far.test" in m.recipients)
"""

from __future__ import annotations

import fnmatch
import ssl
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.bed import free_port

HOST = "127.0.0.1"

# AUTH without TLS is what a loopback smarthost of the tests offers on purpose (the benchmark
# imports this module too; pytest has the same filter in pyproject.toml).
warnings.filterwarnings("ignore", "Requiring AUTH while not requiring TLS", UserWarning)


@dataclass(frozen=True)
class Rule:
    pattern: str
    reply: str  # "" accepts; otherwise the whole SMTP reply, e.g. "451 4.3.0 try later"


@dataclass
class Received:
    sender: str
    recipients: list[str]
    data: bytes
    login: str | None
    tls: bool
    at: float = field(default_factory=time.monotonic)

    @property
    def message(self) -> Message:
        return message_from_bytes(self.data)


class _Handler:
    def __init__(self, capture: CaptureSMTP) -> None:
        self.capture = capture

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        reply = self.capture.reply_for(address)
        self.capture.attempts.append((address, reply or "250"))
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        login = session.auth_data.login.decode() if session.authenticated else None
        self.capture.record(
            Received(
                sender=envelope.mail_from,
                recipients=list(envelope.rcpt_tos),
                data=envelope.original_content or envelope.content,
                login=login,
                tls=session.ssl is not None,
            )
        )
        return "250 2.0.0 captured"


class _Authenticator:
    def __init__(self, logins: dict[str, str]) -> None:
        self.logins = logins

    def __call__(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        if isinstance(data, LoginPassword):
            user, password = data.login.decode(), data.password.decode()
            if self.logins.get(user) == password:
                return AuthResult(success=True, auth_data=data)
        return AuthResult(success=False, handled=False)


class CaptureSMTP:
    def __init__(
        self,
        *,
        port: int = 0,
        tls: ssl.SSLContext | None = None,
        auth: dict[str, str] | None = None,
        hostname: str = "smarthost.capture.test",
    ) -> None:
        self.port = port or free_port()
        self.rules: list[Rule] = []
        self.received: list[Received] = []
        self.attempts: list[tuple[str, str]] = []  # (recipient, reply) for every RCPT
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        options: dict[str, Any] = {"server_hostname": hostname, "ident": "capture-smtp"}
        if tls is not None:
            options["tls_context"] = tls
        if auth is not None:
            options["authenticator"] = _Authenticator(auth)
            options["auth_required"] = True
            # Loopback only, and Postfix must be able to log in without TLS when none is set.
            options["auth_require_tls"] = tls is not None
        self._controller = Controller(_Handler(self), hostname=HOST, port=self.port, **options)

    # ----- rules -----------------------------------------------------------------------------

    def accept(self, pattern: str) -> None:
        self._add(pattern, "")

    def defer(self, pattern: str, reply: str = "451 4.3.0 capture: try again later") -> None:
        self._add(pattern, reply)

    def refuse(self, pattern: str, reply: str = "550 5.1.1 capture: no such user") -> None:
        self._add(pattern, reply)

    def _add(self, pattern: str, reply: str) -> None:
        with self._lock:
            self.rules.append(Rule(pattern.lower(), reply))

    def reply_for(self, address: str) -> str:
        with self._lock:
            for rule in reversed(self.rules):
                if fnmatch.fnmatchcase(address.lower(), rule.pattern):
                    return rule.reply
        return ""

    # ----- what arrived ----------------------------------------------------------------------

    def record(self, received: Received) -> None:
        with self._arrived:
            self.received.append(received)
            self._arrived.notify_all()

    def wait_for(
        self, predicate: Callable[[Received], bool], timeout: float = 20.0
    ) -> Received | None:
        """The first message matching predicate, waiting up to timeout for it to arrive."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while True:
                for message in self.received:
                    if predicate(message):
                        return message
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._arrived.wait(left)

    def to(self, recipient: str, timeout: float = 20.0) -> Received | None:
        return self.wait_for(lambda m: recipient.lower() in map(str.lower, m.recipients), timeout)

    # ----- lifecycle -------------------------------------------------------------------------

    def start(self) -> CaptureSMTP:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> CaptureSMTP:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
