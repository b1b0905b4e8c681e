"""GraphQL for conversations: contacts, talk rooms, bots, messages, and the operator mutations
the messaging service records them with. Relations are read through the request's loaders.

Imports schema.base, never schema.types (which imports this module for WindowAccount's fields).
"""
from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry
from strawberry import Private

import models
from schema import ids
from schema.base import Connection, Member, Node, UserError, connection
from schema.context import Info
from schema.errors import payload_on_error
from services import conversations
from services.autoreply import AutoReplyDecision

Channel = strawberry.enum(models.Channel, name="Channel")
BotOrigin = strawberry.enum(models.BotOrigin, name="BotOrigin")
SenderType = strawberry.enum(models.SenderType, name="SenderType")
AutoReplyKind = strawberry.enum(models.AutoReplyKind, name="AutoReplyKind")


@strawberry.enum
class TalkRoomKind(Enum):
    DIRECT = "DIRECT"
    GROUP = "GROUP"


GROUP_FROM = 2  # responders in a room that make it a group talk room


# --- types ----------------------------------------------------------------------------------

@strawberry.type
class Contact(Node):
    name: str
    channel: Channel
    external_id: str

    @classmethod
    def from_model(cls, c: models.Contact) -> "Contact":
        return cls(id=ids.encode("Contact", c.id), name=c.name, channel=models.Channel(c.channel),
                   external_id=c.external_id)


@strawberry.type
class TalkRoom(Node):
    db_id: Private[int]
    contact_id: Private[int]

    @strawberry.field(description="GROUP with two or more responders in the room, else DIRECT.")
    async def kind(self, info: Info) -> TalkRoomKind:
        members = await info.context.loaders.room_participants.load(self.db_id)
        return TalkRoomKind.GROUP if len(members) >= GROUP_FROM else TalkRoomKind.DIRECT

    @strawberry.field
    async def contact(self, info: Info) -> Contact:
        return Contact.from_model(await info.context.loaders.contact.load(self.contact_id))

    @strawberry.field(description="The responders who joined the room by replying.")
    async def participants(self, info: Info) -> list[Member]:
        return [Member.from_model(m) for m in await info.context.loaders.room_participants.load(self.db_id)]

    @classmethod
    def from_model(cls, r: models.TalkRoom) -> "TalkRoom":
        return cls(id=ids.encode("TalkRoom", r.id), db_id=r.id, contact_id=r.contact_id)


@strawberry.type
class Bot(Node):
    name: str
    origin: BotOrigin

    @classmethod
    def from_model(cls, b: models.Bot) -> "Bot":
        return cls(id=ids.encode("Bot", b.id), name=b.name, origin=models.BotOrigin(b.origin))


@strawberry.type
class Message(Node):
    sender_type: SenderType
    sender_name: str
    content: str
    sent_at: datetime

    @classmethod
    def from_model(cls, m: models.Message) -> "Message":
        return cls(id=ids.encode("Message", m.id), sender_type=models.SenderType(m.sender_type),
                   sender_name=m.sender_name, content=m.content, sent_at=m.sent_at)


@strawberry.type
class AutoReply:
    kind: AutoReplyKind
    text: str

    @classmethod
    def from_decision(cls, decision: AutoReplyDecision | None) -> "AutoReply | None":
        if decision is None:
            return None
        return cls(kind=models.AutoReplyKind(decision.kind), text=decision.text)


# --- WindowAccount's conversation fields (resolved here, declared in schema.types) -----------

async def talk_rooms_of(info: Info, account_id: int, first: int | None, after: str | None) -> Connection[TalkRoom]:
    page = await info.context.loaders.talk_room_pages.load((account_id, first, after))
    return connection(page, TalkRoom.from_model)


async def contacts_of(info: Info, account_id: int, first: int | None, after: str | None) -> Connection[Contact]:
    page = await info.context.loaders.contact_pages.load((account_id, first, after))
    return connection(page, Contact.from_model)


