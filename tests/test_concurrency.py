"""Limits hold when several API processes write at once (SQLite file or PostgreSQL, per DATABASE_URL)."""
import asyncio
from collections import Counter

import httpx
import pytest
import pytest_asyncio

from models import Product, Responder, WindowAccount
from schema.ids import decode
from tests.processes import ApiServer
from tests.support import ADD_RESPONDERS, CREATE_ACCOUNT, REMOVE_RESPONDER, UPDATE_ACCOUNT, World


@pytest.fixture(scope="module")
def servers(app, redis_url):
    started = [ApiServer().start(), ApiServer().start()]
    yield started
    for server in started:
        server.stop()


@pytest_asyncio.fixture
async def big_world(api) -> World:
    return await World.build(api, members=12, responder_limit=3, quantity=3)


async def fire(servers, token: str, query: str, inputs: list[dict]) -> list[dict]:
    """Send every request at once, alternating between the API processes; return the payloads."""
    async with httpx.AsyncClient(timeout=60) as client:
        async def one(i, input):
            response = await client.post(f"{servers[i % len(servers)].url}/graphql",
                                         json={"query": query, "variables": {"input": input}},
                                         headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 200, response.text
            body = response.json()
            assert "errors" not in body, body
            return next(iter(body["data"].values()))

        return await asyncio.gather(*(one(i, input) for i, input in enumerate(inputs)))


def outcome(payloads) -> Counter:
    return Counter(p["errors"][0]["code"] if p["errors"] else "OK" for p in payloads)


async def test_parallel_creates_never_exceed_the_purchased_quantity(servers, big_world):
    w = big_world
    inputs = [{"productId": w.product_id, "name": f"Desk {i}", "handle": f"desk{i}",
               "responderIds": [w.member_ids[i]]} for i in range(10)]
    results = await fire(servers, w.admin, CREATE_ACCOUNT, inputs)
    assert outcome(results) == Counter({"OK": 3, "PRODUCT_EXHAUSTED": 7})
    product = await Product.get(id=decode(w.product_id, "Product"))
    assert product.in_use == 3 == await WindowAccount.all().count()


async def test_parallel_creates_with_one_name_or_handle_make_one_account(servers, big_world):
    w = big_world
    await w.grant("Roomy", 3, 20)
    roomy = next(p for p in await Product.all() if p.name == "Roomy")
    from schema.ids import encode
    pid = encode("Product", roomy.id)
    same_name = [{"productId": pid, "name": "Ｓupport", "handle": f"h{i}", "responderIds": [w.member_ids[0]]}
                 for i in range(6)]
    results = await fire(servers, w.admin, CREATE_ACCOUNT, same_name)
    assert outcome(results) == Counter({"OK": 1, "NAME_TAKEN": 5})
    same_handle = [{"productId": pid, "name": f"N{i}", "handle": "samehandle", "responderIds": [w.member_ids[0]]}
                   for i in range(6)]
    results = await fire(servers, w.admin, CREATE_ACCOUNT, same_handle)
    assert outcome(results) == Counter({"OK": 1, "HANDLE_TAKEN": 5})
    assert (await Product.get(id=roomy.id)).in_use == 2 == await WindowAccount.all().count()


async def test_parallel_adds_never_exceed_the_responder_limit(servers, big_world):
    w = big_world
    account = await w.account(responders=[w.member_ids[0]])
    inputs = [{"accountId": account["id"], "memberIds": [m]} for m in w.member_ids[1:11]]
    results = await fire(servers, w.admin, ADD_RESPONDERS, inputs)
    assert outcome(results) == Counter({"OK": 2, "RESPONDER_LIMIT_REACHED": 8})
    row = await WindowAccount.get(id=decode(account["id"], "WindowAccount"))
    assert row.responder_count == 3 == await Responder.filter(account_id=row.id).count()


async def test_parallel_adds_of_one_member_add_it_once(servers, big_world):
    w = big_world
    account = await w.account(responders=[w.member_ids[0]])
    inputs = [{"accountId": account["id"], "memberIds": [w.member_ids[5]]} for _ in range(8)]
    results = await fire(servers, w.admin, ADD_RESPONDERS, inputs)
    assert outcome(results) == Counter({"OK": 1, "ALREADY_RESPONDER": 7})
    row = await WindowAccount.get(id=decode(account["id"], "WindowAccount"))
    assert row.responder_count == 2 == await Responder.filter(account_id=row.id).count()


async def test_parallel_removes_keep_one_responder(servers, big_world):
    w = big_world
    account = await w.account(responders=w.member_ids[:3])
    inputs = [{"accountId": account["id"], "memberId": m} for m in w.member_ids[:3]] * 3
    results = await fire(servers, w.admin, REMOVE_RESPONDER, inputs)
    counts = outcome(results)
    assert counts["OK"] == 2
    assert set(counts) <= {"OK", "LAST_RESPONDER", "NOT_A_RESPONDER"}
    row = await WindowAccount.get(id=decode(account["id"], "WindowAccount"))
    assert row.responder_count == 1 == await Responder.filter(account_id=row.id).count()


async def test_product_moves_and_adds_race_without_breaking_either_limit(servers, big_world):
    """Adding responders while moving the account to a product with a lower limit."""
    w = big_world
    await w.grant("Duo", 2, 5)
    duo = next(p for p in await Product.all() if p.name == "Duo")
    from schema.ids import encode
    duo_id = encode("Product", duo.id)
    for round_ in range(3):
        account = await w.account(name=f"Race {round_}", handle=f"race{round_}", responders=[w.member_ids[0]])
        adds = [{"accountId": account["id"], "memberIds": [m]} for m in w.member_ids[1:3]]
        moves = [{"id": account["id"], "productId": duo_id}]
        async with asyncio.TaskGroup() as tg:
            tg.create_task(fire(servers, w.admin, ADD_RESPONDERS, adds))
            tg.create_task(fire(servers, w.admin, UPDATE_ACCOUNT, moves))
        row = await WindowAccount.get(id=decode(account["id"], "WindowAccount")).prefetch_related("product")
        assert row.responder_count == await Responder.filter(account_id=row.id).count()
        assert row.responder_count <= row.product.responder_limit
    for product in await Product.all():
        assert product.in_use == await WindowAccount.filter(product_id=product.id, status="ACTIVE").count()
        assert product.in_use <= product.quantity
