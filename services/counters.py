"""The limits, enforced by conditional UPDATEs that are the first write of their transaction.

Each statement both checks and changes a counter, so it takes the row lock (PostgreSQL) or the
write lock (SQLite) before anything is read: parallel requests from several processes cannot
push a product above its quantity or an account above its responder limit or below one
responder. A statement that changes no row means the limit said no.
"""
from __future__ import annotations

from tortoise.backends.base.client import BaseDBAsyncClient

from cxtalk.db import execute  # noqa: F401 (the '?'-placeholder helper; used by callers of this module)


async def take_product_unit(conn: BaseDBAsyncClient, domain_id: int, product_id: int) -> bool:
    return await execute(
        conn,
        "UPDATE products SET in_use = in_use + 1 WHERE id = ? AND domain_id = ? AND in_use < quantity",
        product_id, domain_id) == 1


async def release_product_unit(conn: BaseDBAsyncClient, product_id: int) -> None:
    await execute(conn, "UPDATE products SET in_use = in_use - 1 WHERE id = ? AND in_use > 0", product_id)


async def add_responder_slots(conn: BaseDBAsyncClient, account_id: int, domain_id: int, n: int) -> bool:
    """Reserve n more responders on an ACTIVE account if its product's limit allows it."""
    return await execute(
        conn,
        "UPDATE window_accounts SET responder_count = responder_count + ?"
        " WHERE id = ? AND domain_id = ? AND status = 'ACTIVE'"
        " AND responder_count + ? <= (SELECT responder_limit FROM products WHERE products.id = window_accounts.product_id)",
        n, account_id, domain_id, n) == 1


async def free_responder_slot(conn: BaseDBAsyncClient, account_id: int, domain_id: int) -> bool:
    """Give back one responder slot, but never below one responder."""
    return await execute(
        conn,
        "UPDATE window_accounts SET responder_count = responder_count - 1"
        " WHERE id = ? AND domain_id = ? AND status = 'ACTIVE' AND responder_count >= 2",
        account_id, domain_id) == 1


async def move_to_product(conn: BaseDBAsyncClient, account_id: int, domain_id: int, product_id: int) -> bool:
    """Point an ACTIVE account at another product of its domain whose limit fits its responders.

    Locks the account row first, like every responder change does, so a parallel addResponders
    is seen (PostgreSQL re-checks the WHERE on the newest row version after waiting).
    """
    return await execute(
        conn,
        "UPDATE window_accounts SET product_id = ?"
        " WHERE id = ? AND domain_id = ? AND status = 'ACTIVE'"
        " AND responder_count <= (SELECT responder_limit FROM products WHERE products.id = ? AND products.domain_id = ?)",
        product_id, account_id, domain_id, product_id, domain_id) == 1


async def swap_product_units(conn: BaseDBAsyncClient, domain_id: int, old_id: int, new_id: int) -> bool:
    """Take a unit of the new product and free one of the old, locking the two rows in id order
    (a fixed order, so two opposite moves cannot deadlock)."""
    if new_id < old_id:
        if not await take_product_unit(conn, domain_id, new_id):
            return False
        await release_product_unit(conn, old_id)
        return True
    await release_product_unit(conn, old_id)
    return await take_product_unit(conn, domain_id, new_id)