async def bots_of(info: Info, account_id: int) -> list[Bot]:
    return [Bot.from_model(b) for b in await info.context.loaders.bots.load(account_id)]


async def history_count_of(info: Info, account_id: int) -> int:
    return await info.context.loaders.history_count.load(account_id)


# --- operator mutations ----------------------------------------------------------------------

@strawberry.input
class ContactInput:
    external_id: str
    name: str
    channel: Channel

    def to_data(self) -> conversations.ContactData:
        return conversations.ContactData(external_id=self.external_id, name=self.name,
                                         channel=models.Channel(self.channel))


@strawberry.input
class RegisterBotInput:
    account_id: strawberry.ID
    name: str
    origin: BotOrigin


@strawberry.input
class RecordCustomerAddedInput:
    account_id: strawberry.ID
    contact: ContactInput
    at: datetime | None = strawberry.field(default=None, description="Default: now.")


@strawberry.input
class RecordCustomerMessageInput:
    account_id: strawberry.ID
    contact: ContactInput
    content: str
    sent_at: datetime | None = strawberry.field(default=None, description="Default: now.")


@strawberry.input
class RecordResponderReplyInput:
    room_id: strawberry.ID
    responder_id: strawberry.ID
    content: str
    sent_at: datetime | None = strawberry.field(default=None, description="Default: now.")


@strawberry.type
class RegisterBotPayload:
    bot: Bot | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class RecordCustomerAddedPayload:
    contact: Contact | None = None
    auto_reply: AutoReply | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class RecordCustomerMessagePayload:
    message: Message | None = None
    room: TalkRoom | None = None
    auto_reply: AutoReply | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class RecordResponderReplyPayload:
    message: Message | None = None
    room: TalkRoom | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class ConversationMutations:
    """Operator token (the messaging service); accounts of any domain."""

    @strawberry.mutation
    @payload_on_error(RegisterBotPayload)
    async def register_bot(self, info: Info, input: RegisterBotInput) -> RegisterBotPayload:
        await info.context.operator()
        bot = await conversations.register_bot(ids.decode(input.account_id, "WindowAccount"), input.name,
                                               models.BotOrigin(input.origin))
        return RegisterBotPayload(bot=Bot.from_model(bot))

    @strawberry.mutation
    @payload_on_error(RecordCustomerAddedPayload)
    async def record_customer_added(self, info: Info, input: RecordCustomerAddedInput) -> RecordCustomerAddedPayload:
        await info.context.operator()
        result = await conversations.record_customer_added(
            ids.decode(input.account_id, "WindowAccount"), input.contact.to_data(), input.at)
        return RecordCustomerAddedPayload(contact=Contact.from_model(result.contact),
                                          auto_reply=AutoReply.from_decision(result.auto_reply))

    @strawberry.mutation
    @payload_on_error(RecordCustomerMessagePayload)
    async def record_customer_message(self, info: Info,
                                      input: RecordCustomerMessageInput) -> RecordCustomerMessagePayload:
        await info.context.operator()
        result = await conversations.record_customer_message(
            ids.decode(input.account_id, "WindowAccount"), input.contact.to_data(), input.content, input.sent_at)
        return RecordCustomerMessagePayload(message=Message.from_model(result.message),
                                            room=TalkRoom.from_model(result.room),
                                            auto_reply=AutoReply.from_decision(result.auto_reply))

    @strawberry.mutation
    @payload_on_error(RecordResponderReplyPayload)
    async def record_responder_reply(self, info: Info,
                                     input: RecordResponderReplyInput) -> RecordResponderReplyPayload:
        await info.context.operator()
        result = await conversations.record_responder_reply(
            ids.decode(input.room_id, "TalkRoom"), ids.decode(input.responder_id, "Member"), input.content,
            input.sent_at)
        return RecordResponderReplyPayload(message=Message.from_model(result.message),
                                           room=TalkRoom.from_model(result.room))
