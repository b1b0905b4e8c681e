"""Building blocks every GraphQL type module shares: Node, errors, connections, Domain, Member."""
from __future__ import annotations

from typing import Generic, TypeVar

import strawberry
from strawberry import Private

import models
from schema import ids
from schema.context import Info
from services import errors as service_errors
from services.pagination import Page

ErrorCode = strawberry.enum(service_errors.ErrorCode, name="ErrorCode")
Role = strawberry.enum(models.Role, name="Role")


@strawberry.interface
class Node:
    id: strawberry.ID


@strawberry.type
class UserError:
    field: str | None  # camelCase name of the input field
    code: ErrorCode
    message: str


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


T = TypeVar("T")


@strawberry.type
class Edge(Generic[T]):
    cursor: str
    node: T


@strawberry.type
class Connection(Generic[T]):
    edges: list[Edge[T]]
    page_info: PageInfo
    total_count: int


def connection(page: Page, convert) -> Connection:
    """`convert` turns one item into its GraphQL node."""
    return connection_of(page, [convert(item) for item in page.items])


def connection_of(page: Page, nodes: list) -> Connection:
    """A connection of nodes already built (one per item, in order), e.g. a batch of them at once."""
    return Connection(
        edges=[Edge(cursor=page.cursor(item), node=node) for item, node in zip(page.items, nodes, strict=True)],
        page_info=PageInfo(has_next_page=page.has_next, end_cursor=page.end_cursor),
        total_count=page.total,
    )


@strawberry.type
class Domain(Node):
    name: str

    @classmethod
    def from_model(cls, d: models.Domain) -> "Domain":
        return cls(id=ids.encode("Domain", d.id), name=d.name)


@strawberry.type
class Member(Node):
    name: str
    email: str
    role: Role
    db_id: Private[int]

    @strawberry.field(description="Responds for at least one ACTIVE window account.")
    async def is_responder(self, info: Info) -> bool:
        return await info.context.loaders.is_responder.load(self.db_id)

    @classmethod
    def from_model(cls, m: models.Member) -> "Member":
        return cls(id=ids.encode("Member", m.id), name=m.name, email=m.email, role=m.role, db_id=m.id)
