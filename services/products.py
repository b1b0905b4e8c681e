"""Products a domain bought: responder limit and purchased quantity per product."""
from __future__ import annotations

from dataclasses import dataclass

from tortoise.exceptions import IntegrityError
from tortoise.expressions import F

from cxtalk.db import atomic
from models import Domain, Product
from services import text_rules
from services.auth import Actor
from services.errors import BusinessError, ErrorCode, ErrorCollector



@dataclass
class ProductUsage:
    total_purchased: int
    accounts_in_use: int
    products: list[Product]


def _positive(value: int, field: str, allow_zero: bool = False) -> int:
    lowest = 0 if allow_zero else 1
    if value < lowest or value > 1_000_000:
        raise BusinessError.one(ErrorCode.INVALID, field, f"Must be between {lowest} and 1000000.")
    return value


async def grant_product(domain_id: int, name: str, responder_limit: int, quantity: int) -> Product:
    """Buy units of a product. Granting an existing product name adds to its quantity; its
    responder limit cannot change that way (accounts already rely on it)."""
    errors = ErrorCollector()
    name = errors.check(text_rules.required_text, name, "name", 100)
    errors.check(_positive, responder_limit, "responderLimit")
    errors.check(_positive, quantity, "quantity", allow_zero=True)
    errors.raise_if_any()
    if not await Domain.filter(id=domain_id).exists():
        raise BusinessError.one(ErrorCode.NOT_FOUND, "domainId", "No such domain.")

    async def work(conn):
        # The write comes first (see counters.py); a missing product means create.
        grown = await Product.filter(domain_id=domain_id, name=name, responder_limit=responder_limit) \
            .using_db(conn).update(quantity=F("quantity") + quantity)
        if not grown:
            if await Product.filter(domain_id=domain_id, name=name).using_db(conn).exists():
                raise BusinessError.one(ErrorCode.INVALID, "responderLimit",
                                        "A product with this name exists with another responder limit.")
            return await Product.create(domain_id=domain_id, name=name, responder_limit=responder_limit,
                                        quantity=quantity, using_db=conn)
        return await Product.get(domain_id=domain_id, name=name).using_db(conn)

    try:
        return await atomic(work)
    except IntegrityError:  # a parallel grant created it first: now it exists, add to it
        return await atomic(work)


async def get_product(actor: Actor, product_id: int) -> Product | None:
    """Admins see their domain's products; members see them through their accounts only."""
    if not actor.is_admin:
        return None
    return await Product.filter(id=product_id, domain_id=actor.domain_id).first()


async def products_by_ids(ids: list[int]) -> list[Product]:
    return await Product.filter(id__in=ids)


async def product_usage(actor: Actor) -> ProductUsage:
    products = await Product.filter(domain_id=actor.domain_id).order_by("id")
    return ProductUsage(
        total_purchased=sum(p.quantity for p in products),
        accounts_in_use=sum(p.in_use for p in products),
        products=products,
    )
