"""Window settings through the API: defaults, partial updates, holidays, availability."""
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from schema.ids import encode
from tests.support import errors_of

SETTINGS = """settings { timezone greetingMessage outOfHoursMessage holidayMessage
  businessHours { weekday intervals { start end } } holidays { id startDate endDate name } }"""
UPDATE = f"""mutation($input: UpdateWindowSettingsInput!) {{ updateWindowSettings(input: $input) {{
  windowAccount {{ {SETTINGS} }} errors {{ field code message }} }} }}"""
ADD_HOLIDAY = f"""mutation($input: AddHolidayInput!) {{ addHoliday(input: $input) {{
  windowAccount {{ {SETTINGS} }} errors {{ field code message }} }} }}"""
DELETE_HOLIDAYS = f"""mutation($input: DeleteHolidaysInput!) {{ deleteHolidays(input: $input) {{
  windowAccount {{ {SETTINGS} }} errors {{ field code message }} }} }}"""
IMPORT = f"""mutation($input: ImportNationalHolidaysInput!) {{ importNationalHolidays(input: $input) {{
  windowAccount {{ {SETTINGS} }} errors {{ field code message }} }} }}"""
AVAILABILITY = """query($id: ID!, $at: DateTime) { windowAccount(id: $id) { availability(at: $at) { state nextChangeAt } } }"""


async def settings_snapshot():
    from models import Holiday, WindowAccount
    return (await WindowAccount.all().order_by("id").values(
        "timezone", "business_hours", "greeting_message", "out_of_hours_message", "holiday_message"),
        await Holiday.all().order_by("id").values("account_id", "start_date", "end_date", "name"))


@pytest.fixture
async def account(world):
    return await world.account()


def tokyo_today() -> date:
    return datetime.now(ZoneInfo("Asia/Tokyo")).date()


async def test_defaults(world, account):
    data = await world.api.data(f"query($id: ID!) {{ windowAccount(id: $id) {{ {SETTINGS} }} }}",
                                {"id": account["id"]}, token=world.admin)
    settings = data["windowAccount"]["settings"]
    assert settings["timezone"] == "Asia/Tokyo"
    assert [d["weekday"] for d in settings["businessHours"]] == [
        "MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"]
    assert [d["intervals"] for d in settings["businessHours"]] == [[{"start": "09:00", "end": "18:00"}]] * 5 + [[], []]
    assert settings["greetingMessage"] == settings["outOfHoursMessage"] == settings["holidayMessage"] == ""
    assert settings["holidays"] == []


async def test_partial_update_changes_only_given_fields(world, account):
    payload = await world.mutate(UPDATE, {"accountId": account["id"], "greetingMessage": "ようこそ！",
                                          "businessHours": [{"weekday": "SATURDAY", "intervals": [
                                              {"start": "10:00", "end": "12:00"}, {"start": "21:00", "end": "24:00"}]}]})
    assert payload["errors"] == []
    settings = payload["windowAccount"]["settings"]
    assert settings["greetingMessage"] == "ようこそ！" and settings["outOfHoursMessage"] == ""
    hours = {d["weekday"]: d["intervals"] for d in settings["businessHours"]}
    assert hours["SATURDAY"] == [{"start": "10:00", "end": "12:00"}, {"start": "21:00", "end": "24:00"}]
    assert hours["MONDAY"] == [{"start": "09:00", "end": "18:00"}]
    payload = await world.mutate(UPDATE, {"accountId": account["id"], "timezone": "America/New_York"})
    settings = payload["windowAccount"]["settings"]
    assert settings["timezone"] == "America/New_York" and settings["greetingMessage"] == "ようこそ！"


