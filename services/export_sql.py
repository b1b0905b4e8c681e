"""The SQL that selects an export's rows and builds each one as its finished CSV or JSONL line.

The cells of the message (formula guard, quoting, JSON escaping) are SQL expressions, one set
per database (`SqliteSql`, `PostgresSql`), written to give byte for byte what
services/export_files.py writes. The cells of the account and the contact are formatted once
per account / contact in Python, with the writer's own functions (`Lookups`), and joined in as
the tables `ea` (id, part, tz) and `ec` (id, part). `sent_at` is shifted into the account's zone
by a constant offset per stretch between transitions (services/export_zones.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from models import HistoryExport
from services.export_files import csv_cell, json_string
from services.export_zones import Stretches, offset_suffix, zone_stretches

# What both paths read first, in the snapshot of their export (? placeholders: domain id).
ACCOUNTS = "SELECT id, handle, name, timezone FROM window_accounts WHERE domain_id = ?"
CONTACTS = ("SELECT c.id, c.name, c.channel FROM contacts c JOIN window_accounts a ON a.id = c.account_id"
            " WHERE a.domain_id = ?")
SENT_AT_RANGE = "SELECT MIN(sent_at), MAX(sent_at) FROM messages WHERE domain_id = ?"

_FORMULA = "=+@\t\r-"  # the formula guard's triggers ('-' last: literal inside GLOB's [...])


def where(export: HistoryExport, *, after: tuple | None = None, upto: tuple | None = None,
          text_times: bool = False) -> tuple[str, list]:
    """The WHERE clause of the export's rows (messages m), optionally only those after / up to a
    (sent_at, id) key. A key replaces the `since` / `until` bound on its side (its row is inside
    them), so that SQLite ranges its index scan on the key and not on the whole period.
    text_times: compare times as SQLite's driver would send them (SQLite stores text)."""
    def when(value: datetime):
        value = value.astimezone(timezone.utc)
        return value.isoformat(" ") if text_times else value

    clauses, params = ["m.domain_id = ?", "m.id <= ?"], [export.domain_id, export.watermark_id]
    if export.account_ids:
        clauses.append(f"m.account_id IN ({', '.join('?' * len(export.account_ids))})")
        params += list(export.account_ids)
    if after is not None:
        clauses.append("(m.sent_at, m.id) > (?, ?)")
        params += list(after)
    elif export.since:
        clauses.append("m.sent_at >= ?")
        params.append(when(export.since))
    if upto is not None:
        clauses.append("(m.sent_at, m.id) <= (?, ?)")
        params += list(upto)
    elif export.until:
        clauses.append("m.sent_at < ?")
        params.append(when(export.until))
    return " AND ".join(clauses), params


class SqliteSql:
    """SQLite expressions. m.sent_at is text in UTC ("YYYY-MM-DD HH:MM:SS[.ffffff]+00:00",
    models.UTCDatetimeField), so its first 19 characters are the UTC second."""

    def __init__(self, separator: str = " "):
        self.separator = separator  # between date and time in the stored text

    @staticmethod
    def csv_cell(x: str) -> str:
        return (f"CASE WHEN {x} GLOB '*[\",\r\n]*' THEN '\"' || CASE WHEN {x} GLOB '[{_FORMULA}]*' THEN '''' "
                f"ELSE '' END || replace({x}, '\"', '\"\"') || '\"' "
                f"WHEN {x} GLOB '[{_FORMULA}]*' THEN '''' || {x} ELSE {x} END")

    @staticmethod
    def json_string(x: str) -> str:
        return f"json_quote({x})"

    @staticmethod
    def local_time(offset: int) -> str:
        if offset == 0:
            return "replace(substr(m.sent_at, 1, 19), ' ', 'T')"
        return f"replace(datetime(substr(m.sent_at, 1, 19), '{offset:+d} seconds'), ' ', 'T')"

    def before(self, ts: int) -> str:
        return f"m.sent_at < '{datetime.fromtimestamp(ts, timezone.utc):%Y-%m-%d{self.separator}%H:%M:%S}'"


