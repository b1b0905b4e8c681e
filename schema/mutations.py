"""Mutation root: decode IDs, call the domain layer, shape payloads. No rules here."""
from __future__ import annotations

from datetime import date

import strawberry
from strawberry.file_uploads import Upload

from schema import ids
from schema.context import Info
from schema.conversations import ConversationMutations
from schema.exports import ExportMutations
from schema.errors import payload_on_error
from schema.types import (GrantProductPayload, IssueMemberTokenPayload, Member, Product,
                          ProvisionMembersPayload, WindowAccount, WindowAccountPayload)
from schema.types import Weekday
from services import accounts, auth, directory, products, responders, window_settings
from services.errors import BusinessError, ErrorCode


@strawberry.input
class CreateWindowAccountInput:
    product_id: strawberry.ID
    name: str
    handle: str
    responder_ids: list[strawberry.ID]
    description: str | None = None
    image: Upload | None = None


@strawberry.input
class UpdateWindowAccountInput:
    id: strawberry.ID
    name: str | None = strawberry.UNSET
    description: str | None = strawberry.UNSET  # null or "" clears it
    product_id: strawberry.ID | None = strawberry.UNSET
    image: Upload | None = None
    remove_image: bool | None = False


@strawberry.input
class AddRespondersInput:
    account_id: strawberry.ID
    member_ids: list[strawberry.ID]


@strawberry.input
class RemoveResponderInput:
    account_id: strawberry.ID
    member_id: strawberry.ID


@strawberry.input
class TimeRangeInput:
    start: str
    end: str


@strawberry.input
class BusinessDayInput:
    weekday: Weekday
    intervals: list[TimeRangeInput]


@strawberry.input
class UpdateWindowSettingsInput:
    account_id: strawberry.ID
    timezone: str | None = strawberry.UNSET
    business_hours: list[BusinessDayInput] | None = strawberry.field(
        default=strawberry.UNSET, description="Listed weekdays are replaced; the others keep their hours.")
    greeting_message: str | None = strawberry.UNSET
    out_of_hours_message: str | None = strawberry.UNSET
    holiday_message: str | None = strawberry.UNSET


@strawberry.input
class AddHolidayInput:
    account_id: strawberry.ID
    start_date: date
    end_date: date
    name: str | None = None


@strawberry.input
class DeleteHolidaysInput:
    account_id: strawberry.ID
    holiday_ids: list[strawberry.ID]


@strawberry.input
class ImportNationalHolidaysInput:
    account_id: strawberry.ID
    year: int


@strawberry.input
class GrantProductInput:
    domain_id: strawberry.ID
    name: str
    responder_limit: int
    quantity: int


@strawberry.input
class ProvisionMemberInput:
    name: str
    email: str


@strawberry.input
class ProvisionMembersInput:
    domain_id: strawberry.ID
    members: list[ProvisionMemberInput]


@strawberry.input
class IssueMemberTokenInput:
    member_id: strawberry.ID


def _image(upload) -> accounts.ImageUpload | None:
    if upload is None or upload is strawberry.UNSET:
        return None
    return accounts.ImageUpload(filename=getattr(upload, "filename", None), stream=upload.file)


def _given(value):
    """UNSET stays UNSET (leave unchanged); anything else is passed on."""
    return accounts.UNSET if value is strawberry.UNSET else value


async def _account_payload(info: Info, account) -> WindowAccountPayload:
    return WindowAccountPayload(window_account=await WindowAccount.build_one(account, info))


