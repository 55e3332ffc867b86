"""Token buckets keyed by client, for login attempts (pure; time is passed in)."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    stamp: float


class RateLimiter:
    def __init__(self, burst: int, per_minute: float, max_keys: int = 100_000) -> None:
        self.burst = float(burst)
        self.rate = per_minute / 60.0
        self.max_keys = max_keys
        self._buckets: dict[str, _Bucket] = {}

    def _refill(self, key: str, now: float) -> _Bucket:
        b = self._buckets.get(key)
        if b is None:
            if len(self._buckets) >= self.max_keys:
                self._buckets.clear()  # bounded memory under a flood of addresses
            b = self._buckets[key] = _Bucket(self.burst, now)
        b.tokens = min(self.burst, b.tokens + (now - b.stamp) * self.rate)
        b.stamp = now
        return b

    def retry_after(self, key: str, now: float) -> int:
        """0 when `key` may try now, else the seconds to wait."""
        b = self._refill(key, now)
        if b.tokens >= 1.0:
            return 0
        if self.rate <= 0:
            return 3600
        return max(1, math.ceil((1.0 - b.tokens) / self.rate))

    def spend(self, key: str, now: float) -> None:
        b = self._refill(key, now)
        b.tokens = max(0.0, b.tokens - 1.0)
