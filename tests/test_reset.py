"""Account reset: the immediate effects in one transaction, then the idempotent cleanup job."""
from datetime import datetime, timedelta, timezone

from models import (AccountStatus, Bot, BotOrigin, Contact, Message, Product, Responder, TalkRoom,
                    TalkRoomParticipant, WindowAccount)
from schema.ids import decode, encode
from services import reset
from tests.history import seed_messages
from tests.support import errors_of, snapshot

RESET = """mutation($input: ResetWindowAccountInput!) { resetWindowAccount(input: $input) {
  windowAccount { id status handle name } errors { field code message } } }"""
VIEWER = "{ viewer { services windowAccounts { id } } }"


async def conversation(account_gid: str, member_gid: str, rooms: int = 3):
    """Rooms with a participant, one bot of each origin, and some history."""
    pk = decode(account_gid, "WindowAccount")
    await seed_messages(account_gid, 4)
    contact = await Contact.filter(account_id=pk).first()
    for _ in range(rooms):
        room = await TalkRoom.create(account_id=pk, contact_id=contact.id)
        await TalkRoomParticipant.create(room_id=room.id, member_id=decode(member_gid, "Member"))
        await Message.filter(account_id=pk, room_id__isnull=True).limit(1).update(room_id=room.id)
    await Bot.create(account_id=pk, name="Inside bot", origin=BotOrigin.CX_TALK)
    await Bot.create(account_id=pk, name="Dev console bot", origin=BotOrigin.DEV_CONSOLE)
    return pk


async def test_confirmation_must_repeat_the_handle(world):
    account = await world.account(handle="desk")
    for wrong in ["Desk", "desk ", "", "other"]:
        before = await snapshot()
        payload = await world.mutate(RESET, {"id": account["id"], "confirmHandle": wrong})
        assert errors_of(payload) == [("confirmHandle", "CONFIRMATION_MISMATCH")]
        assert payload["windowAccount"] is None and await snapshot() == before
    payload = await world.mutate(RESET, {"id": encode("WindowAccount", 999), "confirmHandle": "desk"})
    assert errors_of(payload) == [("id", "NOT_FOUND")]
    code = await world.api.error_code(RESET, {"input": {"id": account["id"], "confirmHandle": "desk"}},
                                      token=world.member_tokens[0])
    assert code == "FORBIDDEN"


async def test_immediate_effects(world):
    account = await world.account(name="Support", handle="desk", responders=world.member_ids[:2])
    pk = await conversation(account["id"], world.member_ids[0])
    token = account["inviteUrl"].rsplit("/", 1)[1]
    assert (await world.api.data(VIEWER, token=world.member_tokens[0]))["viewer"]["services"] == ["CX_TALK"]

    payload = await world.mutate(RESET, {"id": account["id"], "confirmHandle": "desk"})
    assert payload["errors"] == [] and payload["windowAccount"]["status"] == "RESETTING"
    assert await Responder.filter(account_id=pk).count() == 0
    assert (await world.api.data(VIEWER, token=world.member_tokens[0]))["viewer"] == {
        "services": [], "windowAccounts": []}
    assert (await Product.get(id=decode(world.product_id, "Product"))).in_use == 0
    assert (await world.api.client.get(f"/invite/{token}")).status_code == 404
    assert (await world.api.client.get(f"/invite/{token}/qr.png")).status_code == 404
    again = await world.mutate(RESET, {"id": account["id"], "confirmHandle": "desk"})
    assert errors_of(again) == [("id", "ACCOUNT_NOT_ACTIVE")]
    # name and handle are free at once: a new account gets a new invite URL
    fresh = await world.account(name="Support", handle="desk")
    assert fresh["inviteUrl"] != account["inviteUrl"]


async def test_cleanup_job_keeps_history_contacts_and_dev_console_bots(world):
    account = await world.account(handle="desk", responders=world.member_ids[:1])
    pk = await conversation(account["id"], world.member_ids[0], rooms=3)
    messages_before = await Message.filter(account_id=pk).count()
    await world.mutate(RESET, {"id": account["id"], "confirmHandle": "desk"})
    reset.BATCH = 2  # several batches
    try:
        assert await reset.run_reset(pk) == "reset"
    finally:
        reset.BATCH = 500
    row = await WindowAccount.get(id=pk)
    assert row.status is AccountStatus.RESET
    assert await TalkRoom.filter(account_id=pk).count() == 0
    assert await TalkRoomParticipant.all().count() == 0
    assert [b.origin for b in await Bot.filter(account_id=pk)] == [BotOrigin.DEV_CONSOLE]
    assert await Contact.filter(account_id=pk).count() == 1
    assert await Message.filter(account_id=pk).count() == messages_before
    assert await Message.filter(account_id=pk, room_id__isnull=False).count() == 0
    assert await reset.run_reset(pk) == "not claimed"  # idempotent
    listed = await world.api.data('{ windowAccounts(status: RESET) { edges { node { id status } } } }', token=world.admin)
    assert listed["windowAccounts"]["edges"] == [{"node": {"id": account["id"], "status": "RESET"}}]


async def test_a_crashed_job_is_taken_over_after_its_lease(world):
    account = await world.account(handle="desk", responders=world.member_ids[:1])
    pk = await conversation(account["id"], world.member_ids[0])
    await world.mutate(RESET, {"id": account["id"], "confirmHandle": "desk"})
    attempt = await reset._claim(pk)  # a worker claimed it, then died
    assert attempt == 1
    assert await reset.run_reset(pk) == "not claimed"  # lease still held
    assert pk not in await reset.stale_resets(datetime.now(timezone.utc))
    assert pk in await reset.stale_resets(datetime.now(timezone.utc) + timedelta(hours=1))
    await WindowAccount.filter(id=pk).update(reset_lease_until=datetime.now(timezone.utc) - timedelta(seconds=1))
    assert await reset.run_reset(pk) == "reset"
    assert (await WindowAccount.get(id=pk)).reset_attempt == 2


async def test_rooms_and_bots_created_after_the_reset_started_are_untouched(world):
    account = await world.account(handle="desk", responders=world.member_ids[:1])
    pk = await conversation(account["id"], world.member_ids[0], rooms=1)
    await world.mutate(RESET, {"id": account["id"], "confirmHandle": "desk"})
    # a late writer (should not happen through the API, which refuses non-ACTIVE accounts)
    later = datetime.now(timezone.utc) + timedelta(seconds=5)
    contact = await Contact.filter(account_id=pk).first()
    late_room = await TalkRoom.create(account_id=pk, contact_id=contact.id)
    await TalkRoom.filter(id=late_room.id).update(created_at=later)
    late_bot = await Bot.create(account_id=pk, name="late", origin=BotOrigin.CX_TALK)
    await Bot.filter(id=late_bot.id).update(created_at=later)
    assert await reset.run_reset(pk) == "reset"
    assert [r.id for r in await TalkRoom.filter(account_id=pk)] == [late_room.id]
    assert late_bot.id in [b.id for b in await Bot.filter(account_id=pk)]
