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
        self.responders = DataLoader(self._responders)
        self.is_responder = DataLoader(self._is_responder)
        self.holidays = DataLoader(self._holidays)

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
