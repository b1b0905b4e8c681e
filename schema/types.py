"""GraphQL object types. Plain attribute fields are filled from models; relations use loaders."""
from __future__ import annotations

from datetime import date
from typing import Generic, TypeVar

import strawberry
from strawberry import Private

import models
from cxtalk.config import Settings
from schema import ids
from schema.context import Info
from services import errors as service_errors
from services.invites import invite_url, qr_code_url
from services.pagination import Page

ErrorCode = strawberry.enum(service_errors.ErrorCode, name="ErrorCode")
Role = strawberry.enum(models.Role, name="Role")
WindowAccountStatus = strawberry.enum(models.AccountStatus, name="WindowAccountStatus")


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
    return Connection(
        edges=[Edge(cursor=page.cursor(item), node=convert(item)) for item in page.items],
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


@strawberry.type
class Product(Node):
    name: str
    responder_limit: int
    purchased_quantity: int
    accounts_in_use: int
    available: int

    @classmethod
    def from_model(cls, p: models.Product) -> "Product":
        return cls(id=ids.encode("Product", p.id), name=p.name, responder_limit=p.responder_limit,
                   purchased_quantity=p.quantity, accounts_in_use=p.in_use,
                   available=max(p.quantity - p.in_use, 0))


@strawberry.type
class ProductUsage:
    total_purchased: int
    accounts_in_use: int
    products: list[Product]


@strawberry.type
class WindowAccount(Node):
    handle: str
    name: str
    description: str | None
    image_url: str | None
    invite_url: str
    qr_code_url: str
    started_on: date
    status: WindowAccountStatus
    responder_count: int
    db_id: Private[int]
    product_id: Private[int]
    timezone_name: Private[str]

    @strawberry.field
    async def product(self, info: Info) -> Product:
        return Product.from_model(await info.context.loaders.product.load(self.product_id))

    @strawberry.field
    async def responders(self, info: Info) -> list[Member]:
        return [Member.from_model(m) for m in await info.context.loaders.responders.load(self.db_id)]

    @classmethod
    def from_model(cls, a: models.WindowAccount, settings: Settings) -> "WindowAccount":
        base = settings.public_base_url
        return cls(
            id=ids.encode("WindowAccount", a.id), handle=a.handle, name=a.name, description=a.description,
            image_url=f"{base}/images/{a.image_name}" if a.image_name else None,
            invite_url=invite_url(base, a.invite_token), qr_code_url=qr_code_url(base, a.invite_token),
            started_on=a.started_on, status=a.status, responder_count=a.responder_count,
            db_id=a.id, product_id=a.product_id, timezone_name=a.timezone)


@strawberry.type
class Viewer:
    member: Member
    domain: Domain
    role: Role
    services: list[str]
    window_accounts: list[WindowAccount]


@strawberry.type
class WindowAccountPayload:
    window_account: WindowAccount | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class GrantProductPayload:
    product: Product | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class ProvisionMembersPayload:
    members: list[Member] = strawberry.field(default_factory=list)
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class IssueMemberTokenPayload:
    token: str | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)
