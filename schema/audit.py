"""Audit in GraphQL: an extension on every mutation field records it; `auditEvents` reads the log."""
from __future__ import annotations

import dataclasses
import enum
import re
from datetime import date, datetime
from typing import Any

import strawberry
from strawberry import Private
from strawberry.extensions import FieldExtension
from strawberry.scalars import JSON

import models
from schema import ids
from schema.base import Connection, Member, connection
from schema.context import Info
from services import audit

# Input fields that name the object a mutation acts on, in order of preference.
_TARGET_INPUTS = ("id", "accountId", "roomId", "domainId", "memberId")
_TARGET_PAYLOADS = ("window_account", "export", "product", "bot", "contact", "room")
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _jsonable(value: Any) -> Any:
    """An input as plain JSON for the log: uploads become their file name, UNSET fields vanish."""
    if value is strawberry.UNSET:
        return strawberry.UNSET
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {}
        for f in dataclasses.fields(value):
            item = _jsonable(getattr(value, f.name))
            if item is not strawberry.UNSET:
                out[strawberry.utils.str_converters.to_camel_case(f.name)] = item
        return out
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, str):  # PostgreSQL's JSON refuses NUL and lone surrogates: keep the rest
        return _UNSTORABLE.sub("\ufffd", value)
    if value is None or isinstance(value, (int, float, bool)):
        return value
    if hasattr(value, "filename"):  # an Upload: never store file contents
        return {"upload": getattr(value, "filename", None)}
    return str(value)


def _target(result: Any, changes: dict) -> tuple[str | None, int | None]:
    for attr in _TARGET_PAYLOADS:
        obj = getattr(result, attr, None)
        if obj is not None and getattr(obj, "id", None):
            return ids.decode_any(obj.id)
    for name in _TARGET_INPUTS:
        value = changes.get(name)
        if isinstance(value, str):
            try:
                return ids.decode_any(value)
            except ids.MalformedId:
                return None, None
    return None, None


class AuditLog(FieldExtension):
    """Records each mutation call with its actor, target, input and outcome (after it ran)."""

    async def resolve_async(self, next_, source, info: Info, **kwargs):
        changes = _jsonable(kwargs.get("input")) if "input" in kwargs else {}
        try:
            result = await next_(source, info, **kwargs)
        except Exception as exc:
            code = getattr(exc, "extensions", None) or {}
            await self._record(info, None, changes, code.get("code", "ERROR"))
            raise
        errors = getattr(result, "errors", None) or []
        await self._record(info, result, changes, ",".join(e.code.value for e in errors) or "OK")
        return result

    @staticmethod
    async def _record(info: Info, result, changes: dict, outcome: str) -> None:
        actor = info.context._actor
        if actor is None:  # unauthenticated calls belong to no domain's log
            return
        target_type, target_id = _target(result, changes if isinstance(changes, dict) else {})
        request = info.context.request
        await audit.record(actor=actor, action=info.field_name, target_type=target_type, target_id=target_id,
                           changes=changes or None, outcome=outcome,
                           client_address=request.client.host if request.client else None)


def audit_every_mutation(mutation_type) -> None:
    for field in mutation_type.__strawberry_definition__.fields:
        field.extensions.append(AuditLog())


@strawberry.type
class AuditEvent:
    id: strawberry.ID
    action: str
    actor_kind: str
    target_type: str | None
    target_id: strawberry.ID | None = strawberry.field(description="Global ID of the target, when it has one.")
    changes: JSON | None
    outcome: str = strawberry.field(description="OK, or the error codes of a refused call.")
    client_address: str | None
    created_at: datetime
    actor_member_id: Private[int | None]

    @strawberry.field
    async def actor(self, info: Info) -> Member | None:
        if self.actor_member_id is None:
            return None
        member = await info.context.loaders.member.load(self.actor_member_id)
        return Member.from_model(member) if member else None

    @classmethod
    def from_model(cls, e: models.AuditEvent) -> "AuditEvent":
        target = ids.encode(e.target_type, e.target_id) if e.target_type and e.target_id is not None else None
        return cls(id=ids.encode("AuditEvent", e.id), action=e.action, actor_kind=e.actor_kind,
                   target_type=e.target_type, target_id=target, changes=e.changes, outcome=e.outcome,
                   client_address=e.client_address, created_at=e.created_at, actor_member_id=e.actor_member_id)


@strawberry.input
class AuditEventFilter:
    action: str | None = None
    target_id: strawberry.ID | None = None
    actor_id: strawberry.ID | None = None
    since: datetime | None = None
    until: datetime | None = None


@strawberry.type
class AuditQueries:
    @strawberry.field(description="The domain's audit log, newest first (administrators only).")
    async def audit_events(self, info: Info, first: int | None = None, after: str | None = None,
                           filter: AuditEventFilter | None = None) -> Connection[AuditEvent]:
        f = filter or AuditEventFilter()
        target_type, target_id = ids.decode_any(f.target_id) if f.target_id else (None, None)
        page = await audit.list_events(await info.context.admin(), first, after, audit.AuditFilter(
            action=f.action, target_type=target_type, target_id=target_id,
            actor_member_id=ids.decode(f.actor_id, "Member") if f.actor_id else None, since=f.since, until=f.until))
        return connection(page, AuditEvent.from_model)
