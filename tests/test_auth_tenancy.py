"""Authentication, roles, visibility, tenancy and ID/page-argument validation (SPEC §2 Responders,
§3 "Errors").

- no or bad token: a top-level error `UNAUTHENTICATED` on every root field, nothing written;
- a role without the right: `FORBIDDEN`, nothing written;
- a responder reads the ACTIVE accounts they respond for and has `CX_TALK` exactly while they do;
- an ID of another domain behaves exactly like an ID that does not exist;
- malformed IDs, cursors and page sizes: a top-level `BAD_USER_INPUT`, nothing written.
"""
from __future__ import annotations

import base64
import secrets

import pytest

from models import AccountStatus, ApiToken, Domain, Member, Product, Responder, WindowAccount
from schema import ids
from tests.support import (ADD_RESPONDERS, CREATE_ACCOUNT, GRANT_PRODUCT, ISSUE_TOKEN, PROVISION_MEMBERS,
                           REMOVE_RESPONDER, UPDATE_ACCOUNT, World)

MISSING_PK = 999999


def b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def missing(type_name: str) -> str:
    """A syntactically valid ID of the right type that names no row."""
    return ids.encode(type_name, MISSING_PK)


# --- queries -------------------------------------------------------------------------------

NODE = """query($id: ID!) { node(id: $id) { id __typename } }"""
VIEWER = """query { viewer { role services member { id isResponder } domain { id }
                              windowAccounts { id } } }"""
PRODUCT_USAGE = """query { productUsage { totalPurchased accountsInUse products { id name } } }"""
WINDOW_ACCOUNTS = """query($first: Int, $after: String, $search: String, $status: WindowAccountStatus) {
  windowAccounts(first: $first, after: $after, search: $search, status: $status) {
    edges { cursor node { id name handle status } } pageInfo { hasNextPage endCursor } totalCount } }"""
WINDOW_ACCOUNT = """query($id: ID!) { windowAccount(id: $id) { id name status responders { id } } }"""
MEMBERS = """query($search: String, $first: Int, $after: String) {
  members(search: $search, first: $first, after: $after) {
    edges { cursor node { id name email role isResponder } } pageInfo { hasNextPage endCursor } totalCount } }"""


# --- helpers -------------------------------------------------------------------------------

async def snapshot() -> dict:
    """Every row of every table the API writes: equal snapshots mean nothing was written."""
    result = {}
    for model in (Domain, Member, ApiToken, Product, WindowAccount, Responder):
        result[model.__name__] = await model.all().order_by("id").values()
    return result


async def post(api, query: str, variables: dict | None = None, headers: dict | None = None) -> dict:
    response = await api.client.post("/graphql", json={"query": query, "variables": variables or {}},
                                     headers=headers or {})
    assert response.status_code in (200, 400), (response.status_code, response.text)
    return response.json()


def top_level_codes(body: dict) -> list[str]:
    return [(e.get("extensions") or {}).get("code") for e in body.get("errors") or []]


def assert_top_level(body: dict, code: str) -> None:
    assert body.get("errors"), body
    assert top_level_codes(body) == [code], body
    # The failing root field yields no data (null data, or the field itself null).
    data = body.get("data")
    assert data is None or all(value is None for value in data.values()), body


async def setup_accounts(world: World) -> dict:
    """Two accounts filling the standard product and an extra product with free units:
    every operation below would succeed (and write) for the right caller."""
    m = world.member_ids
    extra = await world.grant("Extra", 3, 5)
    two = await world.account(name="Two", handle="two", responders=[m[0], m[1]])
    one = await world.account(name="One", handle="one", responders=[m[2]])
    return {"extra": extra, "two": two["id"], "one": one["id"]}


def query_cases(world: World, acc: dict) -> list[tuple[str, str, dict]]:
    return [
        ("node", NODE, {"id": acc["two"]}),
        ("viewer", VIEWER, {}),
        ("productUsage", PRODUCT_USAGE, {}),
        ("windowAccounts", WINDOW_ACCOUNTS, {}),
        ("windowAccount", WINDOW_ACCOUNT, {"id": acc["two"]}),
        ("members", MEMBERS, {}),
    ]


def admin_mutation_cases(world: World, acc: dict) -> list[tuple[str, str, dict]]:
    m = world.member_ids
    return [
        ("createWindowAccount", CREATE_ACCOUNT, {"input": {
            "productId": acc["extra"], "name": "Fresh", "handle": "fresh", "responderIds": [m[3]]}}),
        ("updateWindowAccount", UPDATE_ACCOUNT, {"input": {
            "id": acc["one"], "name": "Renamed", "description": "changed", "productId": acc["extra"]}}),
        ("addResponders", ADD_RESPONDERS, {"input": {"accountId": acc["one"], "memberIds": [m[3]]}}),
        ("removeResponder", REMOVE_RESPONDER, {"input": {"accountId": acc["two"], "memberId": m[1]}}),
    ]


