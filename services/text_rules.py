"""Text rules of window accounts: normalisation, lengths, characters, uniqueness keys."""
from __future__ import annotations

import hashlib
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


def unify_line_breaks(value: str) -> str:
    """CRLF and a lone CR (form posts, Windows clients) become LF, the one line break free text
    stores; without this a CR, being a control character, would refuse an ordinary text."""
    return value.replace("\r\n", "\n").replace("\r", "\n")


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


NAME_KEY_MAX = 255  # width of window_accounts.name_key
_EMAIL_MAX = 254


def uniqueness_key(name: str) -> str:
    """NFKC + casefold, so 'Ｓｕｐｐｏｒｔ' and 'support' collide.

    A few characters expand a lot (NFKC makes U+FDFA 18 letters), so a key longer than its column
    keeps its head and replaces the rest by a digest of the whole: equal keys stay equal, and
    PostgreSQL never sees a value too long for the column."""
    key = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())
    if len(key) > NAME_KEY_MAX:
        digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
        key = f"{key[:NAME_KEY_MAX - len(digest) - 1]}#{digest}"
    return key


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
    text = clean_text(unify_line_breaks(value))
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
    text = clean_text(value or "")  # NFC like every other text: lengths and the key count composed characters
    if not text:
        raise BusinessError.one(ErrorCode.REQUIRED, field, "Enter an email address.")
    # The casefolded key must fit as well: casefolding expands some letters ('ß' becomes 'ss').
    if len(text) > _EMAIL_MAX or len(text.casefold()) > _EMAIL_MAX:
        raise BusinessError.one(ErrorCode.TOO_LONG, field, f"At most {_EMAIL_MAX} characters.")
    if has_forbidden_chars(text) or not _EMAIL_RE.fullmatch(text):
        raise BusinessError.one(ErrorCode.INVALID, field, "Enter a valid email address.")
    return text
