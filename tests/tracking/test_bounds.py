"""Every cache keyed by client data has a bound: 10x its size in distinct clients stays within it.

A soak (bench/bench_soak.py) feeds ever new client addresses; anything that keeps
one entry per client without a bound grows for as long as the server runs.
"""

from __future__ import annotations

import functools
from typing import Any

import pytest

from plugin.tracking.edge import flood, hits
from plugin.tracking.edge.flood import FloodGuard
from plugin.tracking.edge.location import redirect_location
from plugin.tracking.pipeline.clients import parse_client
from plugin.tracking.pipeline.user_agents import machine_user_agent_rule

UA = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Thunderbird/128.3.1"


def _address(n: int) -> str:
    return f"198.{18 + (n >> 16)}.{(n >> 8) & 255}.{n & 255}"  # 198.18.0.0/15: 131,072


@pytest.mark.parametrize(
    ("cached", "key"),
    [
        (hits._normalized, lambda n: (_address(n),)),
        (hits._client_hash, lambda n: ("secret", _address(n))),
        (hits.client_prefix, lambda n: (_address(n),)),
        (parse_client, lambda n: (f"{UA} build/{n}",)),
        (machine_user_agent_rule, lambda n: (f"{UA} build/{n}",)),
        (redirect_location, lambda n: (f"https://shop.example.com/p/{n}",)),
    ],
    ids=lambda value: getattr(value, "__name__", ""),
)
def test_a_client_keyed_cache_stays_within_its_size(cached: Any, key: Any) -> None:
    size = cached.cache_info().maxsize
    assert size is not None and size <= hits.CLIENT_CACHE, "unbounded, or above the budget"
    cached.cache_clear()
    try:
        for n in range(10 * size):
            cached(*key(n))
            assert cached.cache_info().currsize <= size
    finally:
        cached.cache_clear()


def test_client_key_cache_is_keyed_by_the_secret_only() -> None:
    # functools.cache (no bound) is fine here: one entry per secret key in use.
    assert isinstance(hits._client_key, functools._lru_cache_wrapper)
    assert hits._client_key.__wrapped__.__code__.co_varnames[:1] == ("secret",)


def test_the_flood_guard_forgets_past_windows_of_new_clients() -> None:
    now = [0.0]
    guard = FloodGuard(20, 10.0, clock=lambda: now[0])
    rate, seconds = 100, 300  # 30,000 distinct clients, one hit each, 100 a second
    most = 0
    for n in range(rate * seconds):
        now[0] = n / rate
        assert guard.admit((b"copy", -1), _address(n), UA)
        most = max(most, guard.remembered())
    # Each sweep (once a window) keeps the current window: at most two windows' clients.
    assert most <= 2 * rate * 10 + 1


def test_the_flood_guard_caps_new_clients_within_one_window(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(flood, "_MAX_CLIENTS", 100)
    guard = FloodGuard(3, 10.0, clock=lambda: 5.0)  # one instant: nothing expires
    for n in range(1000):
        assert guard.admit((b"copy", -1), _address(n), UA)
        assert guard.remembered() <= 100
    # The newest clients are still remembered (and held to the limit).
    assert [guard.admit((b"copy", -1), _address(999), UA) for _ in range(3)] == [
        True,
        True,
        False,
    ]
