"""Signed, expiring download tokens for export files (`GET /exports/{token}`).

The token is `itsdangerous.URLSafeSerializer` output (HMAC-SHA256, salt
"cxtalk-export-download") over the compact JSON `[export_id, domain_id, expires_unix]`.
It is deterministic: the same inputs give the same token, so a download URL is stable, and
canonical: no other string verifies for the same payload.
`verify` answers None for anything that is not a valid, unexpired token of this secret.
"""
from __future__ import annotations

import hashlib
import hmac
import math
from datetime import datetime

from itsdangerous import BadData, URLSafeSerializer

SALT = "cxtalk-export-download"
MAX_TOKEN_LENGTH = 1000  # real tokens are < 100 characters; longer input is refused unread


def _serializer(secret_key: str) -> URLSafeSerializer:
    if not isinstance(secret_key, str) or not secret_key:
        raise ValueError("a non-empty secret key is required")
    return URLSafeSerializer(secret_key, salt=SALT, signer_kwargs={"digest_method": hashlib.sha256})


def _aware(value: datetime, name: str) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")
    return value


def _is_id(value: object) -> bool:
    return type(value) is int and value > 0


def sign(secret_key: str, export_id: int, domain_id: int, expires_at: datetime) -> str:
    """A URL-safe token for the export; valid while `now < expires_at` (whole seconds: a
    fraction of a second in `expires_at` is dropped, so the token never outlives it)."""
    if not _is_id(export_id) or not _is_id(domain_id):
        raise ValueError("export_id and domain_id must be positive integers")
    expires = math.floor(_aware(expires_at, "expires_at").timestamp())
    return _serializer(secret_key).dumps([export_id, domain_id, expires])


def verify(secret_key: str, token: str, now: datetime) -> tuple[int, int] | None:
    """(export_id, domain_id) of a valid token that has not expired at `now`, else None."""
    serializer = _serializer(secret_key)
    _aware(now, "now")
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH or not token.isascii():
        return None
    try:
        payload = serializer.loads(token)
    except (BadData, ValueError, TypeError, UnicodeError):
        return None
    if not (isinstance(payload, list) and len(payload) == 3 and all(type(v) is int for v in payload)):
        return None
    export_id, domain_id, expires = payload
    if not _is_id(export_id) or not _is_id(domain_id):
        return None
    if expires <= now.timestamp():
        return None
    # Only the canonical spelling is accepted: base64 leaves spare bits in a last character,
    # so a few other strings decode to the same bytes; one export has one URL.
    if not hmac.compare_digest(serializer.dumps(payload), token):
        return None
    return export_id, domain_id
