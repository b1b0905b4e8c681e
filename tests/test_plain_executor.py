"""schema/executor.py: the one-pass completion of plain objects gives exactly graphql-core's
results and errors, and takes the fast path only where it may."""
from __future__ import annotations

import asyncio
from datetime import date
from enum import Enum

import strawberry
from hypothesis import given, settings
from hypothesis import strategies as st

from schema.executor import PlainObjectsExecutor


@strawberry.enum
class Color(Enum):
    RED = "red"
    GREEN = "green"


@strawberry.interface
class Named:
    name: str


@strawberry.type
class Leaf(Named):
    day: date
    color: Color
    note: str | None


@strawberry.type
class Branch:
    title: str
    count: int
    leaves: list[Leaf]
    maybe_leaves: list[Leaf | None] | None
    first: Leaf | None
    tags: list[str]

    @strawberry.field
    def shout(self) -> str:  # a resolver: not a plain attribute
        return self.title.upper()

    @strawberry.field
    async def later(self) -> int:
        return self.count + 1


@strawberry.type
class Query:
    branches: list[Branch]
    named: list[Named]

    @strawberry.field
    def branch_at(self, index: int) -> Branch | None:
        return self.branches[index] if index < len(self.branches) else None


def _schemas():
    fast = strawberry.Schema(query=Query, types=[Leaf], execution_context_class=PlainObjectsExecutor)
    stock = strawberry.Schema(query=Query, types=[Leaf])
    return fast, stock


FAST, STOCK = _schemas()

QUERIES = [
    "{ branches { title count tags leaves { name day color note } first { name } maybeLeaves { color } } }",
    "{ branches { t: title, c: count, __typename leaves { __typename n: name, name } } }",
    "{ branches { ...B } } fragment B on Branch { title leaves { ... on Leaf { color } } }",
    "query($yes: Boolean!) { branches { title @include(if: $yes) count @skip(if: $yes) leaves { name } } }",
    "{ branches { title shout later leaves { name } } }",
    "{ branchAt(index: 0) { title leaves { day } } }",
    "{ named { name ... on Leaf { color } } }",
]


def run(schema, query: str, root: Query):
    result = asyncio.run(schema.execute(query, root_value=root, variable_values={"yes": True}))
    errors = sorted((e.message, tuple(e.path or ())) for e in result.errors or [])
    return result.data, errors


def leaf(i: int, **overrides) -> Leaf:
    values = {"name": f"leaf {i}", "day": date(2026, 1, 1 + i % 28), "color": Color.RED if i % 2 else Color.GREEN,
              "note": None if i % 3 else "note"}
    values.update(overrides)
    return Leaf(**values)


def branch(i: int, leaves: list, **overrides) -> Branch:
    values = {"title": f"branch {i}", "count": i, "leaves": leaves, "maybe_leaves": [*leaves, None],
              "first": leaves[0] if leaves else None, "tags": ["a", "b"]}
    values.update(overrides)
    return Branch(**values)


def sample_root() -> Query:
    return Query(branches=[branch(i, [leaf(j) for j in range(i)]) for i in range(4)], named=[leaf(1), leaf(2)])


def test_same_results_as_graphql_core_on_valid_data():
    root = sample_root()
    for query in QUERIES:
        fast, stock = run(FAST, query, root), run(STOCK, query, root)
        assert fast == stock, query
        assert fast[1] == [], query


BROKEN_VALUES = {
    "name": [None, 12, object()],  # non-null String: null, an Int that serializes, an object that does not
    "day": [None, "not a date", date(2026, 2, 1)],
    "color": [None, "red", "purple", Color.GREEN],
    "note": [None, 3.5, ["list"]],
}


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 5), st.sampled_from(sorted(BROKEN_VALUES)),
                          st.integers(0, 3)), max_size=4),
       st.sampled_from(QUERIES), st.booleans())
def test_same_results_and_errors_as_graphql_core_on_broken_data(breaks, query, break_branch):
    root = sample_root()
    for b, l, field, v in breaks:
        target = root.branches[b]
        if break_branch:
            setattr(target, "leaves" if v % 2 else "first", None)  # null lists / objects
        elif target.leaves:
            item = target.leaves[l % len(target.leaves)]
            setattr(item, field, BROKEN_VALUES[field][v % len(BROKEN_VALUES[field])])
    assert run(FAST, query, root) == run(STOCK, query, root)


def test_wrong_object_type_is_reported_as_graphql_core_does():
    root = sample_root()
    root.branches[1].leaves[0] = branch(9, [])  # a Branch where a Leaf belongs
    fast, stock = run(FAST, QUERIES[0], root), run(STOCK, QUERIES[0], root)
    assert fast == stock and fast[1]


class CountingExecutor(PlainObjectsExecutor):
    executed_fields = 0

    def execute_field(self, *args, **kwargs):
        CountingExecutor.executed_fields += 1
        return super().execute_field(*args, **kwargs)


def test_plain_objects_skip_the_per_field_executor_and_resolvers_do_not():
    schema = strawberry.Schema(query=Query, types=[Leaf], execution_context_class=CountingExecutor)
    root = Query(branches=[branch(i, [leaf(j) for j in range(20)]) for i in range(50)], named=[])

    CountingExecutor.executed_fields = 0
    data, errors = run(schema, QUERIES[0], root)
    assert not errors and len(data["branches"]) == 50
    assert CountingExecutor.executed_fields == 1  # only the root field; 50 x 20 leaves in one pass

    CountingExecutor.executed_fields = 0
    run(schema, "{ branches { title shout leaves { name } } }", root)
    # Branch has a resolver (shout): each branch runs its 3 fields through graphql-core, the
    # leaves below it are still plain
    assert CountingExecutor.executed_fields == 1 + 50 * 3
