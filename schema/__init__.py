"""The GraphQL schema, built once per process."""
from __future__ import annotations

import os

import strawberry
from strawberry.schema.config import StrawberryConfig

from schema.audit import audit_every_mutation
from schema.errors import MaskUnexpectedErrors
from schema.executor import PlainObjectsExecutor
from schema.limits import limit_extensions
from schema.mutations import Mutation
from schema.queries import Query
from schema.subscriptions import Subscription
from schema.types import Domain, Member, Product, WindowAccount

DEV_MODE = os.environ.get("CXTALK_DEV", "0") == "1"
# Introspection and "did you mean" hints help developers and attackers alike: on in dev only,
# unless GRAPHQL_INTROSPECTION says otherwise.
INTROSPECTION = os.environ.get("GRAPHQL_INTROSPECTION", "1" if DEV_MODE else "0") == "1"

audit_every_mutation(Mutation)

schema = strawberry.Schema(
    query=Query,
    mutation=Mutation,
    subscription=Subscription,
    types=[Domain, Member, Product, WindowAccount],
    config=StrawberryConfig(disable_field_suggestions=not INTROSPECTION),
    execution_context_class=PlainObjectsExecutor,
    extensions=[
        *limit_extensions(INTROSPECTION),
        MaskUnexpectedErrors,
    ],
)
