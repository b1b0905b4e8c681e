"""Account reset: the immediate effects in one transaction, then a cleanup job."""
from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

from cxtalk.db import atomic
from models import AccountStatus, BotOrigin, Responder, WindowAccount
from services import counters, jobs
from services.accounts import lock_active_account
from services.auth import Actor
from services.errors import BusinessError, ErrorCode

log = logging.getLogger("cxtalk.reset")
BATCH = 500


async def reset_account(actor: Actor, account_id: int, confirm_handle: str) -> WindowAccount:
    """Irreversible. At once: RESETTING, responders' permissions removed, product unit, name and
    handle freed, invite link dead, customer messages refused. The job does the rest."""
    actor.require_admin()

    async def work(conn):
        await lock_active_account(conn, actor, account_id)
        account = await WindowAccount.get(id=account_id).using_db(conn)
        if confirm_handle != account.handle:
            raise BusinessError.one(ErrorCode.CONFIRMATION_MISMATCH, "confirmHandle",
                                    "Type the account's ID exactly to confirm the reset.")
        await Responder.filter(account_id=account_id).using_db(conn).delete()
        await counters.release_product_unit(conn, account.product_id)
        account.status = AccountStatus.RESETTING
        account.name_key = account.handle_key = None
        account.responder_count = 0
        account.reset_started_at = datetime.now(timezone.utc)
        await account.save(update_fields=["status", "name_key", "handle_key", "responder_count", "reset_started_at"],
                           using_db=conn)
        return account

    account = await atomic(work)
    await jobs.enqueue("run_reset", account.id, job_id=f"reset-{account.id}")
    await jobs.publish("account", account.id)
    return account


async def _claim(account_id: int) -> int | None:
    """Take the job for this worker; returns the attempt number, or None if it is not ours."""
    now = datetime.now(timezone.utc)

    async def work(conn):
        claimed = await counters.execute(
            conn, "UPDATE window_accounts SET reset_attempt = reset_attempt + 1, reset_lease_until = ?"
                  " WHERE id = ? AND status = 'RESETTING' AND (reset_lease_until IS NULL OR reset_lease_until < ?)",
            now + timedelta(seconds=jobs.lease_seconds()), account_id, now)
        if not claimed:
            return None
        return (await WindowAccount.get(id=account_id).using_db(conn)).reset_attempt

    return await atomic(work)


async def _still_ours(conn, account_id: int, attempt: int) -> bool:
    """Renew the lease, unless another worker took over (then stop without touching anything)."""
    return await counters.execute(
        conn, "UPDATE window_accounts SET reset_lease_until = ? WHERE id = ? AND reset_attempt = ?"
              " AND status = 'RESETTING'",
        datetime.now(timezone.utc) + timedelta(seconds=jobs.lease_seconds()), account_id, attempt) == 1


async def run_reset(account_id: int) -> str:
    """Delete talk rooms and CX_TALK bots in batches (messages, contacts and DEV_CONSOLE bots
    stay), then mark RESET. Idempotent: every step can run again after a crash."""
    attempt = await _claim(account_id)
    if attempt is None:
        return "not claimed"
    account = await WindowAccount.get(id=account_id)
    started = account.reset_started_at

    async def delete_rooms(conn):
        if not await _still_ours(conn, account_id, attempt):
            return None
        return await counters.execute(
            conn, "DELETE FROM talk_rooms WHERE id IN (SELECT id FROM talk_rooms WHERE account_id = ?"
                  " AND created_at <= ? ORDER BY id LIMIT ?)", account_id, started, BATCH)

    while True:
        deleted = await atomic(delete_rooms)
        if deleted is None:
            return "lease lost"
        if deleted == 0:
            break

    async def finish(conn):
        if not await _still_ours(conn, account_id, attempt):
            return False
        await counters.execute(conn, "DELETE FROM bots WHERE account_id = ? AND origin = ? AND created_at <= ?",
                               account_id, BotOrigin.CX_TALK.value, started)
        await counters.execute(conn, "UPDATE window_accounts SET status = 'RESET', reset_lease_until = NULL"
                                     " WHERE id = ? AND reset_attempt = ?", account_id, attempt)
        return True

    if not await atomic(finish):
        return "lease lost"
    await jobs.publish("account", account_id)
    return "reset"


async def stale_resets(now: datetime) -> list[int]:
    """RESETTING accounts whose job is not running (never started, or its worker died)."""
    from tortoise.expressions import Q

    return await WindowAccount.filter(
        Q(reset_lease_until__isnull=True) | Q(reset_lease_until__lt=now), status=AccountStatus.RESETTING,
    ).values_list("id", flat=True)