def operator_mutation_cases(world: World, acc: dict) -> list[tuple[str, str, dict]]:
    return [
        ("grantProduct", GRANT_PRODUCT, {"input": {
            "domainId": world.domain_id, "name": "Premium", "responderLimit": 5, "quantity": 3}}),
        ("provisionMembers", PROVISION_MEMBERS, {"input": {
            "domainId": world.domain_id, "members": [{"name": "Newcomer", "email": "new@acme.example"}]}}),
        ("issueMemberToken", ISSUE_TOKEN, {"input": {"memberId": world.member_ids[3]}}),
    ]


def all_cases(world: World, acc: dict) -> list[tuple[str, str, dict]]:
    return query_cases(world, acc) + admin_mutation_cases(world, acc) + operator_mutation_cases(world, acc)


# --- 1. authentication ---------------------------------------------------------------------

BAD_HEADERS = {
    "no header": {},
    "empty header": {"Authorization": ""},
    "bearer without token": {"Authorization": "Bearer "},
    "garbage": {"Authorization": "garbage"},
    "garbage bearer": {"Authorization": "Bearer not-a-token"},
    "basic": {"Authorization": "Basic " + base64.b64encode(b"admin:password").decode()},
    "unknown member-shaped token": {"Authorization": "Bearer cxm_" + secrets.token_urlsafe(32)},
    "unknown operator-shaped token": {"Authorization": "Bearer cxo_" + secrets.token_urlsafe(32)},
    "overlong token": {"Authorization": "Bearer " + "x" * 5000},
}


@pytest.mark.parametrize("header", list(BAD_HEADERS), ids=list(BAD_HEADERS))
async def test_bad_credentials_are_unauthenticated_on_every_root_field(world, header):
    acc = await setup_accounts(world)
    before = await snapshot()
    for name, query, variables in all_cases(world, acc):
        body = await post(world.api, query, variables, BAD_HEADERS[header])
        assert_top_level(body, "UNAUTHENTICATED")
        assert body["errors"][0].get("path") in (None, [name]), (name, body)
    assert await snapshot() == before


async def test_valid_token_in_basic_scheme_is_unauthenticated(world):
    """A real token sent with another scheme is not accepted either."""
    acc = await setup_accounts(world)
    before = await snapshot()
    for token in (world.admin, world.operator):
        for name, query, variables in all_cases(world, acc):
            body = await post(world.api, query, variables, {"Authorization": f"Basic {token}"})
            assert_top_level(body, "UNAUTHENTICATED")
    assert await snapshot() == before


async def test_the_same_calls_succeed_with_the_right_tokens(world):
    """Control for the tests above and below: with the right token each call writes."""
    acc = await setup_accounts(world)
    for name, query, variables in admin_mutation_cases(world, acc):
        before = await snapshot()
        data = await world.api.data(query, variables, token=world.admin)
        assert data[name]["errors"] == [], (name, data)
        assert await snapshot() != before, name
    for name, query, variables in operator_mutation_cases(world, acc):
        before = await snapshot()
        data = await world.api.data(query, variables, token=world.operator)
        assert data[name]["errors"] == [], (name, data)
        assert await snapshot() != before, name
    for name, query, variables in query_cases(world, acc):
        body = await world.api.raw(query, variables, token=world.admin)
        assert not body.get("errors"), (name, body)
        assert body["data"][name] is not None, (name, body)


# --- 2. roles ------------------------------------------------------------------------------

async def test_member_token_is_forbidden_on_admin_mutations_and_queries(world):
    acc = await setup_accounts(world)
    # member 0 even responds for an account: being a responder grants no admin right
    for token in (world.member_tokens[0], world.member_tokens[3]):
        before = await snapshot()
        for name, query, variables in admin_mutation_cases(world, acc):
            body = await world.api.raw(query, variables, token=token)
            assert_top_level(body, "FORBIDDEN")
        for query in (PRODUCT_USAGE, MEMBERS):
            body = await world.api.raw(query, {}, token=token)
            assert_top_level(body, "FORBIDDEN")
        assert await snapshot() == before


@pytest.mark.parametrize("who", ["admin", "member"])
async def test_domain_tokens_are_forbidden_on_operator_mutations(world, who):
    acc = await setup_accounts(world)
    token = world.admin if who == "admin" else world.member_tokens[0]
    before = await snapshot()
    for name, query, variables in operator_mutation_cases(world, acc):
        body = await world.api.raw(query, variables, token=token)
        assert_top_level(body, "FORBIDDEN")
    assert await snapshot() == before


async def test_operator_token_is_forbidden_on_member_and_admin_operations(world):
    acc = await setup_accounts(world)
    before = await snapshot()
    assert_top_level(await world.api.raw(VIEWER, {}, token=world.operator), "FORBIDDEN")
    for name, query, variables in admin_mutation_cases(world, acc):
        body = await world.api.raw(query, variables, token=world.operator)
        assert_top_level(body, "FORBIDDEN")
    assert await snapshot() == before


