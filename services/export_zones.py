"""Local time in exports: each zone's UTC offsets as stretches between its transitions.

Offsets change only at DST (and other) transitions, so the export shifts `sent_at` by a constant
offset per stretch (the SQL is in services/export_sql.py) instead of converting every row. The
stretches over the domain's history are computed once per export from `zoneinfo`: the offset is
checked once a day and each change then located to the second (services/schedule.py's search),
which is exact because no zone of the tz database has two transitions less than four days apart.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Iterable
from zoneinfo import ZoneInfo

from services.schedule import transition_between

# ((start, offset), ...): start in epoch seconds, offset in seconds east of UTC. The first
# stretch has no start: it covers everything before the second one.
Stretches = tuple[tuple[int | None, int], ...]

_DAY = 86400


@lru_cache(maxsize=512)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _offset(zone: ZoneInfo, ts: int) -> int:
    return int(datetime.fromtimestamp(ts, zone).utcoffset().total_seconds())


def _utc(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, timezone.utc)


def offset_stretches(zone_name: str, low: int, high: int) -> Stretches:
    """The zone's offsets between the epoch seconds low and high."""
    zone = _zone(zone_name)
    t = low - low % _DAY
    current = _offset(zone, t)
    stretches = [(None, current)]
    while t < high:
        following = t + _DAY
        offset = _offset(zone, following)
        if offset != current:  # one transition in (t, following]: find its second
            transition = transition_between(zone, _utc(t), _utc(following))
            stretches.append((int(transition.timestamp()), offset))
            current = offset
        t = following
    return tuple(stretches)


def zone_stretches(zone_names: Iterable[str], first_sent, last_sent) -> dict[str, Stretches]:
    """The stretches of each zone between the first and last message (None: no messages)."""
    if first_sent is None:
        return {}
    low, high = epoch_seconds(first_sent), epoch_seconds(last_sent)
    return {name: offset_stretches(name, low, high) for name in set(zone_names)}


def overlapping(stretches: Stretches, low: int, high: int) -> Stretches:
    """The stretches that overlap [low, high]."""
    return tuple(s for i, s in enumerate(stretches)
                 if (s[0] is None or s[0] <= high) and (i + 1 == len(stretches) or stretches[i + 1][0] > low))


@lru_cache(maxsize=256)
def offset_suffix(offset: int) -> str:
    """The offset as isoformat() writes it: +09:00, -05:00, +00:00 (seconds only when present)."""
    return datetime(2000, 1, 1, tzinfo=timezone(timedelta(seconds=offset))).isoformat()[19:]


def epoch_seconds(value: datetime | str) -> int:
    """A stored sent_at (a datetime, or SQLite's text) in whole epoch seconds."""
    if not isinstance(value, datetime):
        value = datetime.fromisoformat(value)
    return int(value.timestamp())
