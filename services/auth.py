"""Who is calling: bearer tokens (stored as SHA-256 only), roles and operator access."""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from models import ApiToken, Role, TokenKind


class AccessDenied(Exception):
    """Not a business error: becomes a top-level GraphQL error with this code."""

    def __init__(self, code: str, message: str):
        self.code = code  # "UNAUTHENTICATED" or "FORBIDDEN"
        self.extensions = {"code": code}  # graphql-core copies this onto the top-level error
        super().__init__(message)


@dataclass(frozen=True)
class Actor:
    kind: TokenKind
    domain_id: int | None = None  # None for operators: they act on whichever domain an input names
    member_id: int | None = None
    role: Role | None = None

    @property
    def is_operator(self) -> bool:
        return self.kind is TokenKind.OPERATOR

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    def require_member(self) -> "Actor":
        if self.member_id is None:
            raise AccessDenied("FORBIDDEN", "This needs a member's token.")
        return self

    def require_admin(self) -> "Actor":
        if not self.is_admin:
            raise AccessDenied("FORBIDDEN", "Only administrators of the domain may do this.")
        return self

    def require_operator(self) -> "Actor":
        if not self.is_operator:
            raise AccessDenied("FORBIDDEN", "This needs an operator token.")
        return self


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _new_token(prefix: str) -> str:
    return f"{prefix}_{secrets.token_urlsafe(32)}"


async def issue_member_token(member_id: int) -> str:
    token = _new_token("cxm")
    await ApiToken.create(token_hash=hash_token(token), kind=TokenKind.MEMBER, member_id=member_id)
    return token


async def create_operator_token() -> str:
    token = _new_token("cxo")
    await ApiToken.create(token_hash=hash_token(token), kind=TokenKind.OPERATOR)
    return token


def bearer_token(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


async def authenticate(token: str | None) -> Actor:
    """The actor behind a token; UNAUTHENTICATED when there is none or it is unknown."""
    if not token or len(token) > 200:
        raise AccessDenied("UNAUTHENTICATED", "Send a valid token as 'Authorization: Bearer <token>'.")
    row = await ApiToken.filter(token_hash=hash_token(token)).first().values(
        "kind", "member_id", "member__domain_id", "member__role")
    if row is None:
        raise AccessDenied("UNAUTHENTICATED", "Send a valid token as 'Authorization: Bearer <token>'.")
    if row["kind"] == TokenKind.OPERATOR:
        return Actor(kind=TokenKind.OPERATOR)
    return Actor(kind=TokenKind.MEMBER, domain_id=row["member__domain_id"], member_id=row["member_id"],
                 role=Role(row["member__role"]))