# --- 3. responders: visibility and CX Talk access ----------------------------------------

async def viewer_of(world: World, token: str) -> dict:
    return (await world.api.data(VIEWER, token=token))["viewer"]


async def is_responder_seen_by_admin(world: World, member_id: str) -> bool:
    data = await world.api.data(MEMBERS, {"first": 100}, token=world.admin)
    return next(e["node"]["isResponder"] for e in data["members"]["edges"] if e["node"]["id"] == member_id)


async def assert_access(world: World, i: int, expected: bool) -> None:
    viewer = await viewer_of(world, world.member_tokens[i])
    assert viewer["services"] == (["CX_TALK"] if expected else []), viewer
    assert viewer["member"]["isResponder"] is expected, viewer
    assert await is_responder_seen_by_admin(world, world.member_ids[i]) is expected


async def test_responder_reads_the_accounts_they_respond_for(world):
    m, t = world.member_ids, world.member_tokens
    account = await world.account(name="Support", handle="support", responders=[m[0]])
    # a responder sees it everywhere
    got = (await world.api.data(WINDOW_ACCOUNT, {"id": account["id"]}, token=t[0]))["windowAccount"]
    assert got is not None and got["id"] == account["id"] and got["status"] == "ACTIVE"
    listed = (await world.api.data(WINDOW_ACCOUNTS, token=t[0]))["windowAccounts"]
    assert [e["node"]["id"] for e in listed["edges"]] == [account["id"]]
    assert listed["totalCount"] == 1
    assert [a["id"] for a in (await viewer_of(world, t[0]))["windowAccounts"]] == [account["id"]]
    node = (await world.api.data(NODE, {"id": account["id"]}, token=t[0]))["node"]
    assert node == {"id": account["id"], "__typename": "WindowAccount"}
    # a member who does not respond sees nothing of it
    assert (await world.api.data(WINDOW_ACCOUNT, {"id": account["id"]}, token=t[1]))["windowAccount"] is None
    assert (await world.api.data(NODE, {"id": account["id"]}, token=t[1]))["node"] is None
    listed = (await world.api.data(WINDOW_ACCOUNTS, token=t[1]))["windowAccounts"]
    assert listed["edges"] == [] and listed["totalCount"] == 0
    listed = (await world.api.data(WINDOW_ACCOUNTS, {"search": "Support"}, token=t[1]))["windowAccounts"]
    assert listed["edges"] == [] and listed["totalCount"] == 0
    assert (await viewer_of(world, t[1]))["windowAccounts"] == []


async def test_member_sees_only_their_own_accounts_of_several(world):
    m, t = world.member_ids, world.member_tokens
    mine = await world.account(name="Mine", handle="mine", responders=[m[0], m[1]])
    other = await world.account(name="Theirs", handle="theirs", responders=[m[2]])
    listed = (await world.api.data(WINDOW_ACCOUNTS, token=t[0]))["windowAccounts"]
    assert [e["node"]["id"] for e in listed["edges"]] == [mine["id"]] and listed["totalCount"] == 1
    assert (await world.api.data(WINDOW_ACCOUNT, {"id": other["id"]}, token=t[0]))["windowAccount"] is None
    # the admin sees both
    listed = (await world.api.data(WINDOW_ACCOUNTS, token=world.admin))["windowAccounts"]
    assert {e["node"]["id"] for e in listed["edges"]} == {mine["id"], other["id"]}


async def test_cx_talk_access_follows_active_responder_status(world):
    m = world.member_ids
    # before: nobody responds
    await assert_access(world, 0, False)
    await assert_access(world, 1, False)
    # createWindowAccount grants access to the responders it names
    account = await world.account(name="Support", handle="support", responders=[m[0]])
    await assert_access(world, 0, True)
    await assert_access(world, 1, False)
    # addResponders grants it
    payload = await world.mutate(ADD_RESPONDERS, {"accountId": account["id"], "memberIds": [m[1]]})
    assert payload["errors"] == []
    await assert_access(world, 1, True)
    # removeResponder takes it away from a member who responds for nothing else
    payload = await world.mutate(REMOVE_RESPONDER, {"accountId": account["id"], "memberId": m[1]})
    assert payload["errors"] == []
    await assert_access(world, 1, False)
    assert (await viewer_of(world, world.member_tokens[1]))["windowAccounts"] == []
    await assert_access(world, 0, True)
    # an account being reset grants nothing any more
    await WindowAccount.filter(id=ids.decode(account["id"], "WindowAccount")).update(
        status=AccountStatus.RESETTING)
    await assert_access(world, 0, False)
    t0 = world.member_tokens[0]
    assert (await viewer_of(world, t0))["windowAccounts"] == []
    assert (await world.api.data(WINDOW_ACCOUNT, {"id": account["id"]}, token=t0))["windowAccount"] is None
    listed = (await world.api.data(WINDOW_ACCOUNTS, token=t0))["windowAccounts"]
    assert listed["edges"] == [] and listed["totalCount"] == 0


