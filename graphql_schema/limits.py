"""Limits on what one GraphQL document may ask: size, depth, aliases, tokens, cost."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from graphql.error import GraphQLError
from strawberry.extensions import (
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)

from graphql_schema.cost import query_cost_limiter
from plugin.errors import ErrorCode

__all__ = ["limit_extensions"]


def _query_size_limiter(max_bytes: int) -> type[SchemaExtension]:
    class QuerySizeLimiter(SchemaExtension):
        """Refuse a document larger than ``max_bytes`` before it is parsed."""

        def on_parse(self) -> Iterator[None]:
            query = self.execution_context.query or ""
            if len(query.encode("utf-8", "surrogatepass")) > max_bytes:
                raise GraphQLError(
                    f"the query document is larger than {max_bytes} bytes",
                    extensions={"code": ErrorCode.QUERY_TOO_LARGE.value},
                )
            yield

    return QuerySizeLimiter


def limit_extensions(
    *, max_depth: int, max_query_bytes: int, max_cost: int
) -> list[Callable[[], Any]]:
    """Extension factories (fresh instances per request, as strawberry asks)."""
    size_limiter = _query_size_limiter(max_query_bytes)
    return [
        size_limiter,
        query_cost_limiter(max_cost),
        lambda: QueryDepthLimiter(max_depth=max_depth),
        lambda: MaxAliasesLimiter(max_alias_count=30),
        lambda: MaxTokensLimiter(max_token_count=5000),
    ]
