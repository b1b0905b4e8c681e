"""Subscriptions over graphql-transport-ws: current state first, then every change.

The row is read once per change per process and shared by every subscriber of it
(cxtalk/broadcast.py); each subscriber applies its own access rule (services/) to the shared row.
"""
from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry
from graphql import GraphQLError
from strawberry.dataloader import DataLoader

from cxtalk.broadcast import ReadFailed
from models import AccountStatus
from schema import ids
from schema.context import Info
from schema.exports import HistoryExport
from schema.types import WindowAccount
from services import accounts, exports, jobs

def _not_found(what: str) -> GraphQLError:
    # A missing ID and another domain's ID give the same answer.
    return GraphQLError(f"No such {what}.", extensions={"code": "NOT_FOUND"})


async def _changes(info: Info, topic: str, pk: int, read, visible, is_final, snapshot):
    """Yield the row now, then again whenever it changes, until it reaches a final state or the
    caller may no longer see it. `read` is shared by all subscribers of the row in this process;
    `visible(shared)` is the caller's access rule on it (None: not visible)."""
    broadcaster = info.context.request.app.state.broadcaster
    async with broadcaster.watch(jobs.channel(topic, pk), read) as inbox:  # listen first: no change is missed
        shared = await inbox.get()  # read after we started listening
        if isinstance(shared, ReadFailed):
            raise shared.error
        row = visible(shared)
        if row is None:
            raise _not_found(topic)
        last = snapshot(row)
        yield row
        while not is_final(row):
            shared = await inbox.get()
            if isinstance(shared, ReadFailed):  # the database is briefly away: the feed reads again later
                continue
            row = visible(shared)
            if row is None:
                return
            if snapshot(row) != last:
                last = snapshot(row)
                _forget_loaded(info)  # no stale relations in this event
                yield row


def _forget_loaded(info: Info) -> None:
    """Empty the connection's batch loaders (cheaper than new ones, and nothing to do when unused)."""
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
                info, "export", pk, lambda: exports.read_export(pk),
                visible=lambda e: exports.visible_export(actor, e),
                is_final=lambda e: e.status in exports.FINAL,
                snapshot=lambda e: (e.status, e.progress, e.row_count, e.file_name)):
            yield HistoryExport.from_model(export)

    @strawberry.subscription(description="Current state first, then every change (reset progress); ends once RESET.")
    async def window_account_updated(self, info: Info, id: strawberry.ID) -> AsyncGenerator[WindowAccount, None]:
        actor = await info.context.member_actor()
        pk = ids.decode(id, "WindowAccount")
        async for account in _changes(
                info, "account", pk, lambda: accounts.read_watched_account(pk),
                visible=lambda w: accounts.visible_watched_account(actor, w),
                is_final=lambda a: a.status is AccountStatus.RESET,
                snapshot=lambda a: (a.status, a.updated_at, a.name, a.responder_count, a.product_id, a.image_name)):
            yield WindowAccount.from_model(account, info.context.settings)
