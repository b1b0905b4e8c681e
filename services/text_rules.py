"""Text rules of window accounts: normalisation, lengths, characters, uniqueness keys."""
from __future__ import annotations

import re
import unicodedata

from services.errors import BusinessError, ErrorCode

NAME_MAX = 20
HANDLE_MAX = 20
DESCRIPTION_MAX = 100
HANDLE_RE = re.compile(r"[a-z0-9]{1,20}")

# Cc: control characters, Cs: lone surrogates (cannot be stored), Zl/Zp: line breaks in disguise.
_FORBIDDEN_CATEGORIES = {"Cc", "Cs", "Zl", "Zp"}


def clean_text(value: str) -> str:
    """NFC-normalise and trim surrounding white space; lengths are counted on the result."""
    return unicodedata.normalize("NFC", value).strip()


def has_forbidden_chars(value: str, allow_newlines: bool = False) -> bool:
    for ch in value:
        if allow_newlines and ch in "\n\t":
            continue
        if unicodedata.category(ch) in _FORBIDDEN_CATEGORIES:
            return True
    return False


def search_term(value: str | None) -> str:
    """A search string without control characters (PostgreSQL refuses NUL in text)."""
    text = clean_text(value or "")
    return "".join(ch for ch in text if unicodedata.category(ch) not in _FORBIDDEN_CATEGORIES)


def uniqueness_key(name: str) -> str:
    """NFKC + casefold, so 'Ｓｕｐｐｏｒｔ' and 'support' collide."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())


def account_name(value: str | None, field: str = "name") -> str:
    return required_text(value, field, NAME_MAX)


def handle(value: str | None, field: str = "handle") -> str:
    """Lowercase ASCII letters and digits, 1–20 characters; never altered (no trimming)."""
    if value is None or not HANDLE_RE.fullmatch(value):
        raise BusinessError.one(
            ErrorCode.HANDLE_INVALID, field,
            f"The ID must be 1–{HANDLE_MAX} lowercase letters a–z or digits 0–9.")
    return value


def description(value: str | None, field: str = "description") -> str | None:
    """Optional; empty means none. Newlines and tabs are allowed, other control characters are not."""
    if value is None:
        return None
    text = clean_text(value)
    if not text:
        return None
    if has_forbidden_chars(text, allow_newlines=True):
        raise BusinessError.one(ErrorCode.INVALID, field, "The description must not contain control characters.")
    if len(text) > DESCRIPTION_MAX:
        raise BusinessError.one(
            ErrorCode.TOO_LONG, field, f"The description can have at most {DESCRIPTION_MAX} characters.")
    return text


def required_text(value: str | None, field: str, max_len: int = 100) -> str:
    """A one-line name: NFC, trimmed, 1..max_len characters, no control characters."""
    text = clean_text(value or "")
    if not text:
        raise BusinessError.one(ErrorCode.REQUIRED, field, "Enter a name.")
    if has_forbidden_chars(text):
        raise BusinessError.one(ErrorCode.INVALID, field, "The name must not contain control characters.")
    if len(text) > max_len:
        raise BusinessError.one(ErrorCode.TOO_LONG, field, f"At most {max_len} characters.")
    return text


_EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def email(value: str | None, field: str = "email") -> str:
    text = (value or "").strip()
    if not text:
        raise BusinessError.one(ErrorCode.REQUIRED, field, "Enter an email address.")
    if len(text) > 254:
        raise BusinessError.one(ErrorCode.TOO_LONG, field, "At most 254 characters.")
    if has_forbidden_chars(text) or not _EMAIL_RE.fullmatch(text):
        raise BusinessError.one(ErrorCode.INVALID, field, "Enter a valid email address.")
    return text
