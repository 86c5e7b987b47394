"""Backoff with full jitter, and the AIMD concurrency limit."""

from __future__ import annotations

import asyncio
import random

from promptlab.runner._limit import AdaptiveLimit, backoff_delay


def test_backoff_ceiling_doubles_then_caps_and_jitter_spreads_below_it() -> None:
    rng = random.Random(1)
    for attempt, ceiling in ((0, 0.5), (1, 1.0), (2, 2.0), (6, 10.0)):
        delays = [backoff_delay(attempt, base_s=0.5, max_s=10, rng=rng) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > 0.8 * ceiling and min(delays) < 0.2 * ceiling


def test_backoff_never_waits_less_than_retry_after() -> None:
    rng = random.Random(2)
    assert all(backoff_delay(0, base_s=0.5, max_s=10, retry_after=3.0, rng=rng) >= 3.0 for _ in range(100))
    assert all(backoff_delay(5, base_s=0.5, max_s=10, retry_after=0.1, rng=rng) <= 10 for _ in range(100))


def test_a_rate_limit_halves_the_limit_once_per_congestion_event() -> None:
    async def scenario() -> list[int]:
        limit = AdaptiveLimit(8)
        starts = [await limit.acquire() for _ in range(8)]
        await limit.release(ok=False, rate_limited=True, started_at=starts[0])
        seen = [limit.limit]
        for started in starts[1:4]:  # the rest of the same burst reports the same congestion
            await limit.release(ok=False, rate_limited=True, started_at=started)
        seen.append(limit.limit)
        for _ in range(4):
            await limit.release(ok=True)
        later = await limit.acquire()
        await limit.release(ok=False, rate_limited=True, started_at=later)
        seen.append(limit.limit)
        return seen

    assert asyncio.run(scenario()) == [4, 4, 2]


def test_the_limit_grows_back_by_one_after_a_full_window_of_successes() -> None:
    async def scenario() -> list[int]:
        limit = AdaptiveLimit(4)
        started = await limit.acquire()
        await limit.release(ok=False, rate_limited=True, started_at=started)
        assert limit.limit == 2
        seen = []
        for _ in range(2 + 3 + 4 + 4):
            await limit.acquire()
            await limit.release(ok=True)
            seen.append(limit.limit)
        return seen

    assert asyncio.run(scenario()) == [2, 3, 3, 3, 4, 4, 4, 4, 4, 4, 4, 4, 4]


def test_acquire_waits_while_the_limit_is_reached() -> None:
    async def scenario() -> int:
        limit = AdaptiveLimit(3)
        peak = 0

        async def job() -> None:
            nonlocal peak
            await limit.acquire()
            peak = max(peak, limit.in_flight)
            await asyncio.sleep(0.001)
            await limit.release(ok=True)

        await asyncio.gather(*(job() for _ in range(10)))
        return peak

    assert asyncio.run(scenario()) == 3