async def test_removed_responder_keeps_access_through_another_active_account(world):
    m = world.member_ids
    first = await world.account(name="First", handle="first", responders=[m[0], m[1]])
    second = await world.account(name="Second", handle="second", responders=[m[1]])
    payload = await world.mutate(REMOVE_RESPONDER, {"accountId": first["id"], "memberId": m[1]})
    assert payload["errors"] == []
    await assert_access(world, 1, True)
    assert [a["id"] for a in (await viewer_of(world, world.member_tokens[1]))["windowAccounts"]] == [second["id"]]
    t1 = world.member_tokens[1]
    assert (await world.api.data(WINDOW_ACCOUNT, {"id": first["id"]}, token=t1))["windowAccount"] is None


# --- 4. tenancy ----------------------------------------------------------------------------

@pytest.fixture
async def two_domains(world):
    other = await World.build(world.api, name="Other")
    om = other.member_ids
    other_account = await other.account(name="Support", handle="othersupport", responders=[om[0]])
    other_product = await other.grant("OtherOnly", 2, 3)
    m = world.member_ids
    mine = await world.account(name="Support", handle="support", responders=[m[0], m[1]])
    return world, other, {"account": other_account["id"], "product": other_product,
                          "member": om[1], "domain": other.domain_id, "mine": mine["id"]}


async def same_as_missing(world: World, query: str, foreign_vars: dict, missing_vars: dict,
                          token: str | None = None) -> dict:
    """Both responses; they must be identical, and nothing may be written by either."""
    token = token or world.admin
    before = await snapshot()
    foreign = await world.api.raw(query, foreign_vars, token=token)
    absent = await world.api.raw(query, missing_vars, token=token)
    assert foreign == absent, (foreign, absent)
    assert await snapshot() == before
    return foreign


async def test_foreign_ids_read_like_missing_ids(two_domains):
    world, other, foreign = two_domains
    body = await same_as_missing(world, WINDOW_ACCOUNT, {"id": foreign["account"]},
                                 {"id": missing("WindowAccount")})
    assert body == {"data": {"windowAccount": None}}
    for type_name, key in (("WindowAccount", "account"), ("Member", "member"), ("Product", "product"),
                           ("Domain", "domain")):
        body = await same_as_missing(world, NODE, {"id": foreign[key]}, {"id": missing(type_name)})
        assert body == {"data": {"node": None}}, type_name
    # a member of this domain who responds for an account does not see the other domain's either
    body = await same_as_missing(world, WINDOW_ACCOUNT, {"id": foreign["account"]},
                                 {"id": missing("WindowAccount")}, token=world.member_tokens[0])
    assert body == {"data": {"windowAccount": None}}
    # and the other domain's admin sees its own rows (so the IDs used are real)
    assert (await other.api.data(WINDOW_ACCOUNT, {"id": foreign["account"]}, token=other.admin))["windowAccount"]
    assert (await other.api.data(NODE, {"id": foreign["product"]}, token=other.admin))["node"]
    assert (await other.api.data(NODE, {"id": foreign["member"]}, token=other.admin))["node"]
    assert (await other.api.data(NODE, {"id": foreign["domain"]}, token=other.admin))["node"]


def payload_of(body: dict) -> dict:
    assert not body.get("errors"), body
    return next(iter(body["data"].values()))


def assert_not_found(body: dict, field: str) -> None:
    payload = payload_of(body)
    assert payload["windowAccount"] is None, payload
    assert [(e["field"], e["code"]) for e in payload["errors"]] == [(field, "NOT_FOUND")], payload


async def test_create_with_foreign_ids_is_not_found(two_domains):
    world, other, foreign = two_domains
    m = world.member_ids
    base = {"name": "Sales", "handle": "sales", "responderIds": [m[2]], "productId": world.product_id}
    body = await same_as_missing(world, CREATE_ACCOUNT, {"input": {**base, "productId": foreign["product"]}},
                                 {"input": {**base, "productId": missing("Product")}})
    assert_not_found(body, "productId")
    body = await same_as_missing(world, CREATE_ACCOUNT, {"input": {**base, "responderIds": [foreign["member"]]}},
                                 {"input": {**base, "responderIds": [missing("Member")]}})
    assert_not_found(body, "responderIds")
    body = await same_as_missing(
        world, CREATE_ACCOUNT, {"input": {**base, "responderIds": [m[2], foreign["member"]]}},
        {"input": {**base, "responderIds": [m[2], missing("Member")]}})
    assert_not_found(body, "responderIds")
    # control: the same input with this domain's IDs succeeds
    assert payload_of(await world.api.raw(CREATE_ACCOUNT, {"input": base}, token=world.admin))["errors"] == []


