"""Domains and members: created by internal tooling (CLI, operator mutations), read by admins."""
from __future__ import annotations

from dataclasses import dataclass

from tortoise.expressions import Q

from cxtalk.db import atomic
from models import Domain, Member, Role
from services import text_rules
from services.auth import Actor, issue_member_token
from services.errors import BusinessError, ErrorCode, ErrorCollector
from services.pagination import Page, paginate

MAX_PROVISION_BATCH = 1000


@dataclass
class NewDomain:
    domain: Domain
    admin: Member
    admin_token: str


async def create_domain(name: str, admin_name: str, admin_email: str) -> NewDomain:
    errors = ErrorCollector()
    name = errors.check(text_rules.required_text, name, "name", 200)
    admin_name = errors.check(text_rules.required_text, admin_name, "adminName")
    admin_email = errors.check(text_rules.email, admin_email, "adminEmail")
    errors.raise_if_any()

    async def work(conn):
        domain = await Domain.create(name=name, using_db=conn)
        admin = await Member.create(domain=domain, name=admin_name, email=admin_email,
                                    email_key=admin_email.casefold(), role=Role.ADMIN, using_db=conn)
        return domain, admin

    domain, admin = await atomic(work)
    return NewDomain(domain, admin, await issue_member_token(admin.id))


async def get_domain(domain_id: int) -> Domain | None:
    return await Domain.filter(id=domain_id).first()


async def provision_members(domain_id: int, entries: list[tuple[str, str]]) -> list[Member]:
    """Create members, or update the name of those whose email already exists (a directory sync).

    All or nothing: any invalid entry refuses the whole batch.
    """
    if await Domain.filter(id=domain_id).count() == 0:
        raise BusinessError.one(ErrorCode.NOT_FOUND, "domainId", "No such domain.")
    if not entries:
        raise BusinessError.one(ErrorCode.REQUIRED, "members", "Give at least one member.")
    if len(entries) > MAX_PROVISION_BATCH:
        raise BusinessError.one(ErrorCode.INVALID, "members", f"At most {MAX_PROVISION_BATCH} members per call.")
    errors = ErrorCollector()
    cleaned: dict[str, tuple[str, str]] = {}
    for i, (name, email) in enumerate(entries):
        name = errors.check(text_rules.required_text, name, f"members[{i}].name")
        email = errors.check(text_rules.email, email, f"members[{i}].email")
        if email is None or name is None:
            continue
        if email.casefold() in cleaned:
            errors.add(ErrorCode.INVALID, f"members[{i}].email", "This email appears twice in the list.")
        cleaned[email.casefold()] = (name, email)
    errors.raise_if_any()

    async def work(conn):
        # One statement per kind of write, whatever the batch size: the new rows in one bulk
        # INSERT, the renames in one bulk UPDATE, then the new rows read back for their ids.
        existing = {m.email_key: m for m in await Member.filter(
            domain_id=domain_id, email_key__in=list(cleaned)).using_db(conn)}
        new, renamed = [], []
        for key, (name, email) in cleaned.items():
            member = existing.get(key)
            if member is None:
                new.append(Member(domain_id=domain_id, name=name, email=email, email_key=key, role=Role.MEMBER))
            elif member.name != name:
                member.name = name
                renamed.append(member)
        if new:
            await Member.bulk_create(new, using_db=conn)
            existing.update({m.email_key: m for m in await Member.filter(
                domain_id=domain_id, email_key__in=[m.email_key for m in new]).using_db(conn)})
        if renamed:
            await Member.bulk_update(renamed, fields=["name"], using_db=conn)
        return [existing[key] for key in cleaned]

    return await atomic(work)


async def get_member_any_domain(member_id: int) -> Member | None:
    """For operator tooling only."""
    return await Member.filter(id=member_id).first()


def _visible_members(actor: Actor):
    """Admins see the whole directory of their domain; a member sees only themself."""
    query = Member.filter(domain_id=actor.domain_id)
    return query if actor.is_admin else query.filter(id=actor.member_id)


async def get_member(actor: Actor, member_id: int) -> Member | None:
    return await _visible_members(actor).filter(id=member_id).first()


_IN_LIST_MAX = 1000  # ids per IN (...) list: PostgreSQL takes at most 32767 parameters per statement


async def members_by_ids(actor: Actor, ids: list[int]) -> list[Member]:
    """The members of the actor's domain among `ids`, in chunks however long the list a client sent."""
    found: list[Member] = []
    for start in range(0, len(ids), _IN_LIST_MAX):
        found += await Member.filter(domain_id=actor.domain_id, id__in=ids[start:start + _IN_LIST_MAX])
    return found


async def search_members(actor: Actor, search: str | None, first: int | None, after: str | None) -> Page[Member]:
    query = _visible_members(actor)
    text = text_rules.search_term(search)
    if text:
        query = query.filter(Q(name__icontains=text) | Q(email_key__contains=text.casefold()))
    return await paginate(query, first, after)
