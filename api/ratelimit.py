"""Requests per key per minute, counted in Redis (API_RATE_LIMIT_REDIS_URL).

A fixed one-minute window: INCR of ``<prefix>api/rate/<key prefix>/<minute>`` with an expiry,
one round trip. At most twice the limit can pass around a minute's boundary, which is fine for
a limit meant against runaway scripts rather than for billing.

Redis unreachable: the request is allowed and a warning logged (every time). Refusing would
stop every integration whenever Redis restarts; the key's own checks (revocation, expiry,
networks, scope) do not depend on Redis and still hold.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.conf import settings

from security import clock
from tempusmail.redis_clients import panel_redis

log = logging.getLogger(__name__)

WINDOW_SECONDS = 60


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after: int = 0  # seconds until the window ends, when refused


def check(key_prefix: str) -> Verdict:
    """Count one request of the key; refuse it when the minute's count passes the limit."""
    import redis

    limit = settings.API_RATE_LIMIT_PER_MINUTE
    if limit <= 0:  # 0: no limit
        return Verdict(allowed=True)
    now = int(clock.now().timestamp())
    window = now // WINDOW_SECONDS
    name = f"{settings.API_RATE_LIMIT_REDIS_PREFIX}api/rate/{key_prefix}/{window}"
    try:
        pipe = panel_redis(settings.API_RATE_LIMIT_REDIS_URL).pipeline()
        pipe.incr(name)
        pipe.expire(name, WINDOW_SECONDS * 2)
        count, _ = pipe.execute()
    except (redis.RedisError, OSError) as exc:
        log.warning("API rate limit not counted (Redis unreachable), request allowed: %s", exc)
        return Verdict(allowed=True)
    if count > limit:
        return Verdict(allowed=False, retry_after=(window + 1) * WINDOW_SECONDS - now)
    return Verdict(allowed=True)
