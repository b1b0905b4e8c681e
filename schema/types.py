"""GraphQL object types. Plain attribute fields are filled from models; relations use loaders."""
from __future__ import annotations

from datetime import date, datetime
from enum import Enum

import strawberry
from strawberry import Private

import models
from cxtalk.config import Settings
from schema import ids
from schema.base import Connection, Domain, Member, Node, Role, UserError, connection, connection_of  # noqa: F401 (re-exported)
from schema.context import Info, Loaders
from schema.conversations import Bot, Contact, TalkRoom, bots_of, contacts_of, history_count_of, talk_rooms_of
from services import schedule, window_settings
from services.invites import invite_url, qr_code_url

WindowAccountStatus = strawberry.enum(models.AccountStatus, name="WindowAccountStatus")


@strawberry.enum
class Weekday(Enum):
    MONDAY = "MONDAY"
    TUESDAY = "TUESDAY"
    WEDNESDAY = "WEDNESDAY"
    THURSDAY = "THURSDAY"
    FRIDAY = "FRIDAY"
    SATURDAY = "SATURDAY"
    SUNDAY = "SUNDAY"


@strawberry.enum
class AvailabilityState(Enum):
    OPEN = "OPEN"
    CLOSED = "CLOSED"
    HOLIDAY = "HOLIDAY"


@strawberry.type
class TimeRange:
    start: str  # "09:00"
    end: str  # "24:00" allowed


@strawberry.type
class BusinessDay:
    weekday: Weekday
    intervals: list[TimeRange]


@strawberry.type
class Holiday(Node):
    start_date: date
    end_date: date
    name: str | None

    @classmethod
    def from_model(cls, h: models.Holiday) -> "Holiday":
        return cls(id=ids.encode("Holiday", h.id), start_date=h.start_date, end_date=h.end_date, name=h.name)


@strawberry.type
class WindowSettings:
    timezone: str
    business_hours: list[BusinessDay] = strawberry.field(description="Always 7 days, MONDAY first.")
    greeting_message: str
    out_of_hours_message: str
    holiday_message: str
    holidays: list[Holiday]


@strawberry.type
class Availability:
    state: AvailabilityState
    next_change_at: datetime | None

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
    # Plain fields, filled for a whole page at once by `build` (one statement each): cheaper
    # than a resolver per row, see schema/executor.py.
    product: Product
    responders: list[Member]
    settings: WindowSettings
    db_id: Private[int]
    model: Private[models.WindowAccount]

    @strawberry.field(description="OPEN, CLOSED or HOLIDAY at `at` (default now), and when that changes.")
    async def availability(self, info: Info, at: datetime | None = None) -> Availability:
        holidays = await info.context.loaders.holidays.load(self.db_id)
        state, next_change = window_settings.availability(self.model, holidays, at)
        return Availability(state=AvailabilityState[state], next_change_at=next_change)

    @strawberry.field(description="Talk rooms of the account, oldest first.")
    async def talk_rooms(self, info: Info, first: int | None = None,
                         after: str | None = None) -> Connection[TalkRoom]:
        return await talk_rooms_of(info, self.db_id, first, after)

    @strawberry.field(description="Customers who added the account, oldest first.")
    async def contacts(self, info: Info, first: int | None = None, after: str | None = None) -> Connection[Contact]:
        return await contacts_of(info, self.db_id, first, after)

    @strawberry.field
    async def bots(self, info: Info) -> list[Bot]:
        return await bots_of(info, self.db_id)

    @strawberry.field(description="Messages of the account in the response history, automatic replies included.")
    async def history_count(self, info: Info) -> int:
        return await history_count_of(info, self.db_id)

    @classmethod
    async def build(cls, accounts: list[models.WindowAccount], info: Info) -> list["WindowAccount"]:
        """GraphQL accounts with their products, responders and holidays: three batched statements."""
        return await cls.build_with(accounts, info.context.loaders, info.context.settings)

    @classmethod
    async def build_one(cls, account: models.WindowAccount | None, info: Info) -> "WindowAccount | None":
        return (await cls.build([account], info))[0] if account is not None else None

    @classmethod
    async def build_with(cls, accounts: list[models.WindowAccount], loaders: Loaders,
                         settings: Settings) -> list["WindowAccount"]:
        base = settings.public_base_url
        products = await loaders.product.load_many([a.product_id for a in accounts])
        responders = await loaders.responders.load_many([a.id for a in accounts])
        holidays = await loaders.holidays.load_many([a.id for a in accounts])
        return [cls(
            id=ids.encode("WindowAccount", a.id), handle=a.handle, name=a.name, description=a.description,
            image_url=f"{base}/images/{a.image_name}" if a.image_name else None,
            invite_url=invite_url(base, a.invite_token), qr_code_url=qr_code_url(base, a.invite_token),
            started_on=a.started_on, status=a.status, responder_count=a.responder_count,
            product=Product.from_model(product), responders=[Member.from_model(m) for m in members],
            settings=_settings(a, account_holidays), db_id=a.id, model=a)
            for a, product, members, account_holidays in zip(accounts, products, responders, holidays, strict=True)]


def _settings(a: models.WindowAccount, holidays: list[models.Holiday]) -> WindowSettings:
    hours = window_settings.hours_of(a)
    return WindowSettings(
        timezone=a.timezone,
        business_hours=[BusinessDay(weekday=Weekday[name], intervals=[
            TimeRange(start=schedule.format_time(i.start), end=schedule.format_time(i.end)) for i in hours[n]])
            for n, name in enumerate(schedule.WEEKDAYS)],
        greeting_message=a.greeting_message, out_of_hours_message=a.out_of_hours_message,
        holiday_message=a.holiday_message, holidays=[Holiday.from_model(h) for h in holidays])


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
