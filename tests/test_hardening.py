"""Limits, rate limiting, CORS and WebSocket origins, and the audit log."""
import dataclasses
import json

import httpx
import pytest

from cxtalk.config import get_settings
from schema.ids import encode
from tests.support import GRANT_PRODUCT, UPDATE_ACCOUNT, errors_of

AUDIT = """query($first: Int, $filter: AuditEventFilter) { auditEvents(first: $first, filter: $filter) {
  totalCount edges { node { action actorKind actor { id } targetType targetId changes outcome clientAddress createdAt } } } }"""


async def post(api, body, token=None, **kw):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return await api.client.post("/graphql", json=body, headers=headers, **kw)


# --- query limits -------------------------------------------------------------------------------

async def test_depth_alias_and_token_limits_are_refused(world):
    fine = "{ viewer { windowAccounts { talkRooms { edges { node { contact { id } participants { id } } } } } } }"
    assert (await world.api.raw(fine, token=world.admin)).get("errors") is None
    too_deep = "{ viewer { windowAccounts { talkRooms { edges { node { contact { " + "a { " * 7 + "b" + " }" * 7 + " } } } } } } }"
    body = await world.api.raw(too_deep, token=world.admin)
    assert any("exceeds maximum operation depth" in e["message"] for e in body["errors"])
    many_aliases = "{ " + " ".join(f"a{i}: viewer {{ role }}" for i in range(31)) + " }"
    body = await world.api.raw(many_aliases, token=world.admin)
    assert body["errors"] and "aliases" in body["errors"][0]["message"].lower()
    huge = "{ viewer { role " + "role " * 6000 + "} }"
    body = await world.api.raw(huge, token=world.admin)
    assert body["errors"] and "token" in body["errors"][0]["message"].lower()


async def test_limits_hold_for_a_query_sent_again(world):
    """Parsing and validation are cached per query text (schema/limits.py): a refused query is
    refused every time, and an accepted one is still executed every time."""
    too_deep = "{ viewer { windowAccounts { talkRooms { edges { node { contact { " + "a { " * 7 + "b" + " }" * 7 + " } } } } } } }"
    many_aliases = "{ " + " ".join(f"a{i}: viewer {{ role }}" for i in range(31)) + " }"
    for _ in range(3):
        assert (await world.api.raw(too_deep, token=world.admin))["errors"]
        assert (await world.api.raw(many_aliases, token=world.admin))["errors"]
        assert (await world.api.raw("{ viewer { role } }", token=world.admin)) == {"data": {"viewer": {"role": "ADMIN"}}}


async def test_batching_get_and_oversized_bodies_are_refused(world):
    batch = await post(world.api, [{"query": "{ viewer { role } }"}] * 2, token=world.admin)
    assert batch.status_code == 400
    get = await world.api.client.get("/graphql", params={"query": "{ viewer { role } }"},
                                     headers={"Authorization": f"Bearer {world.admin}", "accept": "application/json"})
    assert get.status_code in (400, 405)
    big = await world.api.client.post("/graphql", content=b"x" * (12 * 1024 * 1024),
                                      headers={"content-type": "application/json"})
    assert big.status_code == 413


async def test_introspection_and_suggestions_are_off_outside_dev_mode(world):
    body = await world.api.raw("{ __schema { types { name } } }", token=world.admin)
    assert body["errors"]
    body = await world.api.raw("{ viewer { rol } }", token=world.admin)
    assert body["errors"] and "Did you mean" not in body["errors"][0]["message"]


async def test_unexpected_faults_are_masked_with_a_request_id(world, monkeypatch):
    from services import products

    async def broken(actor):
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(products, "product_usage", broken)  # a fault, not a fake of a dependency
    body = await world.api.raw("{ productUsage { totalPurchased } }", token=world.admin)
    error = body["errors"][0]
    assert "secret" not in json.dumps(body)
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR" and len(error["extensions"]["requestId"]) == 16


# --- rate limiting -----------------------------------------------------------------------------

