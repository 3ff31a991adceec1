"""Redis clients for the panel's own requests (sent counters, API rate limits).

One connection pool per URL for the life of the process, short timeouts and no retries: a
page or API call waits at most half a second for a Redis that is away, then carries on
without it (each caller says how)."""

from __future__ import annotations

from functools import cache
from typing import Any

TIMEOUT_SECONDS = 0.5


@cache
def panel_redis(url: str) -> Any:
    import redis

    return redis.Redis.from_url(
        url, socket_connect_timeout=TIMEOUT_SECONDS, socket_timeout=TIMEOUT_SECONDS, retry=None
    )
