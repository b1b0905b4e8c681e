async def test_admin_creates_an_account(world):
    account = await world.account(name="Support", handle="support")
    assert account["status"] == "ACTIVE"
    assert account["responderCount"] == 1
    assert account["product"]["accountsInUse"] == 1
