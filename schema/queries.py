"""Query root: thin resolvers that ask the domain layer and convert to GraphQL types."""
from __future__ import annotations

import strawberry

from schema import ids
import models
from schema.audit import AuditQueries
from schema.context import Info
from schema.conversations import Bot, Contact, Message, TalkRoom
from schema.exports import ExportQueries, HistoryExport
from schema.types import (Connection, Domain, Holiday, Member, Node, Product, ProductUsage, Viewer,
                          WindowAccount, WindowAccountStatus, connection, connection_of)
from services import accounts, directory, exports, products, responders
from services.auth import Actor


async def resolve_node(info: Info, actor: Actor, type_name: str, pk: int) -> Node | None:
    """Every Node type, looked up through the same visibility rules as its own query."""
    if type_name == "WindowAccount":
        return await WindowAccount.build_one(await accounts.get_account(actor, pk), info)
    if type_name == "Member":
        member = await directory.get_member(actor, pk)
        return Member.from_model(member) if member else None
    if type_name == "Product":
        product = await products.get_product(actor, pk)
        return Product.from_model(product) if product else None
    if type_name == "HistoryExport":
        export = await exports.get_export(actor, pk) if actor.is_admin else None
        return HistoryExport.from_model(export) if export else None
    if type_name == "Domain":
        domain = await directory.get_domain(pk) if pk == actor.domain_id else None
        return Domain.from_model(domain) if domain else None
    if type_name in _ACCOUNT_PARTS:
        model, graphql_type = _ACCOUNT_PARTS[type_name]
        row = await model.filter(id=pk).first()
        # visible exactly when its account is
        if row is None or await accounts.get_account(actor, row.account_id) is None:
            return None
        return graphql_type.from_model(row)
    raise ids.MalformedId(f"Unknown ID type {type_name}.")


_ACCOUNT_PARTS = {"Holiday": (models.Holiday, Holiday), "Contact": (models.Contact, Contact),
                  "TalkRoom": (models.TalkRoom, TalkRoom), "Bot": (models.Bot, Bot),
                  "Message": (models.Message, Message)}


@strawberry.type
class Query(ExportQueries, AuditQueries):
    @strawberry.field
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:
        type_name, pk = ids.decode_any(id)
        return await resolve_node(info, await info.context.member_actor(), type_name, pk)

    @strawberry.field
    async def viewer(self, info: Info) -> Viewer:
        actor = await info.context.member_actor()
        member = await directory.get_member(actor, actor.member_id)
        domain = await directory.get_domain(actor.domain_id)
        own = await accounts.accounts_of_member(actor.domain_id, actor.member_id)
        return Viewer(
            member=Member.from_model(member), domain=Domain.from_model(domain), role=member.role,
            services=[responders.CX_TALK] if own else [],
            window_accounts=await WindowAccount.build(own, info))

    @strawberry.field
    async def product_usage(self, info: Info) -> ProductUsage:
        usage = await products.product_usage(await info.context.admin())
        return ProductUsage(total_purchased=usage.total_purchased, accounts_in_use=usage.accounts_in_use,
                            products=[Product.from_model(p) for p in usage.products])

    @strawberry.field(description="ACTIVE and RESETTING accounts unless `status` asks for others. "
                                  "Members see the ACTIVE accounts they respond for.")
    async def window_accounts(self, info: Info, first: int | None = None, after: str | None = None,
                              search: str | None = None,
                              status: WindowAccountStatus | None = None) -> Connection[WindowAccount]:
        page = await accounts.list_accounts(await info.context.member_actor(), first, after, search, status)
        return connection_of(page, await WindowAccount.build(page.items, info))

    @strawberry.field
    async def window_account(self, info: Info, id: strawberry.ID) -> WindowAccount | None:
        account = await accounts.get_account(await info.context.member_actor(), ids.decode(id, "WindowAccount"))
        return await WindowAccount.build_one(account, info)

    @strawberry.field(description="Members of the domain whose name or email contains `search`.")
    async def members(self, info: Info, search: str | None = None, first: int | None = None,
                      after: str | None = None) -> Connection[Member]:
        page = await directory.search_members(await info.context.admin(), search, first, after)
        return connection(page, Member.from_model)
