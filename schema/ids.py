"""Relay global IDs: opaque in the API, integers inside; checked for type when decoded."""
from __future__ import annotations

import base64

from graphql import GraphQLError


MAX_PK = 2**31 - 1  # primary keys are 32-bit integers in the database


class MalformedId(GraphQLError):
    def __init__(self, message: str):
        super().__init__(message, extensions={"code": "BAD_USER_INPUT"})


def encode(type_name: str, pk: int) -> str:
    return base64.urlsafe_b64encode(f"{type_name}:{pk}".encode()).decode().rstrip("=")


def decode_any(gid: str) -> tuple[str, int]:
    try:
        if not isinstance(gid, str) or len(gid) > 100:
            raise ValueError
        text = base64.urlsafe_b64decode(gid + "=" * (-len(gid) % 4)).decode("ascii")
        type_name, _, value = text.partition(":")
        if not type_name.isalpha() or not value.isdigit() or int(value) > MAX_PK:
            raise ValueError
        if encode(type_name, int(value)) != gid:  # one object, one ID: no lenient base64 or leading zeros
            raise ValueError
        return type_name, int(value)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedId(f"Malformed ID: {gid!r:.60}") from exc


def decode(gid: str, type_name: str) -> int:
    found, pk = decode_any(gid)
    if found != type_name:
        raise MalformedId(f"Expected an ID of a {type_name}.")
    return pk


def decode_many(gids: list[str], type_name: str) -> list[int]:
    return [decode(g, type_name) for g in gids]
