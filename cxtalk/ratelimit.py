"""Per-token rate limiting of GraphQL requests: a token bucket in Redis, shared by all API processes.

Each token (or, without one, each client address) has its own bucket, so one domain's flood
never slows another's. If Redis does not answer quickly the request is let through: the limit
protects capacity, it is not a security boundary.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time

import redis.asyncio as aioredis

log = logging.getLogger("cxtalk.ratelimit")

# KEYS[1] bucket; ARGV: rate per second, burst, now (s). Returns {allowed, seconds until one token}.
_TOKEN_BUCKET = """
local rate, burst, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local allowed = 0
if tokens >= 1 then tokens = tokens - 1 allowed = 1 end
redis.call('HSET', KEYS[1], 'tokens', tokens, 'at', now)
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 1)
if allowed == 1 then return {1, '0'} end
return {0, tostring((1 - tokens) / rate)}
"""


class RateLimitMiddleware:
    def __init__(self, app, redis_url: str | None, per_second: float, burst: int, paths=("/graphql",)):
        self.app = app
        self.per_second, self.burst, self.paths = per_second, burst, paths
        self.redis = aioredis.from_url(redis_url, socket_timeout=0.25, socket_connect_timeout=0.25) \
            if redis_url and per_second > 0 else None
        self.script = self.redis.register_script(_TOKEN_BUCKET) if self.redis else None

    def _key(self, scope) -> str:
        headers = dict(scope.get("headers") or [])
        credential = headers.get(b"authorization") or (scope.get("client") or ("anonymous",))[0].encode()
        return "cxtalk:rate:" + hashlib.sha256(credential).hexdigest()[:32]

    async def __call__(self, scope, receive, send):
        if self.script is None or scope["type"] != "http" or scope["path"] not in self.paths:
            return await self.app(scope, receive, send)
        try:
            allowed, retry = await asyncio.wait_for(
                self.script(keys=[self._key(scope)], args=[self.per_second, self.burst, time.time()]), 0.5)
        except Exception as exc:  # Redis slow or down: fail open
            log.debug("rate limit skipped: %s", exc)
            return await self.app(scope, receive, send)
        if int(allowed) == 1:
            return await self.app(scope, receive, send)
        retry_after = max(float(retry), 0.001)
        body = json.dumps({"data": None, "errors": [{
            "message": f"Too many requests for this token; retry after {retry_after:.3f} s.",
            "extensions": {"code": "RATE_LIMITED", "retryAfter": round(retry_after, 3)}}]}).encode()
        await send({"type": "http.response.start", "status": 429, "headers": [
            (b"content-type", b"application/json"), (b"retry-after", str(max(1, round(retry_after + 0.5))).encode())]})
        await send({"type": "http.response.body", "body": body})