async def test_update_with_foreign_ids_is_not_found(two_domains):
    world, other, foreign = two_domains
    body = await same_as_missing(world, UPDATE_ACCOUNT, {"input": {"id": foreign["account"], "name": "Mine now"}},
                                 {"input": {"id": missing("WindowAccount"), "name": "Mine now"}})
    assert_not_found(body, "id")
    body = await same_as_missing(world, UPDATE_ACCOUNT, {"input": {"id": foreign["account"], "description": "x"}},
                                 {"input": {"id": missing("WindowAccount"), "description": "x"}})
    assert_not_found(body, "id")
    body = await same_as_missing(world, UPDATE_ACCOUNT, {"input": {"id": foreign["mine"], "productId": foreign["product"]}},
                                 {"input": {"id": foreign["mine"], "productId": missing("Product")}})
    assert_not_found(body, "productId")
    # the other domain's account is unchanged
    got = (await other.api.data(WINDOW_ACCOUNT, {"id": foreign["account"]}, token=other.admin))["windowAccount"]
    assert got["name"] == "Support"


async def test_add_responders_with_foreign_ids_is_not_found(two_domains):
    world, other, foreign = two_domains
    m = world.member_ids
    body = await same_as_missing(world, ADD_RESPONDERS, {"input": {"accountId": foreign["account"], "memberIds": [m[2]]}},
                                 {"input": {"accountId": missing("WindowAccount"), "memberIds": [m[2]]}})
    assert_not_found(body, "accountId")
    # an account of this domain with room for one more responder
    one = await world.grant("Roomy", 3, 1)
    roomy = await world.account(name="Roomy", handle="roomy", responders=[m[0]], product_id=one)
    body = await same_as_missing(world, ADD_RESPONDERS, {"input": {"accountId": roomy["id"], "memberIds": [foreign["member"]]}},
                                 {"input": {"accountId": roomy["id"], "memberIds": [missing("Member")]}})
    assert_not_found(body, "memberIds")
    body = await same_as_missing(
        world, ADD_RESPONDERS, {"input": {"accountId": roomy["id"], "memberIds": [m[3], foreign["member"]]}},
        {"input": {"accountId": roomy["id"], "memberIds": [m[3], missing("Member")]}})
    assert_not_found(body, "memberIds")


async def test_remove_responder_with_foreign_ids_is_not_found(two_domains):
    world, other, foreign = two_domains
    m, om = world.member_ids, other.member_ids
    # the other domain's account, with one of its real responders
    body = await same_as_missing(world, REMOVE_RESPONDER, {"input": {"accountId": foreign["account"], "memberId": om[0]}},
                                 {"input": {"accountId": missing("WindowAccount"), "memberId": om[0]}})
    assert_not_found(body, "accountId")
    body = await same_as_missing(world, REMOVE_RESPONDER, {"input": {"accountId": foreign["account"], "memberId": m[0]}},
                                 {"input": {"accountId": missing("WindowAccount"), "memberId": m[0]}})
    assert_not_found(body, "accountId")
    # this domain's account (two responders), a member of the other domain
    body = await same_as_missing(world, REMOVE_RESPONDER, {"input": {"accountId": foreign["mine"], "memberId": foreign["member"]}},
                                 {"input": {"accountId": foreign["mine"], "memberId": missing("Member")}})
    assert_not_found(body, "memberId")
    # an account of this domain with a single responder
    single = await world.grant("Single", 2, 1)
    lone = await world.account(name="Lone", handle="lone", responders=[m[3]], product_id=single)
    body = await same_as_missing(world, REMOVE_RESPONDER, {"input": {"accountId": lone["id"], "memberId": om[0]}},
                                 {"input": {"accountId": lone["id"], "memberId": missing("Member")}})
    assert_not_found(body, "memberId")
    # the other domain still has its responder
    got = (await other.api.data(WINDOW_ACCOUNT, {"id": foreign["account"]}, token=other.admin))["windowAccount"]
    assert [r["id"] for r in got["responders"]] == [om[0]]


async def test_lists_never_show_the_other_domain(two_domains):
    world, other, foreign = two_domains
    for search in (None, "Support", "support", "othersupport", "other", "o"):
        data = await world.api.data(WINDOW_ACCOUNTS, {"search": search, "first": 100}, token=world.admin)
        got = [e["node"]["id"] for e in data["windowAccounts"]["edges"]]
        assert foreign["account"] not in got, search
        assert data["windowAccounts"]["totalCount"] == len(got), search
        for status in ("ACTIVE", "RESETTING", "RESET"):
            data = await world.api.data(WINDOW_ACCOUNTS, {"search": search, "status": status}, token=world.admin)
            assert foreign["account"] not in [e["node"]["id"] for e in data["windowAccounts"]["edges"]]
    data = await world.api.data(WINDOW_ACCOUNTS, {"search": "Support"}, token=world.admin)
    assert [e["node"]["id"] for e in data["windowAccounts"]["edges"]] == [foreign["mine"]]
    assert data["windowAccounts"]["totalCount"] == 1

    other_ids = set(other.member_ids) | {other.admin_id}
    for search in (None, "Member", "member", "Other", "other.example", "example", "m1@", "Admin"):
        data = await world.api.data(MEMBERS, {"search": search, "first": 100}, token=world.admin)
        got = {e["node"]["id"] for e in data["members"]["edges"]}
        assert not got & other_ids, search
        assert data["members"]["totalCount"] == len(got), search
    data = await world.api.data(MEMBERS, {"search": "example", "first": 100}, token=world.admin)
    assert {e["node"]["id"] for e in data["members"]["edges"]} == set(world.member_ids) | {world.admin_id}
    data = await world.api.data(MEMBERS, {"search": "other", "first": 100}, token=world.admin)
    assert data["members"]["edges"] == [] and data["members"]["totalCount"] == 0

    usage = (await world.api.data(PRODUCT_USAGE, token=world.admin))["productUsage"]
    assert [p["id"] for p in usage["products"]] == [world.product_id]
    assert usage["totalPurchased"] == 2 and usage["accountsInUse"] == 1

    # a member of this domain sees only this domain's accounts they respond for
    data = await world.api.data(WINDOW_ACCOUNTS, {"search": "Support"}, token=world.member_tokens[0])
    assert [e["node"]["id"] for e in data["windowAccounts"]["edges"]] == [foreign["mine"]]


