"""Subscriptions over graphql-transport-ws: current state first, then every change."""
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator

import strawberry
from graphql import GraphQLError

from models import AccountStatus
from schema import ids
from schema.context import Info, Loaders
from schema.exports import HistoryExport
from schema.types import WindowAccount
from services import accounts, exports, jobs

log = logging.getLogger("cxtalk.subscriptions")
RECHECK_SECONDS = 5.0  # pub/sub may drop a message: re-read the database at least this often


def _not_found(what: str) -> GraphQLError:
    # A missing ID and another domain's ID give the same answer.
    return GraphQLError(f"No such {what}.", extensions={"code": "NOT_FOUND"})


async def _changes(info: Info, topic: str, pk: int, load, is_final, snapshot):
    """Yield the row now, then again whenever it changes, until it reaches a final state."""
    broadcaster = info.context.request.app.state.broadcaster
    async with broadcaster.listen(jobs.channel(topic, pk)) as queue:  # listen first: no change is missed
        row = await load()
        if row is None:
            raise _not_found(topic)
        last = snapshot(row)
        yield row
        while not is_final(row):
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(queue.get(), timeout=RECHECK_SECONDS)
            try:
                row = await load()
            except Exception as exc:  # the database is briefly away: keep listening, read again later
                log.warning("subscription re-read failed (%s); retrying", exc)
                continue
            if row is None:
                return
            if snapshot(row) != last:
                last = snapshot(row)
                info.context.loaders = Loaders()  # fresh batch loaders per event: no stale data
                yield row


@strawberry.type
class Subscription:
    @strawberry.subscription(description="Current state first, then every change; ends after a final state.")
    async def history_export_updated(self, info: Info, id: strawberry.ID) -> AsyncGenerator[HistoryExport, None]:
        actor = await info.context.admin()
        pk = ids.decode(id, "HistoryExport")
        async for export in _changes(
                info, "export", pk, lambda: exports.get_export(actor, pk),
                is_final=lambda e: e.status in exports.FINAL,
                snapshot=lambda e: (e.status, e.progress, e.row_count, e.file_name)):
            yield HistoryExport.from_model(export)

    @strawberry.subscription(description="Current state first, then every change (reset progress); ends once RESET.")
    async def window_account_updated(self, info: Info, id: strawberry.ID) -> AsyncGenerator[WindowAccount, None]:
        actor = await info.context.member_actor()
        pk = ids.decode(id, "WindowAccount")
        async for account in _changes(
                info, "account", pk, lambda: accounts.get_account(actor, pk),
                is_final=lambda a: a.status is AccountStatus.RESET,
                snapshot=lambda a: (a.status, a.updated_at, a.name, a.responder_count, a.product_id, a.image_name)):
            yield await WindowAccount.build_one(account, info)
