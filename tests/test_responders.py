"""Responders: limits, all-or-nothing adds, the last responder, and the CX Talk access they grant."""
from schema.ids import encode
from tests.support import ADD_RESPONDERS, REMOVE_RESPONDER, errors_of, snapshot

VIEWER = "{ viewer { services member { isResponder } windowAccounts { id } } }"


async def add(world, account_id, member_ids):
    return await world.mutate(ADD_RESPONDERS, {"accountId": account_id, "memberIds": member_ids})


async def remove(world, account_id, member_id):
    return await world.mutate(REMOVE_RESPONDER, {"accountId": account_id, "memberId": member_id})


async def refused(world, call, expected):
    before = await snapshot()
    payload = await call
    assert payload["windowAccount"] is None
    assert errors_of(payload) == expected
    assert await snapshot() == before


async def test_add_and_remove(world):
    account = await world.account(responders=[world.member_ids[0]])
    payload = await add(world, account["id"], [world.member_ids[1]])
    assert payload["errors"] == []
    assert [r["id"] for r in payload["windowAccount"]["responders"]] == world.member_ids[:2]
    assert payload["windowAccount"]["responderCount"] == 2
    payload = await remove(world, account["id"], world.member_ids[0])
    assert payload["errors"] == []
    assert [r["id"] for r in payload["windowAccount"]["responders"]] == [world.member_ids[1]]
    assert payload["windowAccount"]["responderCount"] == 1


async def test_adding_beyond_the_limit_fails_as_a_whole(world):
    account = await world.account(responders=[world.member_ids[0]])
    await refused(world, add(world, account["id"], world.member_ids[1:3]), [("memberIds", "RESPONDER_LIMIT_REACHED")])


async def test_adding_a_responder_again_fails_as_a_whole(world):
    await world.grant("Wide", 4, 1)
    usage = await world.api.data("{ productUsage { products { id name } } }", token=world.admin)
    wide = next(p["id"] for p in usage["productUsage"]["products"] if p["name"] == "Wide")
    account = await world.account(responders=[world.member_ids[0]], product_id=wide)
    await refused(world, add(world, account["id"], [world.member_ids[1], world.member_ids[0]]),
                  [("memberIds", "ALREADY_RESPONDER")])


async def test_add_needs_members_of_the_domain_and_an_existing_account(world):
    account = await world.account(responders=[world.member_ids[0]])
    await refused(world, add(world, account["id"], []), [("memberIds", "REQUIRED")])
    await refused(world, add(world, account["id"], [encode("Member", 9999)]), [("memberIds", "NOT_FOUND")])
    await refused(world, add(world, encode("WindowAccount", 9999), [world.member_ids[1]]),
                  [("accountId", "NOT_FOUND")])


async def test_last_responder_cannot_be_removed(world):
    account = await world.account(responders=[world.member_ids[0]])
    await refused(world, remove(world, account["id"], world.member_ids[0]), [("memberId", "LAST_RESPONDER")])


async def test_removing_a_non_responder(world):
    account = await world.account(responders=world.member_ids[:2])
    await refused(world, remove(world, account["id"], world.member_ids[3]), [("memberId", "NOT_A_RESPONDER")])
    await refused(world, remove(world, account["id"], encode("Member", 9999)), [("memberId", "NOT_FOUND")])
    await refused(world, remove(world, encode("WindowAccount", 9999), world.member_ids[0]),
                  [("accountId", "NOT_FOUND")])


async def test_not_active_account_refuses_responder_changes(world):
    from models import AccountStatus, WindowAccount
    from schema.ids import decode
    account = await world.account(responders=world.member_ids[:2])
    await WindowAccount.filter(id=decode(account["id"], "WindowAccount")).update(status=AccountStatus.RESETTING)
    await refused(world, add(world, account["id"], [world.member_ids[2]]), [("accountId", "ACCOUNT_NOT_ACTIVE")])
    await refused(world, remove(world, account["id"], world.member_ids[0]), [("accountId", "ACCOUNT_NOT_ACTIVE")])


async def test_responding_grants_cx_talk_access(world):
    token = world.member_tokens[1]
    viewer = (await world.api.data(VIEWER, token=token))["viewer"]
    assert viewer == {"services": [], "member": {"isResponder": False}, "windowAccounts": []}
    first = await world.account(name="First", handle="first", responders=[world.member_ids[0]])
    second = await world.account(name="Second", handle="second", responders=[world.member_ids[0]])
    await add(world, first["id"], [world.member_ids[1]])
    await add(world, second["id"], [world.member_ids[1]])
    viewer = (await world.api.data(VIEWER, token=token))["viewer"]
    assert viewer["services"] == ["CX_TALK"] and viewer["member"]["isResponder"] is True
    assert [a["id"] for a in viewer["windowAccounts"]] == [first["id"], second["id"]]
    await remove(world, first["id"], world.member_ids[1])
    viewer = (await world.api.data(VIEWER, token=token))["viewer"]
    assert viewer["services"] == ["CX_TALK"] and [a["id"] for a in viewer["windowAccounts"]] == [second["id"]]
    await remove(world, second["id"], world.member_ids[1])
    viewer = (await world.api.data(VIEWER, token=token))["viewer"]
    assert viewer == {"services": [], "member": {"isResponder": False}, "windowAccounts": []}
