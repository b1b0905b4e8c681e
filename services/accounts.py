"""Window accounts: creation, changes, visibility and listing."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import BinaryIO
from zoneinfo import ZoneInfo

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q

from cxtalk.config import get_settings
from cxtalk.db import atomic
from models import AccountStatus, Product, Responder, WindowAccount
from services import counters, images, jobs, text_rules
from services.auth import Actor
from services.directory import members_by_ids
from services.errors import BusinessError, ErrorCode, ErrorCollector
from services.invites import new_invite_token
from services.pagination import Page, paginate

DEFAULT_TIMEZONE = "Asia/Tokyo"
LISTED_BY_DEFAULT = (AccountStatus.ACTIVE, AccountStatus.RESETTING)


@dataclass
class ImageUpload:
    filename: str | None
    stream: BinaryIO


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET = _Unset()  # "leave unchanged" in partial updates, distinct from an explicit None


# --- visibility: the one place that says which accounts an actor can see -------------------

def visible_accounts(actor: Actor):
    query = WindowAccount.filter(domain_id=actor.domain_id)
    if not actor.is_admin:  # responders see the ACTIVE accounts they respond for
        query = query.filter(status=AccountStatus.ACTIVE, responders__member_id=actor.member_id)
    return query


def can_see_account(actor: Actor, account: WindowAccount, responder_ids: frozenset[int]) -> bool:
    """The rule of `visible_accounts` on a row already read (with its responders' member ids);
    tests/test_subscription_fanout.py checks that the two agree."""
    if account.domain_id != actor.domain_id:
        return False
    return actor.is_admin or (account.status is AccountStatus.ACTIVE and actor.member_id in responder_ids)


async def get_account(actor: Actor, account_id: int) -> WindowAccount | None:
    return await visible_accounts(actor).filter(id=account_id).first()


@dataclass(frozen=True)
class WatchedAccount:
    """An account as its subscribers share it: the row and who responds for it."""
    account: WindowAccount
    responder_ids: frozenset[int]


async def read_watched_account_unscoped(account_id: int) -> WatchedAccount | None:
    """The account whoever asks: read once per change and shared by every subscriber of it in
    this process. Never hand it to a caller without `visible_watched_account`."""
    account = await WindowAccount.filter(id=account_id).first()
    if account is None:
        return None
    responder_ids = await Responder.filter(account_id=account_id).values_list("member_id", flat=True)
    return WatchedAccount(account, frozenset(responder_ids))


def visible_watched_account(actor: Actor, watched: WatchedAccount | None) -> WindowAccount | None:
    if watched is None or not can_see_account(actor, watched.account, watched.responder_ids):
        return None
    return watched.account


async def accounts_by_ids(ids: list[int]) -> list[WindowAccount]:
    return await WindowAccount.filter(id__in=ids)


async def list_accounts(actor: Actor, first: int | None, after: str | None, search: str | None,
                        status: AccountStatus | None) -> Page[WindowAccount]:
    query = visible_accounts(actor)
    query = query.filter(status=status) if status else query.filter(status__in=LISTED_BY_DEFAULT)
    text = text_rules.search_term(search)
    if text:
        query = query.filter(Q(name__icontains=text) | Q(handle__contains=text.lower()))
    return await paginate(query, first, after)


async def accounts_of_member(domain_id: int, member_id: int) -> list[WindowAccount]:
    return await WindowAccount.filter(domain_id=domain_id, status=AccountStatus.ACTIVE,
                                      responders__member_id=member_id).order_by("id")


# --- shared checks -------------------------------------------------------------------------

async def _check_name_free(conn, domain_id: int, name: str, except_id: int | None = None) -> None:
    query = WindowAccount.filter(domain_id=domain_id, name_key=text_rules.uniqueness_key(name)).using_db(conn)
    if except_id is not None:
        query = query.exclude(id=except_id)
    if await query.exists():
        raise BusinessError.one(ErrorCode.NAME_TAKEN, "name", "Another window account already has this name.")


async def why_account_unchangeable(conn, actor: Actor, account_id: int, field: str) -> BusinessError:
    """After a conditional UPDATE changed nothing: say whether the account is missing or not ACTIVE."""
    status = await WindowAccount.filter(id=account_id, domain_id=actor.domain_id).using_db(conn) \
        .values_list("status", flat=True)
    if not status:
        return BusinessError.one(ErrorCode.NOT_FOUND, field, "No such window account.")
    return BusinessError.one(ErrorCode.ACCOUNT_NOT_ACTIVE, field, "The window account is being reset or was reset.")


async def lock_active_account(conn, actor: Actor, account_id: int, field: str = "id") -> None:
    """First write of a transaction on an account: takes its lock and checks it is ACTIVE."""
    changed = await counters.execute(
        conn, "UPDATE window_accounts SET updated_at = ? WHERE id = ? AND domain_id = ? AND status = 'ACTIVE'",
        datetime.now(timezone.utc), account_id, actor.domain_id)
    if not changed:
        raise await why_account_unchangeable(conn, actor, account_id, field)


def _check_image(image: ImageUpload | None, errors: ErrorCollector) -> bytes | None:
    if image is None:
        return None
    return errors.check(images.read_checked_png, image.filename, image.stream)


async def _with_stored_image(data: bytes | None, work):
    """Store the new image first (the row names it), and remove it again if the write fails."""
    images_dir = get_settings().images_dir
    name = images.store_image(images_dir, data) if data is not None else None
    try:
        return await work(name)
    except BaseException:
        images.delete_image(images_dir, name)
        raise


async def _retry_once_on_conflict(run):
    """A parallel insert may win a unique index between our check and our insert (PostgreSQL):
    run again, and the check now sees the winner and reports NAME_TAKEN / HANDLE_TAKEN."""
    try:
        return await run()
    except IntegrityError:
        return await run()


# --- create --------------------------------------------------------------------------------

async def create_account(actor: Actor, *, product_id: int, name: str, handle: str, description: str | None,
                         image: ImageUpload | None, responder_ids: list[int]) -> WindowAccount:
    actor.require_admin()
    errors = ErrorCollector()
    name = errors.check(text_rules.account_name, name)
    handle = errors.check(text_rules.handle, handle)
    description = errors.check(text_rules.description, description)
    responder_ids = list(dict.fromkeys(responder_ids))
    if not responder_ids:
        errors.add(ErrorCode.REQUIRED, "responderIds", "Choose at least one responder.")
    image_data = _check_image(image, errors)
    errors.raise_if_any()

    if len(await members_by_ids(actor, responder_ids)) != len(responder_ids):
        raise BusinessError.one(ErrorCode.NOT_FOUND, "responderIds", "A chosen responder is not a member of this domain.")
    product = await Product.filter(id=product_id, domain_id=actor.domain_id).first()
    if product is None:
        raise BusinessError.one(ErrorCode.NOT_FOUND, "productId", "No such product.")
    if len(responder_ids) > product.responder_limit:
        raise BusinessError.one(ErrorCode.RESPONDER_LIMIT_REACHED, "responderIds",
                                f"This product allows at most {product.responder_limit} responders.")

    async def write(image_name: str | None):
        async def work(conn):
            if not await counters.take_product_unit(conn, actor.domain_id, product_id):
                raise BusinessError.one(ErrorCode.PRODUCT_EXHAUSTED, "productId",
                                        "Every purchased unit of this product is in use.")
            collected = ErrorCollector()
            await collected.check_async(_check_name_free, conn, actor.domain_id, name)
            if await WindowAccount.filter(handle_key=handle).using_db(conn).exists():
                collected.add(ErrorCode.HANDLE_TAKEN, "handle", "This ID is already in use.")
            collected.raise_if_any()
            account = await WindowAccount.create(
                domain_id=actor.domain_id, product_id=product_id, name=name,
                name_key=text_rules.uniqueness_key(name), handle=handle, handle_key=handle,
                description=description, image_name=image_name, invite_token=new_invite_token(),
                timezone=DEFAULT_TIMEZONE, started_on=datetime.now(ZoneInfo(DEFAULT_TIMEZONE)).date(),
                status=AccountStatus.ACTIVE, responder_count=len(responder_ids), using_db=conn)
            await Responder.bulk_create(
                [Responder(account_id=account.id, member_id=m) for m in responder_ids], using_db=conn)
            return account

        return await atomic(work)

    return await _retry_once_on_conflict(lambda: _with_stored_image(image_data, write))


# --- update --------------------------------------------------------------------------------

async def update_account(actor: Actor, account_id: int, *, name=UNSET, description=UNSET, product_id=UNSET,
                         image: ImageUpload | None = None, remove_image: bool = False) -> WindowAccount:
    actor.require_admin()
    errors = ErrorCollector()
    if name is not UNSET and name is not None:
        name = errors.check(text_rules.account_name, name)
    if description is not UNSET:
        description = errors.check(text_rules.description, description)
    if image is not None and remove_image:
        errors.add(ErrorCode.INVALID, "removeImage", "Send either a new image or removeImage, not both.")
    image_data = _check_image(image, errors)
    errors.raise_if_any()

    async def write(image_name: str | None):
        async def work(conn):
            await lock_active_account(conn, actor, account_id)
            account = await WindowAccount.get(id=account_id).using_db(conn)
            if product_id is not UNSET and product_id is not None and product_id != account.product_id:
                await _move_product(conn, actor, account, product_id)  # writes product_id itself
            changed = []
            if name is not UNSET and name is not None:
                await _check_name_free(conn, actor.domain_id, name, except_id=account_id)
                account.name, account.name_key = name, text_rules.uniqueness_key(name)
                changed += ["name", "name_key"]
            if description is not UNSET:
                account.description = description
                changed.append("description")
            old_image = account.image_name
            if image_name is not None or remove_image:
                account.image_name = image_name
                changed.append("image_name")
            if changed:
                await account.save(update_fields=changed, using_db=conn)
            return account, old_image

        return await atomic(work)

    account, old_image = await _retry_once_on_conflict(lambda: _with_stored_image(image_data, write))
    if old_image and old_image != account.image_name:
        images.delete_image(get_settings().images_dir, old_image)
    await jobs.publish("account", account.id)
    return account


async def _move_product(conn, actor: Actor, account: WindowAccount, product_id: int) -> None:
    if not await Product.filter(id=product_id, domain_id=actor.domain_id).using_db(conn).exists():
        raise BusinessError.one(ErrorCode.NOT_FOUND, "productId", "No such product.")
    if not await counters.move_to_product(conn, account.id, actor.domain_id, product_id):
        raise BusinessError.one(ErrorCode.RESPONDER_LIMIT_REACHED, "productId",
                                "The account has more responders than this product allows.")
    if not await counters.swap_product_units(conn, actor.domain_id, account.product_id, product_id):
        raise BusinessError.one(ErrorCode.PRODUCT_EXHAUSTED, "productId",
                                "Every purchased unit of this product is in use.")
    account.product_id = product_id