@strawberry.type
class Mutation(ConversationMutations, ExportMutations):
    # --- administrators of the domain ----------------------------------------------------

    @strawberry.mutation
    @payload_on_error(WindowAccountPayload)
    async def create_window_account(self, info: Info, input: CreateWindowAccountInput) -> WindowAccountPayload:
        actor = await info.context.admin()
        account = await accounts.create_account(
            actor, product_id=ids.decode(input.product_id, "Product"), name=input.name, handle=input.handle,
            description=input.description, image=_image(input.image),
            responder_ids=ids.decode_many(input.responder_ids, "Member"))
        return await _account_payload(info, account)

    @strawberry.mutation
    @payload_on_error(WindowAccountPayload)
    async def update_window_account(self, info: Info, input: UpdateWindowAccountInput) -> WindowAccountPayload:
        actor = await info.context.admin()
        product_id = _given(input.product_id)
        if isinstance(product_id, str):
            product_id = ids.decode(product_id, "Product")
        account = await accounts.update_account(
            actor, ids.decode(input.id, "WindowAccount"), name=_given(input.name),
            description=_given(input.description), product_id=product_id, image=_image(input.image),
            remove_image=bool(input.remove_image))
        return await _account_payload(info, account)

    @strawberry.mutation
    @payload_on_error(WindowAccountPayload)
    async def add_responders(self, info: Info, input: AddRespondersInput) -> WindowAccountPayload:
        actor = await info.context.admin()
        account = await responders.add_responders(
            actor, ids.decode(input.account_id, "WindowAccount"), ids.decode_many(input.member_ids, "Member"))
        return await _account_payload(info, account)

    @strawberry.mutation
    @payload_on_error(WindowAccountPayload)
    async def remove_responder(self, info: Info, input: RemoveResponderInput) -> WindowAccountPayload:
        actor = await info.context.admin()
        account = await responders.remove_responder(
            actor, ids.decode(input.account_id, "WindowAccount"), ids.decode(input.member_id, "Member"))
        return await _account_payload(info, account)

    @strawberry.mutation
    @payload_on_error(WindowAccountPayload)
    async def update_window_settings(self, info: Info, input: UpdateWindowSettingsInput) -> WindowAccountPayload:
        actor = await info.context.admin()
        hours = _given(input.business_hours)
        if isinstance(hours, list):
            hours = [(day.weekday.value, [(r.start, r.end) for r in day.intervals]) for day in hours]
        account = await window_settings.update_settings(
            actor, ids.decode(input.account_id, "WindowAccount"), timezone_name=_given(input.timezone),
            business_hours=hours, messages={
                "greetingMessage": _given(input.greeting_message),
                "outOfHoursMessage": _given(input.out_of_hours_message),
                "holidayMessage": _given(input.holiday_message)})
        return await _account_payload(info, account)

    @strawberry.mutation
    @payload_on_error(WindowAccountPayload)
    async def add_holiday(self, info: Info, input: AddHolidayInput) -> WindowAccountPayload:
        actor = await info.context.admin()
        account = await window_settings.add_holiday(
            actor, ids.decode(input.account_id, "WindowAccount"), input.start_date, input.end_date, input.name)
        return await _account_payload(info, account)

    @strawberry.mutation
    @payload_on_error(WindowAccountPayload)
    async def delete_holidays(self, info: Info, input: DeleteHolidaysInput) -> WindowAccountPayload:
        actor = await info.context.admin()
        account = await window_settings.delete_holidays(
            actor, ids.decode(input.account_id, "WindowAccount"), ids.decode_many(input.holiday_ids, "Holiday"))
        return await _account_payload(info, account)

    @strawberry.mutation
    @payload_on_error(WindowAccountPayload)
    async def import_national_holidays(self, info: Info, input: ImportNationalHolidaysInput) -> WindowAccountPayload:
        actor = await info.context.admin()
        account = await window_settings.import_national_holidays(
            actor, ids.decode(input.account_id, "WindowAccount"), input.year)
        return await _account_payload(info, account)

    # --- operator token: internal tooling ---------------------------------------------------

    @strawberry.mutation
    @payload_on_error(GrantProductPayload)
    async def grant_product(self, info: Info, input: GrantProductInput) -> GrantProductPayload:
        await info.context.operator()
        product = await products.grant_product(ids.decode(input.domain_id, "Domain"), input.name,
                                               input.responder_limit, input.quantity)
        return GrantProductPayload(product=Product.from_model(product))

    @strawberry.mutation
    @payload_on_error(ProvisionMembersPayload)
    async def provision_members(self, info: Info, input: ProvisionMembersInput) -> ProvisionMembersPayload:
        await info.context.operator()
        members = await directory.provision_members(
            ids.decode(input.domain_id, "Domain"), [(m.name, m.email) for m in input.members])
        return ProvisionMembersPayload(members=[Member.from_model(m) for m in members])

    @strawberry.mutation
    @payload_on_error(IssueMemberTokenPayload)
    async def issue_member_token(self, info: Info, input: IssueMemberTokenInput) -> IssueMemberTokenPayload:
        await info.context.operator()
        member = await directory.get_member_any_domain(ids.decode(input.member_id, "Member"))
        if member is None:
            raise BusinessError.one(ErrorCode.NOT_FOUND, "memberId", "No such member.")
        return IssueMemberTokenPayload(token=await auth.issue_member_token(member.id))
