"""The guard's HTTP endpoint for Dovecot's auth policy client (auth_policy_server_url).

Dovecot POSTs JSON to "/?command=allow" or "/?command=report" over kept-alive HTTP/1.1
connections and reads `{"status": N, "msg": ...}`. Only what Dovecot sends is understood:
requests with a Content-Length body. Anything else is answered 400 and the connection closed;
an error inside the guard answers status 0 (logins go on: the guard must never lock everyone
out), and is logged.
"""

from __future__ import annotations

import asyncio
import json
import logging
from urllib.parse import parse_qs, urlsplit

from provisioning.policy.guard import Guard

log = logging.getLogger(__name__)

MAX_HEAD = 8 * 1024
MAX_BODY = 64 * 1024


class GuardHttp:
    def __init__(self, guard: Guard) -> None:
        self.guard = guard
        self._connections: set[asyncio.Task[None]] = set()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            while await self._one(reader, writer):
                pass
        except (ConnectionError, asyncio.CancelledError, asyncio.IncompleteReadError):
            pass
        except asyncio.LimitOverrunError:
            writer.write(_response(400, b'{"status": 0, "msg": "request too long"}'))
        finally:
            self._connections.discard(task)
            writer.close()

    async def _one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Answer one request; False when the connection is to end."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return False
        lines = head.decode("latin-1").split("\r\n")
        method, _, rest = lines[0].partition(" ")
        target = rest.rpartition(" ")[0]
        headers = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        length = headers.get("content-length", "0")
        if method != "POST" or not length.isdigit() or int(length) > MAX_BODY:
            writer.write(_response(400, b'{"status": 0, "msg": "bad request"}'))
            return False
        body = await reader.readexactly(int(length))
        command = parse_qs(urlsplit(target).query).get("command", [""])[0]
        status = await self._answer(command, body)
        log.debug("guard: %s %s -> %s", command, body, status)
        payload = json.dumps({"status": status, "msg": ""}).encode()
        writer.write(_response(200, payload))
        await writer.drain()
        return headers.get("connection", "").lower() != "close"

    async def _answer(self, command: str, body: bytes) -> int:
        try:
            request = json.loads(body)
            if not isinstance(request, dict):
                return 0
            if command == "report":
                await self.guard.report(request)
                return 0
            return await self.guard.allow(request)
        except Exception:
            log.exception("guard: request not decided; letting the login go on")
            return 0

    async def close(self) -> None:
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)


def _response(code: int, payload: bytes) -> bytes:
    reason = b"OK" if code == 200 else b"Bad Request"
    return b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (
        code,
        reason,
        len(payload),
        payload,
    )
