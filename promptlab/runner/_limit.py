"""Retry backoff and adaptive (AIMD) concurrency."""

from __future__ import annotations

import asyncio
import math
import random

__all__ = ["AdaptiveLimit", "backoff_delay"]


def backoff_delay(
    attempt: int, *, base_s: float, max_s: float, retry_after: float | None = None, rng: random.Random | None = None
) -> float:
    """Seconds to wait before retry number `attempt + 1`: exponential backoff with full jitter, never less than
    the server's `Retry-After`.

    Full jitter (a uniform draw up to the exponential ceiling) spreads retries of many concurrent requests apart,
    so they do not hit a recovering server in lock-step.
    """
    ceiling = min(max_s, base_s * (2**attempt))
    delay = (rng or random).uniform(0, ceiling)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay


class AdaptiveLimit:
    """An AIMD concurrency limit: halve on a rate limit, grow by one after a full window of successes.

    Only a rate limit on a request sent after the last cut cuts again: the requests already in flight when the
    server started refusing report the same congestion and must not halve the limit once each.
    """

    def __init__(self, maximum: int, *, minimum: int = 1) -> None:
        self.maximum = maximum
        self.minimum = minimum
        self.limit = maximum
        self.in_flight = 0
        self.cuts = 0
        self._successes = 0
        self._last_cut = -math.inf
        self._cond = asyncio.Condition()

    async def acquire(self) -> float:
        """Wait for a slot; return the loop time the request starts at (pass it to `rate_limited`)."""
        async with self._cond:
            await self._cond.wait_for(lambda: self.in_flight < self.limit)
            self.in_flight += 1
        return asyncio.get_running_loop().time()

    async def release(self, *, ok: bool, rate_limited: bool = False, started_at: float = 0.0) -> None:
        """Free the slot and adjust the limit: `ok` counts toward recovery, `rate_limited` may cut."""
        async with self._cond:
            self.in_flight -= 1
            if rate_limited and started_at >= self._last_cut:
                self.limit = max(self.minimum, self.limit // 2)
                self._last_cut = asyncio.get_running_loop().time()
                self._successes = 0
                self.cuts += 1
            elif ok:
                self._successes += 1
                if self._successes >= self.limit and self.limit < self.maximum:
                    self.limit += 1
                    self._successes = 0
            self._cond.notify_all()
