"""The hook registry: declared names only, ordered handlers, sync and async, no I/O."""

from __future__ import annotations

import pytest

from plugin.errors import UnknownHookError
from plugin.hooks import HookRegistry, RecordedEvent


def test_unknown_hook_names_are_rejected() -> None:
    hooks = HookRegistry()
    with pytest.raises(UnknownHookError, match="after_email_sent"):
        hooks.register("after_email_send", lambda *a: None)
    with pytest.raises(UnknownHookError):
        hooks.get_hooks("befor_email_sent")


def test_register_works_as_a_decorator_and_keeps_order() -> None:
    hooks = HookRegistry()
    seen: list[str] = []

    @hooks.register("after_tracking_event")
    def first(event: RecordedEvent) -> None:
        seen.append("first")

    @hooks.register("after_tracking_event", order=-1)
    async def early(event: RecordedEvent) -> None:
        seen.append("early")

    @hooks.register("after_tracking_event")
    def second(event: RecordedEvent) -> None:
        seen.append("second")

    assert hooks.get_hooks("after_tracking_event") == [early, first, second]
    assert first.__name__ == "first"  # the decorator returns the handler itself


async def test_call_all_awaits_async_handlers() -> None:
    hooks = HookRegistry()
    seen: list[int] = []

    async def handler(email_id: int, message_id: str | None) -> None:
        seen.append(email_id)

    hooks.register("after_email_sent", handler)
    hooks.register("after_email_sent", lambda email_id, message_id: seen.append(-email_id))
    await hooks.call_all("after_email_sent", 7, "<m@x>")
    assert seen == [7, -7]


async def test_first_answer_wins_and_none_falls_through() -> None:
    hooks = HookRegistry()
    hooks.register("resolve_recipient_country", lambda email: None)
    hooks.register("resolve_recipient_country", lambda email: "FR")
    hooks.register("resolve_recipient_country", lambda email: "DE")
    assert await hooks.first_answer("resolve_recipient_country", "a@b.example") == "FR"


async def test_a_false_from_any_before_handler_vetoes() -> None:
    hooks = HookRegistry()
    asked: list[str] = []

    async def allows(recipients: list[str]) -> bool:
        asked.append("allows")
        return True

    hooks.register("before_hits_recorded", allows)
    hooks.register("before_hits_recorded", lambda recipients: None)
    assert not await hooks.vetoed("before_hits_recorded", ["a@b.example"])
    hooks.register("before_hits_recorded", lambda recipients: "b@b.example" not in recipients)
    assert await hooks.vetoed("before_hits_recorded", ["b@b.example"])
    assert asked == ["allows", "allows"]  # every handler is asked until one vetoes


def test_unregister_removes_a_bound_method_made_again() -> None:
    class Gate:
        def before_hits_recorded(self, recipients: list[str]) -> bool:
            return False

    hooks, gate = HookRegistry(), Gate()
    hooks.register("before_hits_recorded", gate.before_hits_recorded)
    hooks.unregister("before_hits_recorded", gate.before_hits_recorded)
    assert hooks.get_hooks("before_hits_recorded") == []


def test_non_callables_are_refused() -> None:
    with pytest.raises(TypeError):
        HookRegistry().register("after_email_sent", "not a function")  # type: ignore[arg-type]


async def test_builtin_bound_methods_can_be_handlers() -> None:
    hooks = HookRegistry()
    seen: list[RecordedEvent] = []
    event = RecordedEvent("e", 1, 2, "OPEN", "HUMAN", True, None, None)
    with hooks.registered("after_tracking_event", seen.append):
        await hooks.call_all("after_tracking_event", event)
    await hooks.call_all("after_tracking_event", event)
    assert seen == [event]
