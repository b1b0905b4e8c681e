"""Signed, expiring download tokens: round trip, determinism, expiry, tampering, garbage."""
from __future__ import annotations

import hashlib
import re
import string
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from itsdangerous import URLSafeSerializer

from services.download_tokens import MAX_TOKEN_LENGTH, SALT, sign, verify

SECRET = "test-secret-key"
JST = timezone(timedelta(hours=9))
NOW = datetime(2026, 11, 25, 10, 15, tzinfo=JST)
LATER = NOW + timedelta(days=7)


def forge(payload, secret=SECRET, salt=SALT) -> str:
    """A correctly signed token with an arbitrary payload (what a holder of the key could make)."""
    return URLSafeSerializer(secret, salt=salt, signer_kwargs={"digest_method": hashlib.sha256}).dumps(payload)


def test_round_trip_and_url_safety():
    token = sign(SECRET, 42, 7, LATER)
    assert verify(SECRET, token, NOW) == (42, 7)
    assert re.fullmatch(r"[A-Za-z0-9_.-]+", token) and len(token) < 100


def test_deterministic_and_distinct():
    assert sign(SECRET, 42, 7, LATER) == sign(SECRET, 42, 7, LATER)
    # the same instant in another zone is the same expiry
    assert sign(SECRET, 42, 7, LATER) == sign(SECRET, 42, 7, LATER.astimezone(timezone.utc))
    tokens = {sign(SECRET, 42, 7, LATER), sign(SECRET, 43, 7, LATER), sign(SECRET, 42, 8, LATER),
              sign(SECRET, 42, 7, LATER + timedelta(seconds=1)), sign("other-secret", 42, 7, LATER)}
    assert len(tokens) == 5


def test_expiry():
    token = sign(SECRET, 1, 2, LATER)
    assert verify(SECRET, token, LATER - timedelta(seconds=1)) == (1, 2)
    assert verify(SECRET, token, LATER - timedelta(microseconds=1)) == (1, 2)
    assert verify(SECRET, token, LATER) is None  # expiry <= now
    assert verify(SECRET, token, LATER + timedelta(days=1)) is None
    assert verify(SECRET, sign(SECRET, 1, 2, NOW - timedelta(days=1)), NOW) is None
    # a fraction of a second is dropped: the token never outlives expires_at
    fractional = LATER + timedelta(milliseconds=700)
    assert verify(SECRET, sign(SECRET, 1, 2, fractional), LATER) is None
    assert verify(SECRET, sign(SECRET, 1, 2, fractional), LATER - timedelta(microseconds=1)) == (1, 2)


def test_every_single_character_change_is_rejected():
    token = sign(SECRET, 42, 7, LATER)
    alphabet = string.ascii_letters + string.digits + "-_."
    for i, original in enumerate(token):
        for replacement in alphabet:
            if replacement != original:
                # including changes of base64's spare bits, which decode to the same bytes
                assert verify(SECRET, token[:i] + replacement + token[i + 1:], NOW) is None, (i, replacement)
    assert verify(SECRET, token[:-1], NOW) is None
    assert verify(SECRET, token[1:], NOW) is None
    assert verify(SECRET, token + "=", NOW) is None


def test_tampered_payload_with_the_old_signature():
    token = sign(SECRET, 42, 7, LATER)
    other = sign(SECRET, 43, 7, LATER)
    payload, signature = token.rsplit(".", 1)
    other_payload, _ = other.rsplit(".", 1)
    assert verify(SECRET, other_payload + "." + signature, NOW) is None
    longer = sign(SECRET, 42, 7, LATER + timedelta(days=365)).rsplit(".", 1)[0]
    assert verify(SECRET, longer + "." + signature, NOW) is None
    assert verify(SECRET, payload, NOW) is None
    assert verify(SECRET, payload + ".", NOW) is None


def test_wrong_secret_or_salt():
    token = sign(SECRET, 42, 7, LATER)
    assert verify("other-secret", token, NOW) is None
    assert verify(SECRET + " ", token, NOW) is None
    assert verify(SECRET, forge([42, 7, int(LATER.timestamp())], salt="other-salt"), NOW) is None
    assert verify(SECRET, forge([42, 7, int(LATER.timestamp())]), NOW) == (42, 7)  # the format


@pytest.mark.parametrize("payload", [
    [42, 7], [42, 7, 1, 2], {"e": 42, "d": 7, "x": 1}, "42", None, 42,
    ["42", 7, 2_000_000_000], [42, "7", 2_000_000_000], [42, 7, "2000000000"], [42, 7, 2e9],
    [True, 7, 2_000_000_000], [42, 7, True], [0, 7, 2_000_000_000], [42, -1, 2_000_000_000],
    [42.0, 7, 2_000_000_000],
])
def test_signed_but_malformed_payloads(payload):
    assert verify(SECRET, forge(payload), NOW) is None


@pytest.mark.parametrize("garbage", [
    "", ".", "..", "a", "a.b", "a.b.c", "!!!", "eyJ.abc", " " + "x" * 10, "\x00", "é.é", "😀",
    "x" * (MAX_TOKEN_LENGTH + 1), "A" * 100_000, "." * 5000,
])
def test_garbage_is_rejected(garbage):
    assert verify(SECRET, garbage, NOW) is None


def test_long_or_padded_real_tokens_are_rejected():
    token = sign(SECRET, 42, 7, LATER)
    assert verify(SECRET, token + "x" * 1000, NOW) is None
    assert verify(SECRET, token + " ", NOW) is None
    assert verify(SECRET, " " + token, NOW) is None
    assert verify(SECRET, token + "\n", NOW) is None
    assert verify(SECRET, None, NOW) is None  # type: ignore[arg-type]
    assert verify(SECRET, token.encode(), NOW) is None  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_arbitrary_text_never_verifies_or_raises(text):
    assert verify(SECRET, text, NOW) is None


@settings(max_examples=100, deadline=None)
@given(export_id=st.integers(1, 2**63 - 1), domain_id=st.integers(1, 2**63 - 1),
       offset=st.integers(1, 10 * 365 * 86400))
def test_round_trip_property(export_id, domain_id, offset):
    expires = NOW + timedelta(seconds=offset)
    token = sign(SECRET, export_id, domain_id, expires)
    assert len(token) <= MAX_TOKEN_LENGTH
    assert verify(SECRET, token, NOW) == (export_id, domain_id)
    assert verify(SECRET, token, expires) is None


def test_programming_errors_are_loud():
    naive = datetime(2026, 11, 25, 10, 15)
    with pytest.raises(ValueError):
        sign(SECRET, 1, 2, naive)
    with pytest.raises(ValueError):
        verify(SECRET, sign(SECRET, 1, 2, LATER), naive)
    for bad_id in (0, -1, True, 1.0, "1"):
        with pytest.raises(ValueError):
            sign(SECRET, bad_id, 2, LATER)  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            sign(SECRET, 1, bad_id, LATER)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        sign("", 1, 2, LATER)
    with pytest.raises(ValueError):
        verify("", "x", NOW)
