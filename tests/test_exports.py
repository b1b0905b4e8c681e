"""History exports: the request rules, the job (run here in-process), the file, the download."""
import csv
import hashlib
import io
import json
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from models import ExportStatus, HistoryExport, Message
from schema.ids import decode, encode
from services import export_job
from tests.history import seed_messages
from tests.support import World, errors_of

EXPORT_FIELDS = "id status format csvEncoding progress rowCount sha256 downloadUrl expiresAt createdAt finishedAt error requestedBy { id }"
REQUEST = f"""mutation($input: RequestHistoryExportInput!) {{ requestHistoryExport(input: $input) {{
  export {{ {EXPORT_FIELDS} }} errors {{ field code message }} }} }}"""
CANCEL = f"""mutation($input: CancelHistoryExportInput!) {{ cancelHistoryExport(input: $input) {{
  export {{ {EXPORT_FIELDS} }} errors {{ field code message }} }} }}"""
GET = f"query($id: ID!) {{ historyExport(id: $id) {{ {EXPORT_FIELDS} }} }}"


async def request(world, token=None, **input):
    return await world.mutate(REQUEST, input, token=token)


async def run(export_gid: str) -> str:
    return await export_job.run_export(decode(export_gid, "HistoryExport"))


async def fetch(world, export_gid, token=None):
    return (await world.api.data(GET, {"id": export_gid}, token=token or world.admin))["historyExport"]


async def download(world, url: str):
    return await world.api.client.get(url.replace("http://testserver", ""))


@pytest.fixture
async def history(world):
    account = await world.account(name="窓口 A", handle="desk")
    await seed_messages(account["id"], 3, content=lambda i: ["こんにちは", "=SUM(A1)", 'He said "hi",\nbye'][i])
    return account


async def test_csv_export_end_to_end_in_process(world, history):
    payload = await request(world)
    assert payload["errors"] == []
    export = payload["export"]
    assert export["status"] == "PENDING" and export["format"] == "CSV" and export["csvEncoding"] == "UTF8_BOM"
    assert export["requestedBy"]["id"] == world.admin_id and export["downloadUrl"] is None
    assert await run(export["id"]) == "ready"
    ready = await fetch(world, export["id"])
    assert ready["status"] == "READY" and ready["progress"] == 1.0 and ready["rowCount"] == 3
    response = await download(world, ready["downloadUrl"])
    assert response.status_code == 200
    assert response.headers["content-disposition"].startswith("attachment;")
    body = response.content
    assert hashlib.sha256(body).hexdigest() == ready["sha256"]
    expected = ("\ufeffaccount_handle,account_name,customer_name,channel,sent_at,sender_type,sender_name,content\r\n"
                "desk,窓口 A,顧客 太郎,LINE,2026-01-05T09:00:00+09:00,CUSTOMER,顧客 太郎,こんにちは\r\n"
                "desk,窓口 A,顧客 太郎,LINE,2026-01-05T09:01:00+09:00,RESPONDER,担当者,'=SUM(A1)\r\n"
                'desk,窓口 A,顧客 太郎,LINE,2026-01-05T09:02:00+09:00,CUSTOMER,顧客 太郎,"He said ""hi"",\nbye"\r\n')
    assert body.decode("utf-8") == expected
    expires = datetime.fromisoformat(ready["expiresAt"])
    assert timedelta(days=6, hours=23) < expires - datetime.now(timezone.utc) <= timedelta(days=7)


async def test_one_export_at_a_time_per_domain(world, history):
    first = (await request(world))["export"]
    second = await request(world, format="JSONL")
    assert errors_of(second) == [(None, "EXPORT_IN_PROGRESS")]
    assert second["export"]["id"] == first["id"] and second["export"]["format"] == "CSV"
    assert await HistoryExport.all().count() == 1
    other = await World.build(world.api, name="Other")
    assert (await request(other))["errors"] == []  # other domains are independent
    await run(first["id"])
    third = await request(world, format="JSONL")
    assert third["errors"] == [] and third["export"]["id"] != first["id"]


async def test_watermark_time_order_filters_and_reset_accounts(world, history):
    second = await world.account(name="窓口 B", handle="deskb", responders=world.member_ids[1:2])
    # B's messages interleave with A's in time
    await seed_messages(second["id"], 2, start=datetime(2026, 1, 5, 0, 0, 30, tzinfo=timezone.utc),
                        contact_name="Bob", channel="EMAIL")
    from models import AccountStatus, WindowAccount
    await WindowAccount.filter(id=decode(second["id"], "WindowAccount")).update(status=AccountStatus.RESET)
    export = (await request(world, format="JSONL"))["export"]
    await seed_messages(history["id"], 1, start=datetime(2025, 1, 1, tzinfo=timezone.utc), contact_name="Late")
    await run(export["id"])
    ready = await fetch(world, export["id"])
    lines = [json.loads(line) for line in (await download(world, ready["downloadUrl"])).content.decode().splitlines()]
    assert [(r["account_handle"], r["content"]) for r in lines] == [
        ("desk", "こんにちは"), ("deskb", "message 0"), ("desk", "=SUM(A1)"), ("deskb", "message 1"),
        ("desk", 'He said "hi",\nbye')]  # time order; the later "Late" message is past the watermark
    assert set(lines[0]) == {"account_handle", "account_name", "customer_name", "channel", "sent_at",
                             "sender_type", "sender_name", "content"}
    assert ready["rowCount"] == 5

    only_b = (await request(world, accountIds=[second["id"]], since="2026-01-05T00:01:00Z",
                            until="2026-01-05T00:02:00Z"))["export"]
    await run(only_b["id"])
    text = (await download(world, (await fetch(world, only_b["id"]))["downloadUrl"])).content.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert [r[7] for r in rows[1:]] == ["message 1"]


