"""Response-history exports: requests, cancellation, reading, expiry. The job is export_job.py."""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.functions import Max

from cxtalk.config import get_settings
from cxtalk.db import atomic
from models import CsvEncoding, ExportFormat, ExportStatus, HistoryExport, Message, WindowAccount
from services import counters, download_tokens, jobs
from services.auth import Actor
from services.errors import BusinessError, ErrorCode
from services.pagination import Page, paginate
from services.window_settings import supported_instant

log = logging.getLogger("cxtalk.exports")
ACTIVE = (ExportStatus.PENDING, ExportStatus.RUNNING)
MAX_ACCOUNT_IDS = 30_000  # the job binds each as a parameter; PostgreSQL allows 32,767 per statement
FINAL = (ExportStatus.READY, ExportStatus.FAILED, ExportStatus.CANCELED, ExportStatus.EXPIRED)


def ttl() -> timedelta:
    return timedelta(seconds=float(os.environ.get("EXPORT_TTL_SECONDS", str(7 * 24 * 3600))))


def exports_dir() -> Path:
    return get_settings().data_dir / "exports"


def _window_time(value: datetime | None, field: str) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None or value.utcoffset() is None:
        raise BusinessError.one(ErrorCode.INVALID, field, "Give the time with its UTC offset.")
    return supported_instant(value, field)


@dataclass
class ExportRequest:
    export: HistoryExport
    already_running: bool  # True: this is the export that was PENDING or RUNNING before


async def request_export(actor: Actor, fmt: ExportFormat | None, encoding: CsvEncoding | None,
                         account_ids: list[int] | None, since: datetime | None,
                         until: datetime | None) -> ExportRequest:
    actor.require_admin()
    since, until = _window_time(since, "since"), _window_time(until, "until")
    if since and until and since >= until:
        raise BusinessError.one(ErrorCode.INVALID_RANGE, "until", "'until' must be after 'since'.")
    if account_ids is not None:
        account_ids = sorted(set(account_ids))
        if not account_ids:
            raise BusinessError.one(ErrorCode.REQUIRED, "accountIds", "Choose at least one account, or none for all.")
        if len(account_ids) > MAX_ACCOUNT_IDS:
            raise BusinessError.one(ErrorCode.INVALID, "accountIds",
                                    f"At most {MAX_ACCOUNT_IDS} accounts; leave accountIds out for all of them.")
        # Reset accounts count too: their history is kept and exported.
        if await WindowAccount.filter(domain_id=actor.domain_id, id__in=account_ids).count() != len(account_ids):
            raise BusinessError.one(ErrorCode.NOT_FOUND, "accountIds", "A chosen account does not exist.")

    async def work(conn):
        # The unique active_domain_id makes the INSERT itself refuse a second active export.
        watermark = (await Message.filter(domain_id=actor.domain_id).using_db(conn)
                     .annotate(top=Max("id")).values_list("top", flat=True))
        return await HistoryExport.create(
            domain_id=actor.domain_id, requested_by_id=actor.member_id, status=ExportStatus.PENDING,
            active_domain_id=actor.domain_id, format=fmt or ExportFormat.CSV,
            csv_encoding=encoding or CsvEncoding.UTF8_BOM, account_ids=account_ids, since=since, until=until,
            watermark_id=(watermark[0] if watermark else None) or 0, using_db=conn)

    for _ in range(3):
        try:
            export = await atomic(work)
        except IntegrityError:
            running = await HistoryExport.filter(active_domain_id=actor.domain_id).first()
            if running is not None:
                return ExportRequest(running, already_running=True)
            continue  # it finished in between: try again
        await jobs.enqueue("run_export", export.id, job_id=f"export-{export.id}")
        await jobs.publish("export", export.id)
        return ExportRequest(export, already_running=False)
    raise RuntimeError("could not register the export")


