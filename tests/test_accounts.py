"""Window accounts: every rule of creation and change, with its exact code, and nothing written on refusal."""
import pytest

from tests.support import UPDATE_ACCOUNT, errors_of, snapshot

LIST = """query($first: Int, $after: String, $search: String, $status: WindowAccountStatus) {
  windowAccounts(first: $first, after: $after, search: $search, status: $status) {
    totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id name handle status } } } }"""


async def refused(world, expected: list[tuple[str | None, str]], **kwargs):
    before = await snapshot()
    payload = await world.create_account(**kwargs)
    assert payload["windowAccount"] is None
    assert errors_of(payload) == expected
    assert all(e["message"] for e in payload["errors"])
    assert await snapshot() == before


async def test_created_account_has_everything_the_list_shows(world):
    account = await world.account(name="  Support デスク ", handle="support1", description="Help for 製品",
                                  responders=world.member_ids[:2])
    assert account["name"] == "Support デスク"  # trimmed
    assert account["handle"] == "support1"
    assert account["description"] == "Help for 製品"
    assert account["status"] == "ACTIVE"
    assert account["responderCount"] == 2
    assert [r["id"] for r in account["responders"]] == world.member_ids[:2]
    assert account["product"]["id"] == world.product_id
    assert account["product"]["accountsInUse"] == 1 and account["product"]["available"] == 1
    assert account["inviteUrl"].startswith("http://testserver/invite/")
    assert account["qrCodeUrl"] == account["inviteUrl"] + "/qr.png"
    assert account["imageUrl"] is None
    from datetime import datetime
    from zoneinfo import ZoneInfo
    assert account["startedOn"] == datetime.now(ZoneInfo("Asia/Tokyo")).date().isoformat()


@pytest.mark.parametrize("name, code", [
    ("", "REQUIRED"), ("   ", "REQUIRED"), ("a" * 21, "TOO_LONG"), ("サ" * 21, "TOO_LONG"),
    ("bad\x00name", "INVALID"), ("tab\there", "INVALID"), ("line\u2028break", "INVALID"),
])
async def test_name_rules(world, name, code):
    await refused(world, [("name", code)], name=name)


async def test_name_length_counts_code_points_after_nfc(world):
    # 20 characters, each written as base letter + combining accent (40 code points before NFC)
    decomposed = "e\u0301" * 20
    account = await world.account(name=decomposed, handle="accents")
    assert account["name"] == "\u00e9" * 20
    emoji = "😀" * 20
    await world.account(name=emoji, handle="emoji", responders=world.member_ids[1:2])


async def test_name_unique_after_nfkc_casefold(world):
    await world.account(name="Support", handle="one")
    await world.grant("Second", 2, 5)
    await refused(world, [("name", "NAME_TAKEN")], name="ｓｕｐｐｏｒｔ", handle="two")
    await refused(world, [("name", "NAME_TAKEN")], name="SUPPORT ", handle="three")


async def test_same_name_allowed_in_another_domain(world):
    from tests.support import World
    await world.account(name="Support", handle="acme")
    other = await World.build(world.api, name="Other")
    assert (await other.create_account(name="Support", handle="other"))["errors"] == []


@pytest.mark.parametrize("handle", ["", "Support", "sup port", "sup-port", "sup_port", "ｓｕｐ", "a" * 21, " abc",
                                    "über", "abc\n"])
async def test_handle_rules(world, handle):
    await refused(world, [("handle", "HANDLE_INVALID")], handle=handle)


async def test_handle_of_20_lowercase_letters_and_digits_is_fine(world):
    assert (await world.account(handle="0" + "a" * 18 + "9"))["handle"] == "0" + "a" * 18 + "9"


async def test_handle_unique_across_the_whole_service(world):
    from tests.support import World
    await world.account(handle="shared")
    other = await World.build(world.api, name="Other")
    before = await snapshot()
    payload = await other.create_account(name="Another", handle="shared")
    assert errors_of(payload) == [("handle", "HANDLE_TAKEN")]
    assert await snapshot() == before


