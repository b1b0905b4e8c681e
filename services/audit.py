"""The audit log: recorded after every admin and operator mutation and every export download."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from models import AuditEvent, Bot, Contact, HistoryExport, Holiday, Member, Product, TalkRoom, WindowAccount
from services.auth import Actor
from services.errors import BusinessError
from services.pagination import Page, paginate
from services.text_rules import search_term
from services.window_settings import BadTimeArgument, supported_instant

log = logging.getLogger("cxtalk.audit")

# Target type -> model, to find the domain of an operator's target.
_OWNED_BY_DOMAIN = {"WindowAccount": WindowAccount, "Product": Product, "Member": Member,
                    "HistoryExport": HistoryExport}
_OWNED_BY_ACCOUNT = {"Bot": Bot, "Contact": Contact, "TalkRoom": TalkRoom, "Holiday": Holiday}


@dataclass(frozen=True)
class AuditFilter:
    action: str | None = None
    target_type: str | None = None
    target_id: int | None = None
    actor_member_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None


async def domain_of(target_type: str | None, target_id: int | None) -> int | None:
    if target_type == "Domain":
        return target_id
    if target_id is None:
        return None
    if target_type in _OWNED_BY_DOMAIN:
        found = await _OWNED_BY_DOMAIN[target_type].filter(id=target_id).values_list("domain_id", flat=True)
        return found[0] if found else None
    if target_type in _OWNED_BY_ACCOUNT:
        found = await _OWNED_BY_ACCOUNT[target_type].filter(id=target_id).values_list(
            "account__domain_id", flat=True)
        return found[0] if found else None
    return None


async def record(*, actor: Actor | None, action: str, target_type: str | None, target_id: int | None,
                 changes: dict | None, outcome: str, client_address: str | None,
                 domain_id: int | None = None, actor_kind: str | None = None) -> None:
    """Never fails the request it records: a failure to write the log is logged itself."""
    try:
        if domain_id is None:
            domain_id = actor.domain_id if actor and actor.domain_id else await domain_of(target_type, target_id)
        await AuditEvent.create(
            domain_id=domain_id, actor_kind=actor_kind or (actor.kind.value if actor else "ANONYMOUS"),
            actor_member_id=actor.member_id if actor else None, action=action[:64], target_type=target_type,
            target_id=target_id, changes=changes, outcome=outcome[:64], client_address=(client_address or "")[:64] or None)
    except Exception:
        log.exception("could not write the audit event %s %s:%s", action, target_type, target_id)


def _filter_time(value: datetime | None, name: str) -> datetime | None:
    """Like a malformed cursor, a bad filter time is a top-level BAD_USER_INPUT."""
    if value is None:
        return None
    if value.tzinfo is None or value.utcoffset() is None:
        raise BadTimeArgument(f"Give '{name}' with its UTC offset.")
    try:
        return supported_instant(value, name)
    except BusinessError as exc:
        raise BadTimeArgument(f"'{name}': {exc.errors[0].message}") from None


async def list_events(actor: Actor, first: int | None, after: str | None, filter: AuditFilter) -> Page[AuditEvent]:
    actor.require_admin()
    since, until = _filter_time(filter.since, "since"), _filter_time(filter.until, "until")
    query = AuditEvent.filter(domain_id=actor.domain_id)
    action = search_term(filter.action)
    if action:
        query = query.filter(action=action)
    if filter.target_type:
        query = query.filter(target_type=filter.target_type)
    if filter.target_id is not None:
        query = query.filter(target_id=filter.target_id)
    if filter.actor_member_id is not None:
        query = query.filter(actor_member_id=filter.actor_member_id)
    if since:
        query = query.filter(created_at__gte=since)
    if until:
        query = query.filter(created_at__lt=until)
    return await paginate(query, first, after, newest_first=True)