@pytest.mark.parametrize("input, expected", [
    ({"timezone": "Mars/Base"}, [("timezone", "INVALID")]),
    ({"timezone": "+09:00"}, [("timezone", "INVALID")]),
    ({"greetingMessage": "x" * 501}, [("greetingMessage", "TOO_LONG")]),
    ({"outOfHoursMessage": "あ" * 501}, [("outOfHoursMessage", "TOO_LONG")]),
    ({"holidayMessage": "y" * 501}, [("holidayMessage", "TOO_LONG")]),
    ({"businessHours": [{"weekday": "MONDAY", "intervals": [{"start": "9:00", "end": "18:00"}]}]},
     [("businessHours", "INVALID")]),
    ({"businessHours": [{"weekday": "MONDAY", "intervals": [{"start": "24:00", "end": "24:00"}]}]},
     [("businessHours", "INVALID")]),
    ({"businessHours": [{"weekday": "MONDAY", "intervals": [{"start": "18:00", "end": "09:00"}]}]},
     [("businessHours", "INVALID_RANGE")]),
    ({"businessHours": [{"weekday": "MONDAY", "intervals": [{"start": "09:00", "end": "12:00"},
                                                            {"start": "11:00", "end": "13:00"}]}]},
     [("businessHours", "OVERLAPPING_INTERVALS")]),
    ({"businessHours": [{"weekday": "MONDAY", "intervals": [
        {"start": f"{h:02d}:00", "end": f"{h:02d}:30"} for h in range(5)]}]}, [("businessHours", "INVALID")]),
])
async def test_settings_refusals_write_nothing(world, account, input, expected):
    before = await settings_snapshot()
    payload = await world.mutate(UPDATE, {"accountId": account["id"], **input})
    assert payload["windowAccount"] is None
    assert errors_of(payload)[:1] == expected
    assert await settings_snapshot() == before


async def test_messages_of_500_characters_and_four_intervals_are_fine(world, account):
    payload = await world.mutate(UPDATE, {"accountId": account["id"], "holidayMessage": "休" * 500,
                                          "businessHours": [{"weekday": "MONDAY", "intervals": [
                                              {"start": f"{h:02d}:00", "end": f"{h:02d}:30"} for h in range(4)]}]})
    assert payload["errors"] == []


async def test_holidays_add_and_delete(world, account):
    start = tokyo_today() + timedelta(days=10)
    payload = await world.mutate(ADD_HOLIDAY, {"accountId": account["id"], "startDate": start.isoformat(),
                                               "endDate": (start + timedelta(days=2)).isoformat(), "name": "夏季休業"})
    assert payload["errors"] == []
    first = payload["windowAccount"]["settings"]["holidays"][0]
    assert first["name"] == "夏季休業" and first["startDate"] == start.isoformat()
    payload = await world.mutate(ADD_HOLIDAY, {"accountId": account["id"], "startDate": tokyo_today().isoformat(),
                                               "endDate": tokyo_today().isoformat()})
    assert payload["errors"] == []
    ids = [h["id"] for h in payload["windowAccount"]["settings"]["holidays"]]
    assert len(ids) == 2
    before = await settings_snapshot()
    payload = await world.mutate(DELETE_HOLIDAYS, {"accountId": account["id"], "holidayIds": ids + [encode("Holiday", 999)]})
    assert errors_of(payload) == [("holidayIds", "NOT_FOUND")]
    assert await settings_snapshot() == before
    payload = await world.mutate(DELETE_HOLIDAYS, {"accountId": account["id"], "holidayIds": ids})
    assert payload["errors"] == [] and payload["windowAccount"]["settings"]["holidays"] == []


@pytest.mark.parametrize("offset_start, offset_end, expected", [
    (-1, 0, [("startDate", "HOLIDAY_IN_PAST")]),
    (5, 4, [("endDate", "INVALID_RANGE")]),
    (1, 367, [("endDate", "INVALID_RANGE")]),
    (12, 15, [("startDate", "HOLIDAY_OVERLAP")]),
])
async def test_holiday_refusals_write_nothing(world, account, offset_start, offset_end, expected):
    today = tokyo_today()
    await world.mutate(ADD_HOLIDAY, {"accountId": account["id"], "startDate": (today + timedelta(days=10)).isoformat(),
                                     "endDate": (today + timedelta(days=12)).isoformat()})
    before = await settings_snapshot()
    payload = await world.mutate(ADD_HOLIDAY, {"accountId": account["id"],
                                               "startDate": (today + timedelta(days=offset_start)).isoformat(),
                                               "endDate": (today + timedelta(days=offset_end)).isoformat()})
    assert errors_of(payload) == expected
    assert await settings_snapshot() == before


async def test_a_366_day_holiday_is_allowed(world, account):
    start = tokyo_today()
    payload = await world.mutate(ADD_HOLIDAY, {"accountId": account["id"], "startDate": start.isoformat(),
                                               "endDate": (start + timedelta(days=365)).isoformat()})
    assert payload["errors"] == []


