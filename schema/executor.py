"""A graphql-core executor that completes plain objects in one pass.

graphql-core spends ~4 µs on every field it executes (resolve info, path, completion checks): a
page of 100 window accounts has ~6,000 fields, most of them plain attributes of plain objects
(products, responders, settings, business hours, holidays). When every field selected on an
object is a strawberry "basic" field (an attribute, no resolver, no arguments) and its type is a
scalar, an enum, a plain object or a list of those, this executor completes the object with a
plan compiled once per request: read the attribute, serialize the leaf, recurse.

The plan only takes the happy path. On anything unusual (a null where the schema says non-null,
a value that does not serialize, an object of the wrong type, an awaitable) it gives up and the
standard executor completes the same object again, so errors and their paths are exactly
graphql-core's. Reading an attribute twice is harmless: basic fields have no side effects.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from operator import attrgetter
from typing import Any

from graphql import (GraphQLEnumType, GraphQLLeafType, GraphQLObjectType, GraphQLOutputType, GraphQLSchema, Undefined,
                     is_leaf_type, is_list_type, is_non_null_type, is_object_type)
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter

Complete = Callable[[Any], Any]
STRAWBERRY_DEFINITION = GraphQLCoreConverter.DEFINITION_BACKREF


class _GiveUp(Exception):
    """The plan cannot complete this value: let graphql-core do it."""


class PlainObjectsExecutor(StrawberryGraphQLCoreExecutionContext):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # (object type, id(field details)) -> (field details kept alive, plan or None)
        self._plans: dict[tuple[GraphQLObjectType, int], tuple[Any, Complete | None]] = {}

    def complete_object_value(self, return_type, field_details_list, info, path, result, position_context):
        plan = self._plan_for(return_type, field_details_list)
        if plan is not None:
            try:
                return plan(result)
            except Exception:  # noqa: BLE001 - _GiveUp or a failing serializer: graphql-core reports it properly
                pass
        return super().complete_object_value(return_type, field_details_list, info, path, result, position_context)

    # --- plans ------------------------------------------------------------------------------

    def _plan_for(self, object_type: GraphQLObjectType, field_details_list) -> Complete | None:
        key = (object_type, id(field_details_list))
        cached = self._plans.get(key)
        if cached is None:
            self._plans[key] = cached = (field_details_list, self._compile_object(object_type, field_details_list))
        return cached[1]

    def _compile_object(self, object_type: GraphQLObjectType, field_details_list) -> Complete | None:
        grouped_field_set, new_defer_usages, _forbidden = self.collect_subfields(object_type, field_details_list)
        if new_defer_usages:
            return None
        fields: list[tuple[str, Callable, Complete]] = []
        for response_name, details in grouped_field_set.items():
            node = details[0].node
            name = node.name.value
            if name == "__typename":
                fields.append((response_name, _constant(object_type.name), _same))
                continue
            read = self._attribute_reader(object_type, name)
            complete = self._compile_value(self.schema.get_field(object_type, name).type, details) if read else None
            if complete is None or node.arguments:
                return None
            fields.append((response_name, read, complete))
        return _object(fields, object_type.is_type_of)

    def _attribute_reader(self, object_type: GraphQLObjectType, name: str) -> Callable[[Any], Any] | None:
        read = _plain_attribute(self.schema, object_type, name)
        if read is not None and self.middleware_manager is not None:  # a middleware may wrap the resolver
            resolve = self.schema.get_field(object_type, name).resolve
            if self.middleware_manager.get_field_resolver(resolve) is not resolve:
                return None
        return read

    def _compile_value(self, type_: GraphQLOutputType, details) -> Complete | None:
        non_null = is_non_null_type(type_)
        if non_null:
            type_ = type_.of_type
        if is_leaf_type(type_):
            return _leaf(type_, non_null)
        if is_list_type(type_):
            item = self._compile_value(type_.of_type, details)
            return None if item is None else _list_of(item, non_null)
        if is_object_type(type_):
            plan = self._plan_for(type_, details)
            return None if plan is None else _required(plan) if non_null else plan
        return None  # interfaces and unions: graphql-core resolves their runtime type


@functools.cache
def _plain_attribute(schema: GraphQLSchema, object_type: GraphQLObjectType, name: str) -> Callable[[Any], Any] | None:
    """`getattr(source, python_name)` when the field is a plain attribute, as strawberry would read it."""
    field_def = schema.get_field(object_type, name)
    definition = field_def.extensions.get(STRAWBERRY_DEFINITION) if field_def else None
    if (definition is None or not definition.is_basic_field or definition.default_resolver is not getattr
            or field_def.args or not getattr(field_def.resolve, "_is_default", False)):
        return None
    return attrgetter(definition.python_name)


# Completers take the attribute's value and return its JSON-ready form, or raise _GiveUp.

def _same(value: Any) -> Any:
    return value


def _constant(value: Any) -> Callable[[Any], Any]:
    return lambda source: value


def _object(fields: list[tuple[str, Callable, Complete]], is_type_of) -> Complete:
    """A nullable object (`_required` makes it non-null)."""
    def complete(source: Any) -> dict[str, Any] | None:
        if source is None:
            return None
        if isinstance(source, Exception) or (is_type_of is not None and is_type_of(source, None) is not True):
            raise _GiveUp
        return {response_name: complete(read(source)) for response_name, read, complete in fields}
    return complete


def _required(complete_object: Complete) -> Complete:
    def complete(value: Any) -> Any:
        if value is None:
            raise _GiveUp
        return complete_object(value)
    return complete


def _list_of(item: Complete, non_null: bool) -> Complete:
    def complete(value: Any) -> list | None:
        if value is None:
            if non_null:
                raise _GiveUp
            return None
        if not isinstance(value, (list, tuple)):
            raise _GiveUp  # other iterables (generators, async ones) take graphql-core's path
        return [item(v) for v in value]
    return complete


@functools.cache
def _leaf(type_: GraphQLLeafType, non_null: bool) -> Complete:
    coerce = type_.coerce_output_value
    enum_class, enum_names = _enum_names(type_)

    def complete(value: Any) -> Any:
        if value is None:
            if non_null:
                raise _GiveUp
            return None
        if type(value) is enum_class:
            return enum_names[value]
        if isinstance(value, Exception):
            raise _GiveUp
        coerced = coerce(value)
        if coerced is None or coerced is Undefined:
            raise _GiveUp
        return coerced
    return complete


def _enum_names(type_: GraphQLLeafType) -> tuple[type | None, dict]:
    """Strawberry's enum types find a member's name by scanning their values; a dict is faster.
    Each member gets the first name whose value equals its value, as the scan does."""
    wrapped = getattr(type_, "wrapped_cls", None)
    if not isinstance(type_, GraphQLEnumType) or wrapped is None:
        return None, {}
    names: dict = {}
    for name, value in type_.values.items():
        for member in wrapped:
            if member.value == value.value:
                names.setdefault(member, name)
    return wrapped, names
