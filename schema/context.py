"""Per-request context: settings, the caller (authenticated lazily, once) and batch loaders."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.websockets import WebSocket
from strawberry.dataloader import DataLoader
from strawberry.types import Info as _Info

from cxtalk.config import Settings
from models import Holiday, Member, Product
from services import products, responders, window_settings
from services.auth import Actor, authenticate, bearer_token


class Loaders:
    """One set per request (per event on a subscription): batches rows by key, no N+1."""

    def __init__(self) -> None:
        self.product = DataLoader(self._products)
        self.member = DataLoader(self._members)
        self.responders = DataLoader(self._responders)
        self.is_responder = DataLoader(self._is_responder)
        self.holidays = DataLoader(self._holidays)
        self.talk_room_pages = DataLoader(self._talk_room_pages)  # key: (account_id, first, after)
        self.contact_pages = DataLoader(self._contact_pages)  # key: (account_id, first, after)
        self.room_participants = DataLoader(self._room_participants)
        self.contact = DataLoader(self._contacts)
        self.bots = DataLoader(self._bots)
        self.history_count = DataLoader(self._history_counts)

    @staticmethod
    async def _members(ids: list[int]) -> list[Member | None]:
        found = {m.id: m for m in await Member.filter(id__in=list(ids))}
        return [found.get(i) for i in ids]

    @staticmethod
    async def _products(ids: list[int]) -> list[Product | None]:
        found = {p.id: p for p in await products.products_by_ids(list(ids))}
        return [found.get(i) for i in ids]

    @staticmethod
    async def _responders(account_ids: list[int]) -> list[list[Member]]:
        found = await responders.responder_members_by_account(list(account_ids))
        return [found[a] for a in account_ids]

    @staticmethod
    async def _is_responder(member_ids: list[int]) -> list[bool]:
        found = await responders.active_responder_member_ids(list(member_ids))
        return [m in found for m in member_ids]

    @staticmethod
    async def _holidays(account_ids: list[int]) -> list[list[Holiday]]:
        found = await window_settings.holidays_by_account(list(account_ids))
        return [found[a] for a in account_ids]

    @staticmethod
    async def _account_pages(pages_of, keys: list[tuple[int, int | None, str | None]]) -> list:
        # Keys share (first, after) in practice: one batch of statements per distinct pair.
        by_args: dict[tuple, list[int]] = {}
        for account_id, first, after in keys:
            by_args.setdefault((first, after), []).append(account_id)
        found = {}
        for (first, after), account_ids in by_args.items():
            for account_id, page in (await pages_of(account_ids, first, after)).items():
                found[(account_id, first, after)] = page
        return [found[k] for k in keys]

    @staticmethod
    async def _talk_room_pages(keys: list[tuple[int, int | None, str | None]]) -> list:
        from services import conversations

        return await Loaders._account_pages(conversations.talk_room_pages, keys)

    @staticmethod
    async def _contact_pages(keys: list[tuple[int, int | None, str | None]]) -> list:
        from services import conversations

        return await Loaders._account_pages(conversations.contact_pages, keys)

    @staticmethod
    async def _room_participants(room_ids: list[int]) -> list[list[Member]]:
        from services import conversations

        found = await conversations.participants_by_room(list(room_ids))
        return [found[r] for r in room_ids]

    @staticmethod
    async def _contacts(contact_ids: list[int]) -> list:
        from services import conversations

        found = await conversations.contacts_by_ids(list(contact_ids))
        return [found.get(c) for c in contact_ids]

    @staticmethod
    async def _bots(account_ids: list[int]) -> list[list]:
        from services import conversations

        found = await conversations.bots_by_account(list(account_ids))
        return [found[a] for a in account_ids]

    @staticmethod
    async def _history_counts(account_ids: list[int]) -> list[int]:
        from services import conversations

        found = await conversations.history_counts(list(account_ids))
        return [found[a] for a in account_ids]


@dataclass
class Context:
    request: Request | WebSocket
    response: Any
    settings: Settings
    connection_params: dict | None = None  # graphql-transport-ws connection_init payload
    loaders: Loaders = field(default_factory=Loaders)
    _actor: Actor | None = None

    def _authorization(self) -> str | None:
        if isinstance(self.request, WebSocket):
            params = self.connection_params if isinstance(self.connection_params, dict) else {}
            value = params.get("authorization") or params.get("Authorization")
            return value if isinstance(value, str) else None
        return self.request.headers.get("authorization")

    async def actor(self) -> Actor:
        if self._actor is None:
            self._actor = await authenticate(bearer_token(self._authorization()))
        return self._actor

    async def member_actor(self) -> Actor:
        return (await self.actor()).require_member()

    async def admin(self) -> Actor:
        return (await self.actor()).require_admin()

    async def operator(self) -> Actor:
        return (await self.actor()).require_operator()


Info = _Info[Context, None]