async def test_viewer_belongs_to_its_own_domain(two_domains):
    world, other, foreign = two_domains
    viewer = await viewer_of(world, world.admin)
    assert viewer["domain"]["id"] == world.domain_id and viewer["member"]["id"] == world.admin_id
    assert [a["id"] for a in viewer["windowAccounts"]] == []
    viewer = await viewer_of(other, other.member_tokens[0])
    assert viewer["domain"]["id"] == other.domain_id
    assert [a["id"] for a in viewer["windowAccounts"]] == [foreign["account"]]


# --- 5. malformed IDs, cursors and page sizes -----------------------------------------------

MALFORMED = {
    "abc": "abc",
    "empty": "",
    "member x": b64("Member:x"),
    "no colon": b64("Member"),
    "negative": b64("Member:-1"),
    "spaces": "   ",
    "non ascii": "ＩＤ",
}


def id_fields(world: World, acc: dict) -> list[tuple]:
    """(case name, token kind, query, an ID of the wrong type, variables for a given ID)"""
    m = world.member_ids
    return [
        ("windowAccount.id", "admin", WINDOW_ACCOUNT, m[0], lambda v: {"id": v}),
        ("createWindowAccount.productId", "admin", CREATE_ACCOUNT, m[0], lambda v: {"input": {
            "productId": v, "name": "Fresh", "handle": "fresh", "responderIds": [m[3]]}}),
        ("createWindowAccount.responderIds", "admin", CREATE_ACCOUNT, acc["extra"], lambda v: {"input": {
            "productId": acc["extra"], "name": "Fresh", "handle": "fresh", "responderIds": [m[3], v]}}),
        ("updateWindowAccount.id", "admin", UPDATE_ACCOUNT, m[0], lambda v: {"input": {
            "id": v, "name": "Renamed"}}),
        ("updateWindowAccount.productId", "admin", UPDATE_ACCOUNT, m[0], lambda v: {"input": {
            "id": acc["one"], "name": "Renamed", "productId": v}}),
        ("addResponders.accountId", "admin", ADD_RESPONDERS, m[0], lambda v: {"input": {
            "accountId": v, "memberIds": [m[3]]}}),
        ("addResponders.memberIds", "admin", ADD_RESPONDERS, acc["one"], lambda v: {"input": {
            "accountId": acc["one"], "memberIds": [m[3], v]}}),
        ("removeResponder.accountId", "admin", REMOVE_RESPONDER, m[0], lambda v: {"input": {
            "accountId": v, "memberId": m[1]}}),
        ("removeResponder.memberId", "admin", REMOVE_RESPONDER, acc["two"], lambda v: {"input": {
            "accountId": acc["two"], "memberId": v}}),
        ("grantProduct.domainId", "operator", GRANT_PRODUCT, m[0], lambda v: {"input": {
            "domainId": v, "name": "Premium", "responderLimit": 5, "quantity": 3}}),
        ("provisionMembers.domainId", "operator", PROVISION_MEMBERS, m[0], lambda v: {"input": {
            "domainId": v, "members": [{"name": "Newcomer", "email": "new@acme.example"}]}}),
        ("issueMemberToken.memberId", "operator", ISSUE_TOKEN, world.domain_id, lambda v: {"input": {
            "memberId": v}}),
    ]


ID_FIELD_NAMES = [
    "windowAccount.id", "createWindowAccount.productId", "createWindowAccount.responderIds",
    "updateWindowAccount.id", "updateWindowAccount.productId", "addResponders.accountId",
    "addResponders.memberIds", "removeResponder.accountId", "removeResponder.memberId",
    "grantProduct.domainId", "provisionMembers.domainId", "issueMemberToken.memberId",
]


