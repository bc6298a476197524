"""The execution context of our schema: strawberry's, without a subscription's growing memo.

graphql-core 3.3 runs each subscription event on a shallow copy of the
subscription's executor (``build_per_event_executor``), so every copy shares the
executor's ``_relevant_sub_fields`` memo. That memo is keyed by the identity of
the field lists collected for one execution and keeps each list alive (so the
identity is not reused); each event collects new lists, so every event adds
entries (two per event of ``trackingEvents { id client { name } }``) that no
later event can hit, and none is freed until the subscription ends. A browser
tab subscribed for a day to a busy account held hundreds of thousands of them
(bench/README.md, "Soak"). Each event now gets a memo of its own, dropped with
the event: within one event the memo still saves the repeated work it exists for.

A ``ProjectedBatch`` (graphql_schema.projection) is a run of events whose results are
already made: it is handed on as the result's data, unexecuted, and the transport sends
one message per event.
"""

from __future__ import annotations

from typing import Any

from graphql import ExecutionResult
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from graphql_schema.projection import ProjectedBatch

__all__ = ["EventScopedExecutionContext"]


class EventScopedExecutionContext(StrawberryGraphQLCoreExecutionContext):
    """Per-event executors with their own subfield memo; projected batches go through
    unexecuted (see the module docstring)."""

    def build_per_event_executor(self, payload: Any) -> Any:
        if isinstance(payload, ProjectedBatch):
            return _Projected(payload)
        executor = super().build_per_event_executor(payload)
        # Private to graphql-core: tests/graphql_schema/test_execution.py fails if it
        # is renamed or the memo grows again, rather than this silently doing nothing.
        executor._relevant_sub_fields = {}
        return executor


class _Projected:
    """Stands for a per-event executor: graphql-core only calls ``execute_operation``."""

    __slots__ = ("batch",)

    def __init__(self, batch: ProjectedBatch) -> None:
        self.batch = batch

    def execute_operation(self, serially: bool | None = None) -> ExecutionResult:
        return ExecutionResult(data=self.batch)  # type: ignore[arg-type]