async def test_cp932_export_opens_in_japanese_excel(world, history):
    await seed_messages(history["id"], 1, start=datetime(2026, 2, 1, tzinfo=timezone.utc), contact_name="絵文字",
                        content=lambda i: "髙橋さん😀")
    export = (await request(world, csvEncoding="CP932"))["export"]
    await run(export["id"])
    body = (await download(world, (await fetch(world, export["id"]))["downloadUrl"])).content
    assert not body.startswith(b"\xef\xbb\xbf")
    text = body.decode("cp932")
    assert text.endswith(",絵文字,LINE,2026-02-01T09:00:00+09:00,CUSTOMER,絵文字,髙橋さん?\r\n")


async def test_request_refusals(world, history):
    for input, expected in [
        ({"since": "2026-02-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, [("until", "INVALID_RANGE")]),
        ({"accountIds": [encode("WindowAccount", 4444)]}, [("accountIds", "NOT_FOUND")]),
        ({"accountIds": []}, [("accountIds", "REQUIRED")]),
    ]:
        payload = await request(world, **input)
        assert payload["export"] is None and errors_of(payload) == expected
    assert await HistoryExport.all().count() == 0
    other = await World.build(world.api, name="Other")
    payload = await request(world, accountIds=[(await other.account())["id"]])
    assert errors_of(payload) == [("accountIds", "NOT_FOUND")]


async def test_cancel(world, history):
    export = (await request(world))["export"]
    canceled = await world.mutate(CANCEL, {"id": export["id"]})
    assert canceled["errors"] == [] and canceled["export"]["status"] == "CANCELED"
    assert await run(export["id"]) == "not claimed"
    assert (await fetch(world, export["id"]))["downloadUrl"] is None
    again = await world.mutate(CANCEL, {"id": export["id"]})
    assert errors_of(again) == [("id", "EXPORT_NOT_CANCELABLE")] and again["export"] is None
    missing = await world.mutate(CANCEL, {"id": encode("HistoryExport", 999)})
    assert errors_of(missing) == [("id", "NOT_FOUND")]
    from services import exports
    assert list(exports.exports_dir().glob(f"{decode(export['id'], 'HistoryExport')}-*")) == []


async def test_other_domains_see_nothing(world, history):
    export = (await request(world))["export"]
    await run(export["id"])
    ready = await fetch(world, export["id"])
    other = await World.build(world.api, name="Other")
    assert await fetch(other, export["id"], token=other.admin) is None
    assert errors_of(await other.mutate(CANCEL, {"id": export["id"]})) == [("id", "NOT_FOUND")]
    listing = await world.api.data("{ historyExports { totalCount edges { node { id } } } }", token=other.admin)
    assert listing["historyExports"]["totalCount"] == 0
    code = await world.api.error_code(GET, {"id": export["id"]}, token=world.member_tokens[0])
    assert code == "FORBIDDEN"
    # a tampered token, or one naming another domain, is a 404
    url = ready["downloadUrl"]
    token = url.rsplit("/", 1)[1]
    flipped = token[:-3] + ("A" if token[-3] != "A" else "B") + token[-2:]
    assert (await download(world, url.replace(token, flipped))).status_code == 404
    from services import download_tokens
    from cxtalk.config import get_settings
    forged = download_tokens.sign(get_settings().secret_key, decode(export["id"], "HistoryExport"),
                                  decode(other.domain_id, "Domain"), datetime.now(timezone.utc) + timedelta(days=1))
    assert (await download(world, f"/exports/{forged}")).status_code == 404


async def test_expiry_deletes_the_file(world, history):
    export = (await request(world))["export"]
    await run(export["id"])
    ready = await fetch(world, export["id"])
    pk = decode(export["id"], "HistoryExport")
    row = await HistoryExport.get(id=pk)
    from services import exports
    path = exports.exports_dir() / row.file_name
    assert path.exists()
    assert await exports.expire_exports(datetime.now(timezone.utc)) == 0
    assert await exports.expire_exports(row.expires_at + timedelta(seconds=1)) == 1
    assert not path.exists()
    assert (await fetch(world, export["id"]))["status"] == "EXPIRED"
    assert (await download(world, ready["downloadUrl"])).status_code == 404


async def test_list_newest_first(world, history):
    ids = []
    for _ in range(3):
        export = (await request(world))["export"]
        await run(export["id"])
        ids.append(export["id"])
    page = await world.api.data("{ historyExports(first: 2) { totalCount pageInfo { hasNextPage endCursor } edges { node { id status } } } }",
                                token=world.admin)
    assert page["historyExports"]["totalCount"] == 3
    assert [e["node"]["id"] for e in page["historyExports"]["edges"]] == ids[::-1][:2]


async def test_a_lost_lease_is_taken_over_and_the_loser_cannot_finish(world, history):
    export = (await request(world))["export"]
    pk = decode(export["id"], "HistoryExport")
    first_attempt = await export_job._claim(pk)
    assert first_attempt == 1
    assert await export_job._claim(pk) is None  # the lease is held
    await HistoryExport.filter(id=pk).update(lease_until=datetime.now(timezone.utc) - timedelta(seconds=1))
    assert await run(export["id"]) == "ready"  # attempt 2 takes over
    assert not await export_job._heartbeat(pk, first_attempt, 0.5)  # the first attempt has lost it
    row = await HistoryExport.get(id=pk)
    assert row.status is ExportStatus.READY and row.attempt == 2
    from services import exports
    assert [p.name for p in exports.exports_dir().glob(f"{pk}-*")] == [row.file_name]


# --- local times ------------------------------------------------------------------------------

LOCAL_TIME_ZONES = ["America/New_York", "Europe/London", "Australia/Adelaide", "Asia/Kolkata", "Asia/Kathmandu"]


def transitions(zone: ZoneInfo, years: range) -> list[datetime]:
    """The UTC instants where the zone's offset changes (all of these zones change on a half hour UTC)."""
    step = timedelta(minutes=30)
    t, end = datetime(years.start, 1, 1, tzinfo=timezone.utc), datetime(years.stop, 1, 1, tzinfo=timezone.utc)
    found = []
    while t < end:
        if (t - step).astimezone(zone).utcoffset() != t.astimezone(zone).utcoffset():
            found.append(t)
        t += step
    return found


def local_time_instants(years: range) -> list[datetime]:
    """Every zone's DST transitions, local midnights and new years, and UTC's new year."""
    instants = {datetime(years.stop, 1, 1, tzinfo=timezone.utc)}
    for name in LOCAL_TIME_ZONES:
        zone = ZoneInfo(name)
        found = transitions(zone, years)
        assert len(found) == (2 * len(years) if name in LOCAL_TIME_ZONES[:3] else 0)  # the scan sees them all
        instants.update(found)
        instants.update(datetime(year, month, 1, tzinfo=zone).astimezone(timezone.utc)  # local midnight, new year
                        for year in [*years, years.stop] for month in (1, 7))
    return sorted(instants)


@pytest.mark.parametrize("fmt", ["CSV", "JSONL"])
async def test_local_times_around_transitions_midnight_and_new_year(world, monkeypatch, fmt):
    """Every row's sent_at is what zoneinfo makes of the message's stored UTC time: a second (and
    a microsecond) before, at and a second after each DST transition (Adelaide is +09:30 / +10:30),
    local midnight and new year, also in fixed half- and quarter-hour zones."""
    from services import export_sqlite
    from tests.test_conversations import settings

    monkeypatch.setattr(export_sqlite, "BATCH", 3)  # SQLite: batch bounds fall on every side of a transition
    product = await world.grant("Zones", 1, len(LOCAL_TIME_ZONES))
    instants = local_time_instants(range(2024, 2026))
    zone_of = {}
    for name in LOCAL_TIME_ZONES:
        account = await world.account(name=name, handle=name.split("/")[1].lower().replace("_", ""),
                                      product_id=product)
        await settings(world, account["id"], timezone=name)
        zone_of[account["handle"]] = ZoneInfo(name)
        for at in instants:
            await seed_messages(account["id"], 3, start=at - timedelta(seconds=1), step_seconds=1)
            await seed_messages(account["id"], 1, start=at - timedelta(microseconds=1))
    export = (await request(world, format=fmt))["export"]
    assert await run(export["id"]) == "ready"
    body = (await download(world, (await fetch(world, export["id"]))["downloadUrl"])).content.decode("utf-8-sig")
    rows = (list(csv.DictReader(io.StringIO(body))) if fmt == "CSV"
            else [json.loads(line) for line in body.splitlines()])

    stored = await Message.all().order_by("sent_at", "id").values_list("sent_at", "account__handle")
    assert len(rows) == len(stored) == len(LOCAL_TIME_ZONES) * len(instants) * 4
    assert [r["account_handle"] for r in rows] == [handle for _, handle in stored]
    expected = [sent_at.astimezone(zone_of[handle]).replace(microsecond=0).isoformat() for sent_at, handle in stored]
    assert [r["sent_at"] for r in rows] == expected
    assert {r["sent_at"][19:] for r in rows} == {"-05:00", "-04:00", "+00:00", "+01:00", "+09:30", "+10:30",
                                                 "+05:30", "+05:45"}