@pytest.mark.parametrize("field_name", ID_FIELD_NAMES)
async def test_malformed_ids_are_bad_user_input(world, field_name):
    acc = await setup_accounts(world)
    cases = {c[0]: c for c in id_fields(world, acc)}
    _, who, query, wrong_type, build = cases[field_name]
    token = world.operator if who == "operator" else world.admin
    before = await snapshot()
    for label, value in {**MALFORMED, "wrong type": wrong_type}.items():
        body = await world.api.raw(query, build(value), token=token)
        assert top_level_codes(body) == ["BAD_USER_INPUT"], (field_name, label, body)
        assert_top_level(body, "BAD_USER_INPUT")
    assert await snapshot() == before


async def test_malformed_node_ids_are_bad_user_input(world):
    for label, value in {**MALFORMED, "unknown type": b64("Bogus:1"), "too long": b64("Member:" + "9" * 40)}.items():
        body = await world.api.raw(NODE, {"id": value}, token=world.admin)
        assert top_level_codes(body) == ["BAD_USER_INPUT"], (label, body)
        assert_top_level(body, "BAD_USER_INPUT")


async def test_malformed_ids_for_a_member_are_bad_user_input_too(world):
    """Malformedness is judged the same whatever the caller may see."""
    for value in MALFORMED.values():
        body = await world.api.raw(WINDOW_ACCOUNT, {"id": value}, token=world.member_tokens[0])
        assert top_level_codes(body) == ["BAD_USER_INPUT"], (value, body)


@pytest.mark.parametrize("query,name", [(WINDOW_ACCOUNTS, "windowAccounts"), (MEMBERS, "members")])
async def test_malformed_cursor_and_negative_first_are_bad_user_input(world, query, name):
    await world.account(name="Support", handle="support")
    good = await world.api.data(query, {"first": 1}, token=world.admin)
    assert good[name]["edges"], good  # there is something to page over
    cursors = {
        "abc": "abc",
        "empty": "",
        "not base64 text": "%%%",
        "an ID": world.member_ids[0],
        "letters": b64("c:x"),
        "negative": b64("c:-1"),
    }
    for label, cursor in cursors.items():
        body = await world.api.raw(query, {"after": cursor}, token=world.admin)
        assert top_level_codes(body) == ["BAD_USER_INPUT"], (label, body)
        assert_top_level(body, "BAD_USER_INPUT")
    for first in (-1, -100):
        body = await world.api.raw(query, {"first": first}, token=world.admin)
        assert top_level_codes(body) == ["BAD_USER_INPUT"], (first, body)
        assert_top_level(body, "BAD_USER_INPUT")
    # a real cursor works
    after = good[name]["pageInfo"]["endCursor"]
    body = await world.api.raw(query, {"after": after}, token=world.admin)
    assert not body.get("errors"), body


@pytest.mark.parametrize("query,name", [(WINDOW_ACCOUNTS, "windowAccounts"), (MEMBERS, "members")])
async def test_out_of_range_cursor_is_bad_user_input_not_a_fault(world, query, name):
    """A cursor the server could never have issued (a number beyond the 32-bit keys) is malformed
    input like any other, not an unexpected fault (INTERNAL_SERVER_ERROR from the database driver)."""
    await world.account(name="Support", handle="support")
    for number in (str(2**31), "9" * 20, "9" * 30):
        body = await world.api.raw(query, {"after": b64("c:" + number)}, token=world.admin)
        assert top_level_codes(body) == ["BAD_USER_INPUT"], (number, body)
        assert_top_level(body, "BAD_USER_INPUT")


async def test_first_is_capped_at_one_hundred(world):
    people = [{"name": f"Bulk {i}", "email": f"bulk{i}@acme.example"} for i in range(120)]
    data = await world.api.data(PROVISION_MEMBERS, {"input": {"domainId": world.domain_id, "members": people}},
                                token=world.operator)
    assert data["provisionMembers"]["errors"] == []
    total = 120 + len(world.member_ids) + 1
    page = (await world.api.data(MEMBERS, {"first": 1000}, token=world.admin))["members"]
    assert len(page["edges"]) == 100
    assert page["pageInfo"]["hasNextPage"] is True and page["totalCount"] == total
    rest = (await world.api.data(MEMBERS, {"first": 1000, "after": page["pageInfo"]["endCursor"]},
                                 token=world.admin))["members"]
    assert len(rest["edges"]) == total - 100 and rest["pageInfo"]["hasNextPage"] is False
    seen = [e["node"]["id"] for e in page["edges"] + rest["edges"]]
    assert len(set(seen)) == total


async def test_window_accounts_first_is_capped_at_one_hundred(world):
    product = await world.grant("Bulk", 1, 110)
    for i in range(101):
        await world.account(name=f"Desk {i}", handle=f"desk{i}", product_id=product)
    page = (await world.api.data(WINDOW_ACCOUNTS, {"first": 1000}, token=world.admin))["windowAccounts"]
    assert len(page["edges"]) == 100
    assert page["pageInfo"]["hasNextPage"] is True and page["totalCount"] == 101


