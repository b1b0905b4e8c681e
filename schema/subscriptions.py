"""Subscriptions over graphql-transport-ws: current state first, then every change.

The row is read once per change per process and shared by every subscriber of it
(cxtalk/broadcast.py); each subscriber applies its own access rule (services/) to the shared row.
"""
from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import AsyncGenerator

import strawberry
from graphql import GraphQLError
from strawberry.dataloader import DataLoader

from cxtalk.broadcast import ReadFailed
from models import AccountStatus
from schema import ids
from schema.context import Info, Loaders
from schema.exports import HistoryExport
from schema.types import WindowAccount
from services import accounts, exports, jobs

log = logging.getLogger("cxtalk.subscriptions")


def _not_found(what: str) -> GraphQLError:
    # A missing ID and another domain's ID give the same answer.
    return GraphQLError(f"No such {what}.", extensions={"code": "NOT_FOUND"})


class _Shared:
    """One read of a row, handed to every subscriber of it in this process. Its GraphQL object
    depends on the row only (and the app's settings), so the first subscriber allowed to see it
    builds it for all: the statements of a change do not grow with the subscribers."""

    __slots__ = ("value", "_converted")

    def __init__(self, value):
        self.value = value
        self._converted = None

    async def converted(self, row, convert):
        if self._converted is None:  # one build, awaited by all (shielded: a subscriber may leave)
            self._converted = asyncio.ensure_future(_maybe_await(convert(row)))
        return await asyncio.shield(self._converted)


async def _maybe_await(value):
    return await value if inspect.isawaitable(value) else value


async def _changes(info: Info, topic: str, pk: int, *, read, visible, is_final, snapshot, convert):
    """Yield the row (as `convert` makes it a GraphQL object) now, then again whenever it
    changes, until it reaches a final state or the caller may no longer see it. `read()` is
    shared by all subscribers of the row in this process; `visible(value)` is the caller's
    access rule (services/) on what it returned: the row, or None if the caller may not see it."""
    broadcaster = info.context.request.app.state.broadcaster

    async def read_shared() -> _Shared:
        return _Shared(await read())

    async with broadcaster.watch(jobs.channel(topic, pk), read_shared) as inbox:  # listen first: no change is missed
        shared = await inbox.get()  # read after we started listening
        if isinstance(shared, ReadFailed):
            raise shared.error
        row = visible(shared.value)
        if row is None:
            raise _not_found(topic)
        last = snapshot(row)
        yield await shared.converted(row, convert)
        while not is_final(row):
            shared = await inbox.get()
            if isinstance(shared, ReadFailed):  # the database is briefly away: the feed reads again later
                continue
            row = visible(shared.value)
            if row is None:
                return
            if snapshot(row) != last:
                try:
                    converted = await shared.converted(row, convert)
                except Exception as exc:  # the database is briefly away: the next change or recheck builds again
                    log.warning("subscription update failed (%s); waiting for the next read", exc)
                    continue
                last = snapshot(row)
                _forget_loaded(info)  # no stale relations in this event
                yield converted


def _forget_loaded(info: Info) -> None:
    """Empty the connection's batch loaders for the next event (cheaper than new ones)."""
    for loader in vars(info.context.loaders).values():
        if isinstance(loader, DataLoader):
            loader.clear_all()


@strawberry.type
class Subscription:
    @strawberry.subscription(description="Current state first, then every change; ends after a final state.")
    async def history_export_updated(self, info: Info, id: strawberry.ID) -> AsyncGenerator[HistoryExport, None]:
        actor = await info.context.admin()
        pk = ids.decode(id, "HistoryExport")
        async for export in _changes(
                info, "export", pk, read=lambda: exports.read_export_unscoped(pk),
                visible=lambda e: exports.visible_export(actor, e),
                is_final=lambda e: e.status in exports.FINAL,
                snapshot=lambda e: (e.status, e.progress, e.row_count, e.file_name),
                convert=HistoryExport.from_model):
            yield export

    @strawberry.subscription(description="Current state first, then every change (reset progress); ends once RESET.")
    async def window_account_updated(self, info: Info, id: strawberry.ID) -> AsyncGenerator[WindowAccount, None]:
        actor = await info.context.member_actor()
        pk = ids.decode(id, "WindowAccount")
        settings = info.context.settings  # the app's: the same for every subscriber
        async for account in _changes(
                info, "account", pk, read=lambda: accounts.read_watched_account_unscoped(pk),
                visible=lambda w: accounts.visible_watched_account(actor, w),
                is_final=lambda a: a.status is AccountStatus.RESET,
                snapshot=lambda a: (a.status, a.updated_at, a.name, a.responder_count, a.product_id, a.image_name),
                convert=lambda a: WindowAccount.build_with([a], Loaders(), settings)):
            yield account[0]