async def test_rate_limit_per_token(world, redis_url):
    from server import create_app

    settings = dataclasses.replace(get_settings(), redis_url=redis_url, rate_limit_per_second=0.5, rate_limit_burst=3)
    limited = create_app(settings)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=limited), base_url="http://testserver") as client:
        async def ask(token):
            return await client.post("/graphql", json={"query": "{ viewer { role } }"},
                                     headers={"Authorization": f"Bearer {token}"})

        statuses = [(await ask(world.admin)).status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        refused = await ask(world.admin)
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
        error = refused.json()["errors"][0]
        assert error["extensions"]["code"] == "RATE_LIMITED" and error["extensions"]["retryAfter"] > 0
        # another token (another member, another domain) is not slowed down
        assert (await ask(world.member_tokens[0])).status_code == 200


# --- CORS and WebSocket origins ------------------------------------------------------------------

async def test_cors_allows_only_configured_origins(world):
    from server import create_app

    settings = dataclasses.replace(get_settings(), allowed_origins=("https://admin.example.com",))
    app = create_app(settings)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        def preflight(origin):
            return client.options("/graphql", headers={"Origin": origin, "Access-Control-Request-Method": "POST",
                                                       "Access-Control-Request-Headers": "authorization,content-type"})
        ok = await preflight("https://admin.example.com")
        assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == "https://admin.example.com"
        bad = await preflight("https://evil.example.com")
        assert "access-control-allow-origin" not in bad.headers


# --- audit log ---------------------------------------------------------------------------------

async def test_mutations_are_audited_and_only_the_domain_sees_them(world):
    account = await world.account(name="Support", handle="support")
    refused = await world.create_account(name="Support", handle="other")
    assert errors_of(refused) == [("name", "NAME_TAKEN")]
    await world.mutate(UPDATE_ACCOUNT, {"id": account["id"], "description": "hello"})
    await world.mutate(GRANT_PRODUCT, {"domainId": world.domain_id, "name": "Extra", "responderLimit": 2,
                                       "quantity": 1}, token=world.operator)
    events = (await world.api.data(AUDIT, {"first": 4}, token=world.admin))["auditEvents"]
    nodes = [e["node"] for e in events["edges"]]  # newest first; building the world came before
    assert [n["action"] for n in nodes] == ["grantProduct", "updateWindowAccount", "createWindowAccount",
                                            "createWindowAccount"]
    grant, update, refused_event, created = nodes
    assert created["outcome"] == "OK" and created["targetId"] == account["id"]
    assert created["actor"]["id"] == world.admin_id and created["actorKind"] == "MEMBER"
    assert created["changes"]["handle"] == "support" and created["clientAddress"]
    assert refused_event["outcome"] == "NAME_TAKEN" and refused_event["targetType"] is None
    assert update["changes"] == {"id": account["id"], "description": "hello", "image": None, "removeImage": False}
    assert grant["actorKind"] == "OPERATOR" and grant["actor"] is None and grant["targetType"] == "Product"
    filtered = await world.api.data(AUDIT, {"filter": {"targetId": account["id"]}}, token=world.admin)
    assert [e["node"]["action"] for e in filtered["auditEvents"]["edges"]] == ["updateWindowAccount",
                                                                               "createWindowAccount"]
    from tests.support import World
    other = await World.build(world.api, name="Other")
    theirs = (await world.api.data(AUDIT, {}, token=other.admin))["auditEvents"]
    assert all(e["node"]["targetId"] != account["id"] for e in theirs["edges"])
    code = await world.api.error_code(AUDIT, {}, token=world.member_tokens[0])
    assert code == "FORBIDDEN"


async def test_forbidden_attempts_are_audited(world):
    await world.account()
    body = await world.api.raw(UPDATE_ACCOUNT, {"input": {"id": encode("WindowAccount", 1), "name": "x"}},
                               token=world.member_tokens[0])
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    from models import AuditEvent
    event = await AuditEvent.filter(action="updateWindowAccount").first()
    assert event.outcome == "FORBIDDEN" and event.domain_id is not None
