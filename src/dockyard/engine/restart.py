"""Restart policies and Docker's back-off (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dockyard.engine.errors import InvalidParameter

POLICIES = ("", "no", "always", "unless-stopped", "on-failure")
BACKOFF_START = 0.1  # seconds; doubles after each restart
BACKOFF_RESET_AFTER = 10.0  # a container that ran this long starts again from BACKOFF_START
BACKOFF_MAX = 60.0


@dataclass(frozen=True)
class Policy:
    name: str
    max_retries: int = 0

    @classmethod
    def from_host_config(cls, hc: dict[str, Any]) -> Policy:
        rp = hc.get("RestartPolicy") or {}
        name = rp.get("Name") or "no"
        retries = int(rp.get("MaximumRetryCount") or 0)
        if name not in POLICIES:
            raise InvalidParameter(f"invalid restart policy '{name}'")
        if retries < 0:
            raise InvalidParameter("invalid restart policy: maximum retry count cannot be negative")
        if name != "on-failure" and retries:
            raise InvalidParameter(
                "invalid restart policy: maximum retry count can only be used with 'on-failure'"
            )
        return cls("no" if name == "" else name, retries)


def should_restart(
    policy: Policy, exit_code: int, restart_count: int, manually_stopped: bool
) -> bool:
    """Whether a container that just exited is started again (Docker's rules)."""
    if manually_stopped or policy.name == "no":
        return False
    if policy.name in ("always", "unless-stopped"):
        return True
    # on-failure
    if exit_code == 0:
        return False
    return policy.max_retries == 0 or restart_count < policy.max_retries


def next_delay(previous: float, ran_for: float) -> float:
    """The wait before the next restart, given the last wait and how long the run lasted."""
    if ran_for >= BACKOFF_RESET_AFTER or previous <= 0:
        return BACKOFF_START
    return min(previous * 2, BACKOFF_MAX)


def restart_at_daemon_start(policy: Policy, manually_stopped: bool) -> bool:
    """Containers that were running when the daemon (or machine) went down."""
    return policy.name in ("always", "unless-stopped", "on-failure") and not manually_stopped
