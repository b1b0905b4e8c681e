"""Count the SQL statements this process sends through Tortoise, on SQLite and PostgreSQL.

    with counted_statements() as sql:
        await api.data(QUERY, token=...)
    assert sql.count == 9, sql.report()

It wraps, while at least one counter is active, the methods through which the Tortoise clients
send SQL to the driver: `execute_query`, `execute_query_dict`, `execute_insert`, `execute_many`
and `execute_script` of the SQLite and asyncpg clients and of their transaction wrappers, plus
the transaction control of the wrappers (`begin`, `commit`, `rollback`, savepoints), recorded
as BEGIN / COMMIT / ROLLBACK / SAVEPOINT ... . A method only counts once per call even when it
calls another wrapped method (a ContextVar marks the outermost call). Statements are counted
when they are sent, whether they succeed or fail.

Unlike a handler on the `tortoise.db_client` logger, this does not depend on log levels, sees
transaction control (which Tortoise does not log) and records the parameters beside the SQL.
"""
from __future__ import annotations

import functools
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Iterator

from tortoise.backends.asyncpg.client import AsyncpgDBClient
from tortoise.backends.asyncpg.client import TransactionWrapper as AsyncpgTransactionWrapper
from tortoise.backends.base_postgres.client import BasePostgresClient
from tortoise.backends.sqlite.client import SqliteClient, SqliteTransactionWrapper

SENDING = ("execute_query", "execute_query_dict", "execute_insert", "execute_many", "execute_script")
CONTROL = {"begin": "BEGIN", "commit": "COMMIT", "rollback": "ROLLBACK", "savepoint": "SAVEPOINT",
           "savepoint_rollback": "ROLLBACK TO SAVEPOINT", "release_savepoint": "RELEASE SAVEPOINT"}
CLASSES = (SqliteClient, SqliteTransactionWrapper, BasePostgresClient, AsyncpgDBClient, AsyncpgTransactionWrapper)


@dataclass
class Statement:
    sql: str
    params: Any = None
    method: str = ""

    def __str__(self) -> str:
        text = " ".join(self.sql.split())
        return f"{text}  -- {self.params!r}" if self.params not in (None, [], ()) else text


@dataclass(eq=False)  # compared by identity: two logs with the same statements are different logs
class StatementLog:
    statements: list[Statement] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.statements)

    def __len__(self) -> int:
        return len(self.statements)

    def sql(self) -> list[str]:
        return [s.sql for s in self.statements]

    def report(self, width: int = 300) -> str:
        lines = [f"{self.count} statements:"]
        for i, s in enumerate(self.statements, 1):
            text = str(s)
            lines.append(f"{i:4}. {text[:width]}{' ...' if len(text) > width else ''}")
        return "\n".join(lines)


_active: list[StatementLog] = []
_originals: dict[tuple[type, str], Any] = {}
_inside = ContextVar("sqlcount_inside", default=False)


def _record(statement: Statement) -> None:
    for log in _active:
        log.statements.append(statement)


def _wrap(method, name: str, label: str | None):
    @functools.wraps(method)
    async def counted(self, *args, **kwargs):
        if _inside.get():  # a wrapped method called by another one: counted by the outer call
            return await method(self, *args, **kwargs)
        if label is not None:
            _record(Statement(label, None, name))
        else:
            query = args[0] if args else kwargs.get("query", "")
            params = args[1] if len(args) > 1 else kwargs.get("values")
            _record(Statement(query, params, name))
        token = _inside.set(True)
        try:
            return await method(self, *args, **kwargs)
        finally:
            _inside.reset(token)

    return counted


def _install() -> None:
    for cls in CLASSES:
        for name in (*SENDING, *CONTROL):
            method = cls.__dict__.get(name)  # only what the class itself defines: no double wrapping
            if method is None or (cls, name) in _originals:
                continue
            _originals[(cls, name)] = method
            setattr(cls, name, _wrap(method, name, CONTROL.get(name)))


def _uninstall() -> None:
    for (cls, name), method in _originals.items():
        setattr(cls, name, method)
    _originals.clear()


@contextmanager
def counted_statements() -> Iterator[StatementLog]:
    """Every statement sent while the block runs (by any task of this process)."""
    log = StatementLog()
    if not _active:
        _install()
    _active.append(log)
    try:
        yield log
    finally:
        _active.remove(log)
        if not _active:
            _uninstall()