async def test_description_rules(world):
    await refused(world, [("description", "TOO_LONG")], description="x" * 101)
    await refused(world, [("description", "INVALID")], description="bell\x07")
    account = await world.account(description="説" * 100)
    assert account["description"] == "説" * 100
    account = await world.account(name="Empty", handle="empty", description="   ",
                                  responders=world.member_ids[1:2])
    assert account["description"] is None


async def test_several_field_errors_are_reported_together(world):
    await refused(world, [("name", "REQUIRED"), ("handle", "HANDLE_INVALID"), ("description", "TOO_LONG"),
                          ("responderIds", "REQUIRED")],
                  name="", handle="BAD", description="x" * 101, responders=[])


async def test_responders_at_creation(world):
    await refused(world, [("responderIds", "REQUIRED")], responders=[])
    await refused(world, [("responderIds", "RESPONDER_LIMIT_REACHED")], responders=world.member_ids[:3])
    from schema.ids import encode
    await refused(world, [("responderIds", "NOT_FOUND")], responders=[world.member_ids[0], encode("Member", 99999)])
    # duplicates count once
    account = await world.account(responders=[world.member_ids[0]] * 3)
    assert account["responderCount"] == 1


async def test_product_must_exist_and_have_a_free_unit(world):
    from schema.ids import encode
    await refused(world, [("productId", "NOT_FOUND")], product_id=encode("Product", 424242))
    await world.account(name="One", handle="one")
    await world.account(name="Two", handle="two", responders=world.member_ids[1:2])
    await refused(world, [("productId", "PRODUCT_EXHAUSTED")], name="Three", handle="three",
                  responders=world.member_ids[2:3])


async def test_list_search_status_and_pagination(world):
    await world.grant("Big", 5, 10)
    big = (await world.api.data("{ productUsage { products { id name } } }", token=world.admin))
    big_id = next(p["id"] for p in big["productUsage"]["products"] if p["name"] == "Big")
    for i in range(5):
        await world.account(name=f"Desk {i}", handle=f"desk{i}", product_id=big_id)
    page1 = (await world.api.data(LIST, {"first": 2}, token=world.admin))["windowAccounts"]
    assert page1["totalCount"] == 5 and page1["pageInfo"]["hasNextPage"] is True
    page2 = (await world.api.data(LIST, {"first": 2, "after": page1["pageInfo"]["endCursor"]},
                                  token=world.admin))["windowAccounts"]
    page3 = (await world.api.data(LIST, {"first": 2, "after": page2["pageInfo"]["endCursor"]},
                                  token=world.admin))["windowAccounts"]
    names = [e["node"]["name"] for p in (page1, page2, page3) for e in p["edges"]]
    assert names == [f"Desk {i}" for i in range(5)]
    assert page3["pageInfo"]["hasNextPage"] is False
    found = (await world.api.data(LIST, {"search": "desk 3"}, token=world.admin))["windowAccounts"]
    assert [e["node"]["handle"] for e in found["edges"]] == ["desk3"] and found["totalCount"] == 1
    # RESET accounts are hidden unless asked for
    from models import AccountStatus, WindowAccount
    await WindowAccount.filter(handle="desk0").update(status=AccountStatus.RESET)
    await WindowAccount.filter(handle="desk1").update(status=AccountStatus.RESETTING)
    default = (await world.api.data(LIST, {}, token=world.admin))["windowAccounts"]
    assert [e["node"]["handle"] for e in default["edges"]] == ["desk1", "desk2", "desk3", "desk4"]
    reset = (await world.api.data(LIST, {"status": "RESET"}, token=world.admin))["windowAccounts"]
    assert [e["node"]["handle"] for e in reset["edges"]] == ["desk0"]


# --- updateWindowAccount -------------------------------------------------------------------

async def update(world, **input):
    return await world.mutate(UPDATE_ACCOUNT, input)


