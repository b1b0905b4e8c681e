"""The one exception type for expected business failures, converted to payload `errors` in one place."""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class ErrorCode(str, Enum):
    REQUIRED = "REQUIRED"
    INVALID = "INVALID"
    TOO_LONG = "TOO_LONG"
    NOT_FOUND = "NOT_FOUND"
    NAME_TAKEN = "NAME_TAKEN"
    HANDLE_INVALID = "HANDLE_INVALID"
    HANDLE_TAKEN = "HANDLE_TAKEN"
    IMAGE_INVALID = "IMAGE_INVALID"
    IMAGE_TOO_LARGE = "IMAGE_TOO_LARGE"
    PRODUCT_EXHAUSTED = "PRODUCT_EXHAUSTED"
    RESPONDER_LIMIT_REACHED = "RESPONDER_LIMIT_REACHED"
    ALREADY_RESPONDER = "ALREADY_RESPONDER"
    LAST_RESPONDER = "LAST_RESPONDER"
    NOT_A_RESPONDER = "NOT_A_RESPONDER"
    INVALID_RANGE = "INVALID_RANGE"
    OVERLAPPING_INTERVALS = "OVERLAPPING_INTERVALS"
    HOLIDAY_IN_PAST = "HOLIDAY_IN_PAST"
    HOLIDAY_OVERLAP = "HOLIDAY_OVERLAP"
    ACCOUNT_NOT_ACTIVE = "ACCOUNT_NOT_ACTIVE"
    CONFIRMATION_MISMATCH = "CONFIRMATION_MISMATCH"
    EXPORT_IN_PROGRESS = "EXPORT_IN_PROGRESS"
    EXPORT_NOT_CANCELABLE = "EXPORT_NOT_CANCELABLE"


@dataclass(frozen=True)
class FieldError:
    code: ErrorCode
    field: str | None  # camelCase name of the input field, as clients know it
    message: str


class BusinessError(Exception):
    """One or more expected failures. Raising it aborts the transaction: nothing is written."""

    def __init__(self, errors: list[FieldError] | FieldError):
        self.errors = errors if isinstance(errors, list) else [errors]
        super().__init__("; ".join(f"{e.field}: {e.code.value}" for e in self.errors))

    @classmethod
    def one(cls, code: ErrorCode, field: str | None, message: str) -> "BusinessError":
        return cls(FieldError(code, field, message))


class ErrorCollector:
    """Gathers independent validation failures so a form gets all of them at once."""

    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def add(self, code: ErrorCode, field: str | None, message: str) -> None:
        self.errors.append(FieldError(code, field, message))

    def check(self, fn, *args, **kwargs):
        """Call a validator; record its BusinessError and return None instead of raising."""
        try:
            return fn(*args, **kwargs)
        except BusinessError as exc:
            self.errors.extend(exc.errors)
            return None

    async def check_async(self, fn, *args, **kwargs):
        try:
            return await fn(*args, **kwargs)
        except BusinessError as exc:
            self.errors.extend(exc.errors)
            return None

    def raise_if_any(self) -> None:
        if self.errors:
            raise BusinessError(self.errors)
