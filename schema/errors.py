"""Where failures become GraphQL: business errors into payload `errors`, access into top-level errors."""
from __future__ import annotations

import functools
import logging
import uuid

from graphql import GraphQLError
from strawberry.extensions import MaskErrors

from services.auth import AccessDenied
from services.errors import BusinessError
from services.pagination import BadPageArgument

log = logging.getLogger("cxtalk.errors")


def user_errors(exc: BusinessError):
    from schema.base import UserError  # late: base imports this package

    return [UserError(field=e.field, code=e.code, message=e.message) for e in exc.errors]


def payload_on_error(payload_cls):
    """Decorate a mutation body: a BusinessError becomes `payload_cls(errors=[...])`."""

    def wrap(fn):
        @functools.wraps(fn)
        async def run(*args, **kwargs):
            try:
                return await fn(*args, **kwargs)
            except BusinessError as exc:
                return payload_cls(errors=user_errors(exc))
        return run

    return wrap


def _is_expected(error: GraphQLError) -> bool:
    original = error.original_error
    if original is None:  # validation, parsing and query-limit errors: safe to show
        return True
    return isinstance(original, (GraphQLError, AccessDenied, BadPageArgument))


class MaskUnexpectedErrors(MaskErrors):
    """Shows typed and limit errors; hides every unexpected exception behind a request id."""

    def __init__(self):
        super().__init__(should_mask_error=lambda e: not _is_expected(e), error_message="Internal server error")

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        request_id = uuid.uuid4().hex[:16]
        log.error("unexpected error %s in %s", request_id, error.path, exc_info=error.original_error)
        return GraphQLError(f"Internal server error (request {request_id})", nodes=error.nodes,
                            source=error.source, positions=error.positions, path=error.path,
                            extensions={"code": "INTERNAL_SERVER_ERROR", "requestId": request_id})