async def test_update_changes_only_given_fields(world):
    account = await world.account(name="Support", handle="support", description="old")
    payload = await update(world, id=account["id"], name="Helpdesk")
    assert payload["errors"] == []
    assert payload["windowAccount"]["name"] == "Helpdesk"
    assert payload["windowAccount"]["description"] == "old"
    payload = await update(world, id=account["id"], description=None)
    assert payload["windowAccount"]["description"] is None and payload["windowAccount"]["name"] == "Helpdesk"
    # the old name is free again
    await world.account(name="Support", handle="again", responders=world.member_ids[1:2])


async def test_update_refusals_write_nothing(world):
    first = await world.account(name="Support", handle="support")
    await world.account(name="Sales", handle="sales", responders=world.member_ids[1:2])
    from schema.ids import encode
    cases = [
        (dict(name=""), [("name", "REQUIRED")]),
        (dict(name="x" * 21), [("name", "TOO_LONG")]),
        (dict(name="ＳＡＬＥＳ"), [("name", "NAME_TAKEN")]),
        (dict(description="y" * 101), [("description", "TOO_LONG")]),
        (dict(productId=encode("Product", 777)), [("productId", "NOT_FOUND")]),
    ]
    for extra, expected in cases:
        before = await snapshot()
        payload = await update(world, id=first["id"], **extra)
        assert payload["windowAccount"] is None
        assert errors_of(payload) == expected, extra
        assert await snapshot() == before
    payload = await update(world, id=encode("WindowAccount", 5555), name="Nope")
    assert errors_of(payload) == [("id", "NOT_FOUND")]


async def test_renaming_to_its_own_name_in_other_case_is_allowed(world):
    account = await world.account(name="Support", handle="support")
    payload = await update(world, id=account["id"], name="SUPPORT")
    assert payload["errors"] == [] and payload["windowAccount"]["name"] == "SUPPORT"


async def test_product_change_moves_the_unit_and_checks_the_limit(world):
    small = await world.grant("Small", 1, 1)
    account = await world.account(responders=world.member_ids[:2])
    before = await snapshot()
    payload = await update(world, id=account["id"], productId=small)
    assert errors_of(payload) == [("productId", "RESPONDER_LIMIT_REACHED")]
    assert await snapshot() == before

    single = await world.account(name="Single", handle="single", responders=world.member_ids[2:3])
    payload = await update(world, id=single["id"], productId=small)
    assert payload["errors"] == []
    assert payload["windowAccount"]["product"]["id"] == small
    usage = (await world.api.data("{ productUsage { totalPurchased accountsInUse products { name accountsInUse available } } }",
                                  token=world.admin))["productUsage"]
    assert usage["totalPurchased"] == 3 and usage["accountsInUse"] == 2
    assert {p["name"]: (p["accountsInUse"], p["available"]) for p in usage["products"]} == {
        "Standard": (1, 1), "Small": (1, 0)}
    # Small is now exhausted: moving another account there fails with PRODUCT_EXHAUSTED
    lone = await world.account(name="Lone", handle="lone", responders=world.member_ids[3:4])
    before = await snapshot()
    payload = await update(world, id=lone["id"], productId=small)
    assert errors_of(payload) == [("productId", "PRODUCT_EXHAUSTED")]
    assert await snapshot() == before


async def test_not_active_accounts_cannot_change(world):
    account = await world.account()
    from models import AccountStatus, WindowAccount
    from schema.ids import decode
    await WindowAccount.filter(id=decode(account["id"], "WindowAccount")).update(status=AccountStatus.RESETTING)
    before = await snapshot()
    payload = await update(world, id=account["id"], name="New")
    assert errors_of(payload) == [("id", "ACCOUNT_NOT_ACTIVE")]
    assert await snapshot() == before


async def test_search_with_control_characters_is_not_a_fault(world):
    await world.account(name="Support", handle="support")
    for term in ["\x00", "Sup\x00port", "\u0007"]:
        found = (await world.api.data(LIST, {"search": term}, token=world.admin))["windowAccounts"]
        assert found["totalCount"] == 1  # control characters are dropped from the term
    members = await world.api.data('query($s: String) { members(search: $s) { totalCount } }', {"s": "\x00"},
                                   token=world.admin)
    assert members["members"]["totalCount"] == 5