async def cancel_export(actor: Actor, export_id: int) -> HistoryExport:
    actor.require_admin()
    now = datetime.now(timezone.utc)

    async def work(conn):
        changed = await counters.execute(
            conn, "UPDATE history_exports SET status = 'CANCELED', active_domain_id = NULL, finished_at = ?,"
                  " lease_until = NULL WHERE id = ? AND domain_id = ? AND status IN ('PENDING', 'RUNNING')",
            now, export_id, actor.domain_id)
        export = await HistoryExport.filter(id=export_id, domain_id=actor.domain_id).using_db(conn).first()
        if export is None:
            raise BusinessError.one(ErrorCode.NOT_FOUND, "id", "No such export.")
        if not changed:
            raise BusinessError.one(ErrorCode.EXPORT_NOT_CANCELABLE, "id",
                                    f"The export is {export.status.value} and can no longer be canceled.")
        return export

    export = await atomic(work)
    await jobs.publish("export", export.id)
    return export


async def get_export(actor: Actor, export_id: int) -> HistoryExport | None:
    actor.require_admin()
    return visible_export(actor, await read_export_unscoped(export_id))


async def read_export_unscoped(export_id: int) -> HistoryExport | None:
    """The row whoever asks: read once per change and shared by every subscriber of the export in
    this process. Never hand it to a caller without `visible_export`."""
    return await HistoryExport.filter(id=export_id).first()


def visible_export(actor: Actor, export: HistoryExport | None) -> HistoryExport | None:
    """The one rule for reading an export: administrators of its domain; anyone else's reads as missing."""
    actor.require_admin()
    return export if export is not None and export.domain_id == actor.domain_id else None


async def list_exports(actor: Actor, first: int | None, after: str | None) -> Page[HistoryExport]:
    actor.require_admin()
    return await paginate(HistoryExport.filter(domain_id=actor.domain_id), first, after, newest_first=True)


def download_url(export: HistoryExport) -> str | None:
    if export.status is not ExportStatus.READY or export.expires_at is None:
        return None
    settings = get_settings()
    token = download_tokens.sign(settings.secret_key, export.id, export.domain_id, export.expires_at)
    return f"{settings.public_base_url}/exports/{token}"


async def downloadable(token: str) -> tuple[HistoryExport, Path] | None:
    """The READY export a download token names, with its file; None for anything else."""
    now = datetime.now(timezone.utc)
    found = download_tokens.verify(get_settings().secret_key, token, now)
    if found is None:
        return None
    export_id, domain_id = found
    export = await HistoryExport.filter(id=export_id, domain_id=domain_id, status=ExportStatus.READY).first()
    if export is None or export.expires_at is None or export.expires_at <= now or not export.file_name:
        return None
    path = exports_dir() / export.file_name
    return (export, path) if path.is_file() else None


async def expire_exports(now: datetime) -> int:
    """READY exports past their expiry: EXPIRED first, then the file goes (a crash in between is
    swept on the next run, since EXPIRED rows keep their file name until the file is gone)."""
    expired = 0
    for export in await HistoryExport.filter(status=ExportStatus.READY, expires_at__lt=now):
        changed = await HistoryExport.filter(id=export.id, status=ExportStatus.READY).update(
            status=ExportStatus.EXPIRED)
        if changed:
            expired += 1
            await jobs.publish("export", export.id)
    for export in await HistoryExport.filter(status=ExportStatus.EXPIRED, file_name__isnull=False):
        (exports_dir() / export.file_name).unlink(missing_ok=True)
        await HistoryExport.filter(id=export.id).update(file_name=None)
    return expired


async def stale_exports(now: datetime, pending_grace: timedelta) -> list[HistoryExport]:
    """Exports whose job is not running: PENDING for a while (the enqueue may have been lost),
    or RUNNING with an expired lease (the worker died)."""
    return await HistoryExport.filter(
        Q(status=ExportStatus.PENDING, created_at__lt=now - pending_grace)
        | Q(status=ExportStatus.RUNNING, lease_until__lt=now))
