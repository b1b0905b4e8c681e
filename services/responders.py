"""Responders of window accounts, and the CX Talk access that being one grants."""
from __future__ import annotations

from cxtalk.db import atomic
from models import AccountStatus, Member, Responder, WindowAccount
from services import counters, jobs
from services.accounts import why_account_unchangeable
from services.auth import Actor
from services.directory import members_by_ids
from services.errors import BusinessError, ErrorCode

CX_TALK = "CX_TALK"


async def add_responders(actor: Actor, account_id: int, member_ids: list[int]) -> WindowAccount:
    """All or nothing: beyond the limit, or any member already responding, changes nothing."""
    actor.require_admin()
    member_ids = list(dict.fromkeys(member_ids))
    if not member_ids:
        raise BusinessError.one(ErrorCode.REQUIRED, "memberIds", "Choose at least one member.")
    if len(await members_by_ids(actor, member_ids)) != len(member_ids):
        raise BusinessError.one(ErrorCode.NOT_FOUND, "memberIds", "A chosen member is not in this domain.")

    async def work(conn):
        if not await counters.add_responder_slots(conn, account_id, actor.domain_id, len(member_ids)):
            account = await WindowAccount.filter(id=account_id, domain_id=actor.domain_id).using_db(conn).first()
            if account is None or account.status is not AccountStatus.ACTIVE:
                raise await why_account_unchangeable(conn, actor, account_id, "accountId")
            raise BusinessError.one(ErrorCode.RESPONDER_LIMIT_REACHED, "memberIds",
                                    "The product of this account allows no more responders.")
        if await Responder.filter(account_id=account_id, member_id__in=member_ids).using_db(conn).exists():
            raise BusinessError.one(ErrorCode.ALREADY_RESPONDER, "memberIds",
                                    "A chosen member already responds for this account.")
        await Responder.bulk_create(
            [Responder(account_id=account_id, member_id=m) for m in member_ids], using_db=conn)
        return await WindowAccount.get(id=account_id).using_db(conn)

    account = await atomic(work)
    await jobs.publish("account", account_id)
    return account


async def remove_responder(actor: Actor, account_id: int, member_id: int) -> WindowAccount:
    """Allowed while the account keeps at least one responder."""
    actor.require_admin()

    async def work(conn):
        if not await counters.free_responder_slot(conn, account_id, actor.domain_id):
            account = await WindowAccount.filter(id=account_id, domain_id=actor.domain_id).using_db(conn).first()
            if account is None or account.status is not AccountStatus.ACTIVE:
                raise await why_account_unchangeable(conn, actor, account_id, "accountId")
            await _require_responder(conn, actor, account_id, member_id)
            raise BusinessError.one(ErrorCode.LAST_RESPONDER, "memberId",
                                    "An account keeps at least one responder.")
        # Checked by the DELETE itself: a parallel removal of the same member may have won.
        if not await Responder.filter(account_id=account_id, member_id=member_id).using_db(conn).delete():
            await _require_responder(conn, actor, account_id, member_id)
        await leave_talk_rooms(conn, account_id, member_id)
        return await WindowAccount.get(id=account_id).using_db(conn)

    account = await atomic(work)
    await jobs.publish("account", account_id)
    return account


async def _require_responder(conn, actor: Actor, account_id: int, member_id: int) -> None:
    if not await Member.filter(id=member_id, domain_id=actor.domain_id).using_db(conn).exists():
        raise BusinessError.one(ErrorCode.NOT_FOUND, "memberId", "No such member.")
    if not await Responder.filter(account_id=account_id, member_id=member_id).using_db(conn).exists():
        raise BusinessError.one(ErrorCode.NOT_A_RESPONDER, "memberId", "This member does not respond for the account.")


async def leave_talk_rooms(conn, account_id: int, member_id: int) -> None:
    """The removed responder leaves every talk room of the account."""
    from services import conversations  # imported here: it builds on the account services

    await conversations.leave_talk_rooms(conn, account_id, member_id)


async def responder_members_by_account(account_ids: list[int]) -> dict[int, list[Member]]:
    """Each account's responders in the order they were added. Two statements; pairs as tuples and
    each member loaded once (a page of accounts shares a few members across hundreds of pairs)."""
    pairs = await Responder.filter(account_id__in=account_ids).order_by("id").values_list("account_id", "member_id")
    members = {m.id: m for m in await Member.filter(id__in={m for _, m in pairs})} if pairs else {}
    result: dict[int, list[Member]] = {a: [] for a in account_ids}
    for account_id, member_id in pairs:
        result[account_id].append(members[member_id])
    return result


async def active_responder_member_ids(member_ids: list[int]) -> set[int]:
    """Members who respond for at least one ACTIVE account: they have CX Talk access."""
    rows = await Responder.filter(member_id__in=member_ids, account__status=AccountStatus.ACTIVE) \
        .distinct().values_list("member_id", flat=True)
    return set(rows)


async def services_of(member_id: int) -> list[str]:
    return [CX_TALK] if await active_responder_member_ids([member_id]) else []
