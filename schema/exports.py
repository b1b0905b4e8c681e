"""History exports and account reset in GraphQL: types, queries and mutations (mixed into the roots)."""
from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry import Private

import models
from schema import ids
from schema.base import Connection, Member, Node, UserError, connection
from schema.context import Info
from schema.errors import payload_on_error, user_errors
from schema.types import WindowAccount, WindowAccountPayload
from services import exports, reset
from services.errors import BusinessError, ErrorCode, FieldError

ExportStatus = strawberry.enum(models.ExportStatus, name="ExportStatus")
ExportFormat = strawberry.enum(models.ExportFormat, name="ExportFormat")
CsvEncoding = strawberry.enum(models.CsvEncoding, name="CsvEncoding")


@strawberry.type
class HistoryExport(Node):
    status: ExportStatus
    format: ExportFormat
    csv_encoding: CsvEncoding
    progress: float
    row_count: int | None
    sha256: str | None
    download_url: str | None
    expires_at: datetime | None
    created_at: datetime
    finished_at: datetime | None
    error: str | None = strawberry.field(description="Why a FAILED export failed.")
    since: datetime | None
    until: datetime | None
    requested_by_id: Private[int]

    @strawberry.field
    async def requested_by(self, info: Info) -> Member:
        return Member.from_model(await info.context.loaders.member.load(self.requested_by_id))

    @classmethod
    def from_model(cls, e: models.HistoryExport) -> "HistoryExport":
        return cls(
            id=ids.encode("HistoryExport", e.id), status=e.status, format=e.format, csv_encoding=e.csv_encoding,
            progress=e.progress, row_count=e.row_count, sha256=e.sha256, download_url=exports.download_url(e),
            expires_at=e.expires_at, created_at=e.created_at, finished_at=e.finished_at, error=e.error,
            since=e.since, until=e.until, requested_by_id=e.requested_by_id)


@strawberry.type
class HistoryExportPayload:
    export: HistoryExport | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input
class RequestHistoryExportInput:
    format: ExportFormat | None = models.ExportFormat.CSV
    csv_encoding: CsvEncoding | None = models.CsvEncoding.UTF8_BOM
    account_ids: list[strawberry.ID] | None = None
    since: datetime | None = None
    until: datetime | None = None


@strawberry.input
class CancelHistoryExportInput:
    id: strawberry.ID


@strawberry.input
class ResetWindowAccountInput:
    id: strawberry.ID
    confirm_handle: str


@strawberry.type
class ExportQueries:
    @strawberry.field(description="The domain's exports, newest first.")
    async def history_exports(self, info: Info, first: int | None = None,
                              after: str | None = None) -> Connection[HistoryExport]:
        page = await exports.list_exports(await info.context.admin(), first, after)
        return connection(page, HistoryExport.from_model)

    @strawberry.field
    async def history_export(self, info: Info, id: strawberry.ID) -> HistoryExport | None:
        export = await exports.get_export(await info.context.admin(), ids.decode(id, "HistoryExport"))
        return HistoryExport.from_model(export) if export else None


@strawberry.type
class ExportMutations:
    @strawberry.mutation(description="Starts a background export; while one is PENDING or RUNNING, "
                                     "returns that one with EXPORT_IN_PROGRESS.")
    @payload_on_error(HistoryExportPayload)
    async def request_history_export(self, info: Info, input: RequestHistoryExportInput) -> HistoryExportPayload:
        actor = await info.context.admin()
        account_ids = ids.decode_many(input.account_ids, "WindowAccount") if input.account_ids is not None else None
        request = await exports.request_export(actor, input.format, input.csv_encoding, account_ids,
                                               input.since, input.until)
        errors = []
        if request.already_running:
            errors = user_errors(BusinessError(FieldError(
                ErrorCode.EXPORT_IN_PROGRESS, None, "An export is already running; this is that export.")))
        return HistoryExportPayload(export=HistoryExport.from_model(request.export), errors=errors)

    @strawberry.mutation
    @payload_on_error(HistoryExportPayload)
    async def cancel_history_export(self, info: Info, input: CancelHistoryExportInput) -> HistoryExportPayload:
        export = await exports.cancel_export(await info.context.admin(), ids.decode(input.id, "HistoryExport"))
        return HistoryExportPayload(export=HistoryExport.from_model(export))

    @strawberry.mutation(description="Irreversible: type the account's handle as confirmHandle.")
    @payload_on_error(WindowAccountPayload)
    async def reset_window_account(self, info: Info, input: ResetWindowAccountInput) -> WindowAccountPayload:
        account = await reset.reset_account(await info.context.admin(), ids.decode(input.id, "WindowAccount"),
                                            input.confirm_handle)
        return WindowAccountPayload(window_account=await WindowAccount.build_one(account, info))
