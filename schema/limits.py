"""Query limits, with parsing and validation cached per query text.

Strawberry's QueryDepthLimiter and MaxAliasesLimiter build a new rule class on every request, and
the validation cache is keyed by the rules: built once here, a query validated once (the same
text, hence the same cached document) is not validated again. Both caches are bounded LRUs.
"""
from __future__ import annotations

from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import AddValidationRules, MaxTokensLimiter, ParserCache, ValidationCache
from strawberry.extensions.max_aliases import create_validator as max_aliases_rule
from strawberry.extensions.query_depth_limiter import create_validator as max_depth_rule

MAX_DEPTH = 12
MAX_ALIASES = 30
MAX_TOKENS = 5000
CACHED_QUERIES = 256

_LIMIT_RULES = [max_depth_rule(MAX_DEPTH, None, None), max_aliases_rule(MAX_ALIASES)]


def limit_extensions(introspection: bool) -> list:
    """Extension factories: token limit at parse time, depth / alias / introspection rules."""
    rules = _LIMIT_RULES + ([] if introspection else [NoSchemaIntrospectionCustomRule])
    return [
        lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
        lambda: ParserCache(maxsize=CACHED_QUERIES),
        lambda: AddValidationRules(rules),
        lambda: ValidationCache(maxsize=CACHED_QUERIES),
    ]
