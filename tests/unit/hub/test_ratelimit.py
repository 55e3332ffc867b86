from __future__ import annotations

from dockyard.hub.ratelimit import RateLimiter


def test_burst_then_wait_then_refill() -> None:
    rl = RateLimiter(burst=3, per_minute=6)  # one token every 10 s
    t = 1000.0
    for _ in range(3):
        assert rl.retry_after("ip", t) == 0
        rl.spend("ip", t)
    wait = rl.retry_after("ip", t)
    assert 1 <= wait <= 10
    assert rl.retry_after("other", t) == 0  # keys are independent
    assert rl.retry_after("ip", t + 10.0) == 0


def test_memory_is_bounded() -> None:
    rl = RateLimiter(burst=1, per_minute=1, max_keys=10)
    for i in range(100):
        rl.spend(f"k{i}", 0.0)
    assert len(rl._buckets) <= 10