async def test_large_ids_in_key_range_read_like_missing_ids(world):
    """An ID of the right type whose number is in the 32-bit key range but names no row is simply
    not found: `null` / NOT_FOUND exactly like a small missing number, never a fault (PostgreSQL
    keys are 32-bit: the largest value must still be a valid query parameter)."""
    m = world.member_ids
    acc = await setup_accounts(world)
    before = await snapshot()
    for pk in (10**9, 2**31 - 1):
        body = await world.api.raw(WINDOW_ACCOUNT, {"id": ids.encode("WindowAccount", pk)}, token=world.admin)
        assert body == {"data": {"windowAccount": None}}, (pk, body)
        for type_name in ("WindowAccount", "Member", "Product", "Domain"):
            body = await world.api.raw(NODE, {"id": ids.encode(type_name, pk)}, token=world.admin)
            assert body == {"data": {"node": None}}, (pk, type_name, body)
        for query, variables, field in big_id_cases(world, acc, pk):
            assert_not_found(await world.api.raw(query, variables, token=world.admin), field)
    assert await snapshot() == before


async def test_ids_beyond_the_key_range_are_bad_user_input(world):
    """A number no key can have (beyond 32 bits) is a malformed ID: BAD_USER_INPUT, not a fault."""
    acc = await setup_accounts(world)
    before = await snapshot()
    for pk in (2**31, 10**12, 10**18 - 1):
        body = await world.api.raw(WINDOW_ACCOUNT, {"id": ids.encode("WindowAccount", pk)}, token=world.admin)
        assert_top_level(body, "BAD_USER_INPUT")
        body = await world.api.raw(NODE, {"id": ids.encode("Member", pk)}, token=world.admin)
        assert_top_level(body, "BAD_USER_INPUT")
        for query, variables, field in big_id_cases(world, acc, pk):
            assert_top_level(await world.api.raw(query, variables, token=world.admin), "BAD_USER_INPUT")
    assert await snapshot() == before


def big_id_cases(world: World, acc: dict, pk: int) -> list[tuple[str, dict, str]]:
    m = world.member_ids
    return [
        (CREATE_ACCOUNT, {"input": {"productId": ids.encode("Product", pk), "name": "Fresh", "handle": "fresh",
                                    "responderIds": [m[3]]}}, "productId"),
        (CREATE_ACCOUNT, {"input": {"productId": acc["extra"], "name": "Fresh", "handle": "fresh",
                                    "responderIds": [ids.encode("Member", pk)]}}, "responderIds"),
        (UPDATE_ACCOUNT, {"input": {"id": ids.encode("WindowAccount", pk), "name": "Renamed"}}, "id"),
        (UPDATE_ACCOUNT, {"input": {"id": acc["one"], "productId": ids.encode("Product", pk)}}, "productId"),
        (ADD_RESPONDERS, {"input": {"accountId": ids.encode("WindowAccount", pk), "memberIds": [m[3]]}},
         "accountId"),
        (ADD_RESPONDERS, {"input": {"accountId": acc["one"], "memberIds": [ids.encode("Member", pk)]}},
         "memberIds"),
        (REMOVE_RESPONDER, {"input": {"accountId": ids.encode("WindowAccount", pk), "memberId": m[1]}},
         "accountId"),
        (REMOVE_RESPONDER, {"input": {"accountId": acc["two"], "memberId": ids.encode("Member", pk)}},
         "memberId"),
    ]


async def test_node_resolves_the_parts_of_an_account_only_for_who_sees_the_account(world):
    from models import Bot, BotOrigin, Contact, Holiday, Message, TalkRoom
    from schema.ids import decode, encode
    from tests.history import seed_messages
    from tests.support import World
    from datetime import date

    account = await world.account(responders=[world.member_ids[0]])
    pk = decode(account["id"], "WindowAccount")
    await seed_messages(account["id"], 1)
    contact = await Contact.filter(account_id=pk).first()
    room = await TalkRoom.create(account_id=pk, contact_id=contact.id)
    bot = await Bot.create(account_id=pk, name="b", origin=BotOrigin.CX_TALK)
    holiday = await Holiday.create(account_id=pk, start_date=date(2030, 1, 1), end_date=date(2030, 1, 2))
    message = await Message.filter(account_id=pk).first()
    other = await World.build(world.api, name="Other")
    query = "query($id: ID!) { node(id: $id) { id __typename } }"
    for type_name, row in [("Contact", contact), ("TalkRoom", room), ("Bot", bot), ("Holiday", holiday),
                           ("Message", message)]:
        gid = encode(type_name, row.id)
        assert (await world.api.data(query, {"id": gid}, token=world.admin))["node"] == {
            "id": gid, "__typename": type_name}
        assert (await world.api.data(query, {"id": gid}, token=world.member_tokens[0]))["node"]["id"] == gid
        assert (await world.api.data(query, {"id": gid}, token=world.member_tokens[1]))["node"] is None
        assert (await world.api.data(query, {"id": gid}, token=other.admin))["node"] is None
