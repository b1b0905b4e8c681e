"""Products: granting by internal tooling, and the product screen's figures."""
from schema.ids import encode
from tests.support import GRANT_PRODUCT, errors_of, snapshot

USAGE = "{ productUsage { totalPurchased accountsInUse products { name responderLimit purchasedQuantity accountsInUse available } } }"


async def grant(world, **input):
    return await world.mutate(GRANT_PRODUCT, {"domainId": world.domain_id, "name": "P", "responderLimit": 2,
                                              "quantity": 1, **input}, token=world.operator)


async def test_usage_sums_products(world):
    await world.grant("Large", 20, 3)
    await world.account(responders=[world.member_ids[0]])
    usage = (await world.api.data(USAGE, token=world.admin))["productUsage"]
    assert usage == {"totalPurchased": 5, "accountsInUse": 1, "products": [
        {"name": "Standard", "responderLimit": 2, "purchasedQuantity": 2, "accountsInUse": 1, "available": 1},
        {"name": "Large", "responderLimit": 20, "purchasedQuantity": 3, "accountsInUse": 0, "available": 3}]}


async def test_granting_an_existing_product_adds_units(world):
    payload = await grant(world, name="Standard", responderLimit=2, quantity=3)
    assert payload["errors"] == [] and payload["product"]["purchasedQuantity"] == 5
    before = await snapshot()
    payload = await grant(world, name="Standard", responderLimit=9, quantity=1)
    assert errors_of(payload) == [("responderLimit", "INVALID")]
    assert await snapshot() == before


async def test_grant_refusals(world):
    before = await snapshot()
    for input, expected in [
        (dict(name=""), [("name", "REQUIRED")]),
        (dict(responderLimit=0), [("responderLimit", "INVALID")]),
        (dict(quantity=-1), [("quantity", "INVALID")]),
        (dict(domainId=encode("Domain", 4242)), [("domainId", "NOT_FOUND")]),
    ]:
        assert errors_of(await grant(world, **input)) == expected, input
    assert await snapshot() == before


async def test_provision_members_is_all_or_nothing_and_syncs_names(world):
    from tests.support import PROVISION_MEMBERS
    before = await snapshot()
    payload = await world.mutate(PROVISION_MEMBERS, {"domainId": world.domain_id, "members": [
        {"name": "New Person", "email": "new@acme.example"}, {"name": "", "email": "bad"}]}, token=world.operator)
    assert errors_of(payload) == [("members[1].name", "REQUIRED"), ("members[1].email", "INVALID")]
    assert payload["members"] == []
    assert await snapshot() == before
    payload = await world.mutate(PROVISION_MEMBERS, {"domainId": world.domain_id, "members": [
        {"name": "Renamed", "email": "M0@ACME.example"}]}, token=world.operator)
    assert payload["errors"] == [] and payload["members"][0]["id"] == world.member_ids[0]
    assert payload["members"][0]["name"] == "Renamed"


async def test_member_search_by_name_or_email(world):
    query = "query($s: String) { members(search: $s) { totalCount edges { node { id name email } } } }"
    found = (await world.api.data(query, {"s": "member 2"}, token=world.admin))["members"]
    assert [e["node"]["id"] for e in found["edges"]] == [world.member_ids[2]]
    found = (await world.api.data(query, {"s": "M3@ACME"}, token=world.admin))["members"]
    assert [e["node"]["id"] for e in found["edges"]] == [world.member_ids[3]]
    everyone = (await world.api.data(query, {}, token=world.admin))["members"]
    assert everyone["totalCount"] == 5