class PostgresSql:
    """PostgreSQL expressions; the session's time zone must be UTC (SET LOCAL TIME ZONE)."""

    @staticmethod
    def csv_cell(x: str) -> str:
        guarded = f"left({x}, 1) IN ('=', '+', '-', '@', chr(9), chr(13))"
        return (f"CASE WHEN strpos({x}, '\"') > 0 OR strpos({x}, ',') > 0 OR strpos({x}, chr(10)) > 0"
                f" OR strpos({x}, chr(13)) > 0 THEN '\"' || CASE WHEN {guarded} THEN '''' ELSE '' END"
                f" || replace({x}, '\"', '\"\"') || '\"' WHEN {guarded} THEN '''' || {x} ELSE {x} END")

    @staticmethod
    def json_string(x: str) -> str:
        return f"to_json({x}::text)::text"

    @staticmethod
    def local_time(offset: int) -> str:
        shifted = "m.sent_at" + (f" + interval '{offset} seconds'" if offset else "")
        return f"to_char({shifted}, 'YYYY-MM-DD\"T\"HH24:MI:SS')"

    @staticmethod
    def before(ts: int) -> str:
        return f"m.sent_at < '{datetime.fromtimestamp(ts, timezone.utc).isoformat()}'::timestamptz"


Dialect = SqliteSql | PostgresSql


@dataclass
class Lookups:
    """What an export joins to its messages: the account and contact cells, formatted once,
    and the offset stretches of every account's zone."""
    accounts: list[tuple[int, str, str]]  # (id, part, zone)
    contacts: list[tuple[int, str]]  # (id, part)
    zones: dict[str, Stretches]

    @classmethod
    def build(cls, fmt: str, accounts, contacts, sent_at_range) -> Lookups:
        """From the rows of ACCOUNTS, CONTACTS and SENT_AT_RANGE."""
        account_parts = [(pk, _account_part(fmt, handle, name), zone) for pk, handle, name, zone in accounts]
        return cls(account_parts, [(pk, _contact_part(fmt, name, channel)) for pk, name, channel in contacts],
                   zone_stretches((a[2] for a in account_parts), *sent_at_range))


def line(dialect: Dialect, fmt: str, zones: dict[str, Stretches]) -> str:
    """The expression of a row's whole line (without its terminator), given ea and ec."""
    return f"ea.part || ec.part || {_message_part(dialect, fmt, _sent_at(dialect, 'ea.tz', zones))}"


def _account_part(fmt: str, handle: str, name: str) -> str:
    if fmt == "CSV":
        return f"{csv_cell(handle)},{csv_cell(name)},"
    return f'{{"account_handle":{json_string(handle)},"account_name":{json_string(name)},'


def _contact_part(fmt: str, name: str, channel: str) -> str:
    if fmt == "CSV":
        return f"{csv_cell(name)},{csv_cell(channel)},"
    return f'"customer_name":{json_string(name)},"channel":{json_string(channel)},'


def _message_part(dialect: Dialect, fmt: str, sent_at: str) -> str:
    """The cells of the message itself: sent_at, sender_type, sender_name, content."""
    if fmt == "CSV":  # sender_type is an enum (CUSTOMER, RESPONDER, ...): nothing to guard or quote
        return (f"{sent_at} || ',' || m.sender_type || ',' || {dialect.csv_cell('m.sender_name')}"
                f" || ',' || {dialect.csv_cell('m.content')}")
    return (f"'\"sent_at\":\"' || {sent_at} || '\",\"sender_type\":' || {dialect.json_string('m.sender_type')}"
            f" || ',\"sender_name\":' || {dialect.json_string('m.sender_name')}"
            f" || ',\"content\":' || {dialect.json_string('m.content')} || '}}'")


def _sent_at(dialect: Dialect, zone_column: str, zones: dict[str, Stretches]) -> str:
    """The local sent_at in every account's zone: zones with the same stretches share a branch."""
    by_expression: dict[str, list[str]] = {}
    for name, stretches in sorted(zones.items()):
        by_expression.setdefault(_in_stretches(dialect, stretches), []).append(name)
    if len(by_expression) <= 1:
        return next(iter(by_expression), "NULL")
    branches = " ".join(f"WHEN {zone_column} IN ({', '.join(map(_sql_text, names))}) THEN {expression}"
                        for expression, names in by_expression.items())
    return f"CASE {branches} END"


def _in_stretches(dialect: Dialect, stretches: Stretches) -> str:
    """sent_at in local time with its offset, for one zone's stretches (a binary CASE tree)."""
    if len(stretches) == 1:
        offset = stretches[0][1]
        return f"{dialect.local_time(offset)} || {_sql_text(offset_suffix(offset))}"
    middle = len(stretches) // 2
    return (f"CASE WHEN {dialect.before(stretches[middle][0])} THEN {_in_stretches(dialect, stretches[:middle])}"
            f" ELSE {_in_stretches(dialect, stretches[middle:])} END")


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
