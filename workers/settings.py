"""arq worker settings (`cxtalk worker`, or inside `cxtalk dev`).

arq is at-least-once and forgets: every job claims its database row with a conditional UPDATE
and holds a lease; the reconciler, run by every worker every few seconds, re-enqueues rows whose
enqueue Redis lost or whose worker died, and expires old exports.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from datetime import datetime, timedelta, timezone

from arq import cron
from tortoise.context import get_current_context

from cxtalk import db
from cxtalk.config import get_settings
from models import WindowAccount
from services import exports, jobs, reset
from services.export_job import run_export as export_job

log = logging.getLogger("cxtalk.worker")
RECONCILE_EVERY = int(os.environ.get("RECONCILE_EVERY_SECONDS", "5"))
# An enqueued job normally starts well within this; after it the reconciler assumes Redis lost it.
PENDING_GRACE = timedelta(seconds=float(os.environ.get("PENDING_GRACE_SECONDS", "10")))


async def run_export(ctx, export_id: int) -> str:
    return await export_job(export_id)


async def run_reset(ctx, account_id: int) -> str:
    return await reset.run_reset(account_id)


async def reconcile(ctx) -> dict:
    now = datetime.now(timezone.utc)
    bucket = int(time.time() // 30)  # dedupes the reconciler's own enqueues for a while
    stale = await exports.stale_exports(now, PENDING_GRACE)
    for export in stale:
        await jobs.enqueue("run_export", export.id, job_id=f"export-{export.id}-{export.attempt}-{bucket}")
    resets = await reset.stale_resets(now)
    # the attempt in the id, as for exports: a retry of a retry that died is a new job, not a duplicate
    attempts = dict(await WindowAccount.filter(id__in=resets).values_list("id", "reset_attempt")) if resets else {}
    for account_id in resets:
        await jobs.enqueue("run_reset", account_id,
                           job_id=f"reset-{account_id}-{attempts.get(account_id, 0)}-{bucket}")
    expired = await exports.expire_exports(now)
    if stale or resets or expired:
        log.info("reconciled: %d exports, %d resets re-enqueued, %d expired", len(stale), len(resets), expired)
    return {"exports": len(stale), "resets": len(resets), "expired": expired}


async def startup(ctx) -> None:
    inherited = get_current_context()  # `cxtalk dev`: the runner's, which the runner closes
    await db.init_db()
    if get_current_context() is not inherited:
        # Ours, kept for shutdown: arq runs startup in its own task, whose context holds the
        # Tortoise context; shutdown may run in another task, where Tortoise.close_connections()
        # finds nothing (and a SQLite connection's thread then keeps the process alive).
        ctx["tortoise"] = get_current_context()
    jobs.use_pool(ctx["redis"])


async def shutdown(ctx) -> None:
    await _close_db(ctx)


async def _close_db(ctx) -> None:
    tortoise_context = ctx.pop("tortoise", None)
    if tortoise_context is not None:
        await tortoise_context.close_connections()


def _redis_settings():
    url = get_settings().redis_url
    if not url:
        raise SystemExit("REDIS_URL is not set: the worker needs Redis (cxtalk dev starts a private one)")
    return jobs.redis_settings(url)


class WorkerSettings:
    functions = [run_export, run_reset]
    cron_jobs = [cron(reconcile, second=set(range(0, 60, RECONCILE_EVERY)), run_at_startup=True,
                      unique=False, timeout=60)]
    on_startup = startup
    on_shutdown = shutdown
    poll_delay = 0.02  # arq's default 0.5 s would add ~250 ms before every job
    max_jobs = 4
    job_timeout = 6 * 3600  # a long export renews its lease; a dead one is found by the lease, not arq
    max_tries = 1  # retries are the reconciler's job, driven by the database
    keep_result = 60


def create_worker(**overrides):
    from arq.worker import create_worker as arq_create_worker

    return arq_create_worker(WorkerSettings, redis_settings=_redis_settings(), **overrides)


async def run_supervised() -> None:
    """Run the arq worker until cancelled, starting it again whenever it dies.

    arq's main loop ends with an exception when Redis goes away (and a plain process would sit
    there idle). Jobs in flight are safe: their rows keep the truth, and their leases let the
    restarted worker's reconciler take them over.
    """
    while True:
        worker = create_worker(handle_signals=False)
        try:
            await worker.async_run()
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.error("worker stopped (%s: %s); starting again in 1 s", type(exc).__name__, exc)
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(worker.close(), timeout=5)
            with contextlib.suppress(Exception):  # close() skips on_shutdown when Redis is gone
                await asyncio.wait_for(_close_db(worker.ctx), timeout=5)
        await asyncio.sleep(1)
