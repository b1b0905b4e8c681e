"""The date and time fields read SQLite's text with the C parsers; they must read exactly what
Tortoise's own fields read (and fall back to them for anything else)."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st
from tortoise import fields

import models

OFFSETS = st.sampled_from([timezone.utc, timezone(timedelta(hours=9)), timezone(timedelta(hours=-5, minutes=-30)),
                           None])


@given(st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2200, 1, 1)), OFFSETS,
       st.sampled_from([str, datetime.isoformat]))
def test_datetime_text_reads_as_tortoise_reads_it(moment, offset, render):
    text = render(moment.replace(tzinfo=offset))
    ours, theirs = models.DatetimeField(), fields.DatetimeField()
    assert ours.to_python_value(text) == theirs.to_python_value(text)
    assert ours.to_python_value(text).utcoffset() == theirs.to_python_value(text).utcoffset()


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 1, 1)))
def test_date_text_reads_as_tortoise_reads_it(day):
    assert models.DateField().to_python_value(day.isoformat()) == fields.DateField().to_python_value(day.isoformat())


def test_other_forms_fall_back_to_tortoise():
    for text in ["2026-11-30T10:00:00+0900", "20261130T100000Z", "2026-11-30 10:00"]:
        assert models.DatetimeField().to_python_value(text) == fields.DatetimeField().to_python_value(text)
    assert models.DatetimeField().to_python_value(None) is None


def test_migrations_see_tortoise_fields():
    assert models.WindowAccount._meta.fields_map["created_at"].deconstruct()[0] == "tortoise.fields.data.DatetimeField"
    assert models.Holiday._meta.fields_map["start_date"].deconstruct()[0] == "tortoise.fields.data.DateField"
    assert models.Message._meta.fields_map["sent_at"].deconstruct()[0] == "models.UTCDatetimeField"
