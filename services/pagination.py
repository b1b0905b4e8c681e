"""Keyset pagination by primary key: a page costs one SELECT and one COUNT, whatever its size."""
from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Generic, TypeVar

from tortoise.queryset import QuerySet

T = TypeVar("T")
MAX_PAGE = 100
DEFAULT_PAGE = 20


class BadPageArgument(ValueError):
    """Malformed cursor or page size: a top-level error, like a malformed ID."""

    extensions = {"code": "BAD_USER_INPUT"}  # graphql-core copies this onto the top-level error


@dataclass
class Page(Generic[T]):
    items: list[T]
    has_next: bool
    total: int

    def cursor(self, item) -> str:
        return encode_cursor(item.id)

    @property
    def end_cursor(self) -> str | None:
        return self.cursor(self.items[-1]) if self.items else None


def encode_cursor(pk: int) -> str:
    return base64.urlsafe_b64encode(f"c:{pk}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, value = text.partition(":")
        if prefix != "c" or not value.isdigit() or int(value) > 2**31 - 1:  # 32-bit keys
            raise ValueError
        return int(value)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadPageArgument("Malformed cursor.") from exc


def page_size(first: int | None) -> int:
    if first is None:
        return DEFAULT_PAGE
    if first < 0:
        raise BadPageArgument("'first' must not be negative.")
    return min(first, MAX_PAGE)  # the cap: larger requests get at most MAX_PAGE rows


async def paginate(query: QuerySet, first: int | None, after: str | None, newest_first: bool = False) -> Page:
    size = page_size(first)
    after_id = decode_cursor(after) if after is not None else None
    total = await query.count()
    if size == 0:
        return Page(items=[], has_next=total > 0, total=total)
    rows_query = query.order_by("-id" if newest_first else "id")
    if after_id is not None:
        rows_query = rows_query.filter(id__lt=after_id) if newest_first else rows_query.filter(id__gt=after_id)
    rows = await rows_query.limit(size + 1)
    return Page(items=list(rows[:size]), has_next=len(rows) > size, total=total)