async def test_import_national_holidays_skips_past_days_and_existing_periods(world, account):
    import holidays as holiday_lib
    year = tokyo_today().year + 1
    expected = sorted(holiday_lib.Japan(years=year))
    new_year = date(year, 1, 1)
    await world.mutate(ADD_HOLIDAY, {"accountId": account["id"], "startDate": new_year.isoformat(),
                                     "endDate": (new_year + timedelta(days=2)).isoformat(), "name": "正月休み"})
    payload = await world.mutate(IMPORT, {"accountId": account["id"], "year": year})
    assert payload["errors"] == []
    got = payload["windowAccount"]["settings"]["holidays"]
    imported = [date.fromisoformat(h["startDate"]) for h in got if h["name"] != "正月休み"]
    assert imported == [d for d in expected if not (new_year <= d <= new_year + timedelta(days=2))]
    assert all(h["startDate"] == h["endDate"] for h in got if h["name"] != "正月休み")
    # importing again adds nothing
    again = await world.mutate(IMPORT, {"accountId": account["id"], "year": year})
    assert len(again["windowAccount"]["settings"]["holidays"]) == len(got)
    bad = await world.mutate(IMPORT, {"accountId": account["id"], "year": 1800})
    assert errors_of(bad) == [("year", "INVALID")]


async def test_availability_in_tokyo_and_new_york(world, account):
    async def at(when: str):
        data = await world.api.data(AVAILABILITY, {"id": account["id"], "at": when}, token=world.admin)
        return data["windowAccount"]["availability"]

    # 2026-11-30 is a Monday; Tokyo is UTC+9
    assert await at("2026-11-30T10:00:00+09:00") == {"state": "OPEN", "nextChangeAt": "2026-11-30T18:00:00+09:00"}
    assert await at("2026-11-30T19:00:00+09:00") == {"state": "CLOSED", "nextChangeAt": "2026-12-01T09:00:00+09:00"}
    await world.mutate(UPDATE, {"accountId": account["id"], "timezone": "America/New_York", "businessHours": [
        {"weekday": "SATURDAY", "intervals": [{"start": "21:00", "end": "24:00"}]},
        {"weekday": "SUNDAY", "intervals": [{"start": "00:00", "end": "02:00"}]}]})
    # DST ends in New York on 2026-11-01 (Sunday) at 02:00: the open stretch runs on through the repeated hour
    result = await at("2026-10-31T22:00:00-04:00")
    assert result["state"] == "OPEN"
    assert datetime.fromisoformat(result["nextChangeAt"]) == datetime.fromisoformat("2026-11-01T02:00:00-05:00")


async def test_availability_on_a_holiday(world, account):
    start = tokyo_today() + timedelta(days=3)
    await world.mutate(ADD_HOLIDAY, {"accountId": account["id"], "startDate": start.isoformat(),
                                     "endDate": start.isoformat()})
    noon = datetime.combine(start, datetime.min.time(), ZoneInfo("Asia/Tokyo")).replace(hour=12)
    data = await world.api.data(AVAILABILITY, {"id": account["id"], "at": noon.isoformat()}, token=world.admin)
    availability = data["windowAccount"]["availability"]
    assert availability["state"] == "HOLIDAY"
    assert datetime.fromisoformat(availability["nextChangeAt"]) == datetime.combine(
        start + timedelta(days=1), datetime.min.time(), ZoneInfo("Asia/Tokyo"))


async def test_settings_of_a_not_active_account_cannot_change(world, account):
    from models import AccountStatus, WindowAccount
    from schema.ids import decode
    await WindowAccount.filter(id=decode(account["id"], "WindowAccount")).update(status=AccountStatus.RESETTING)
    before = await settings_snapshot()
    for mutation, input in [(UPDATE, {"greetingMessage": "hi"}),
                            (ADD_HOLIDAY, {"startDate": tokyo_today().isoformat(), "endDate": tokyo_today().isoformat()}),
                            (IMPORT, {"year": tokyo_today().year})]:
        payload = await world.mutate(mutation, {"accountId": account["id"], **input})
        assert errors_of(payload) == [("accountId", "ACCOUNT_NOT_ACTIVE")]
    assert await settings_snapshot() == before
