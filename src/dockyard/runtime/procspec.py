"""What the parent checks about a process before forking: capability masks, the seccomp
filter (compiled here, loaded in the child) and LSM requests. Kept apart from finalize.py
so the parent imports only this before it forks (finalize is imported by the child)."""

from __future__ import annotations

import os

from dockyard.linux import capabilities as caps
from dockyard.runtime.config import Process
from dockyard.runtime.errors import ConfigError
from dockyard.runtime.record import record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


@record
class CapSets:
    bounding: int
    effective: int
    permitted: int
    inheritable: int
    ambient: int


def parse_capsets(p: Process) -> CapSets | None:
    """The five masks of the process (None: no capabilities section, keep what we have)."""
    if p.capabilities is None:
        return None
    try:
        return CapSets(**{k: caps.parse_caps(v) for k, v in p.capabilities.items()})
    except caps.UnknownCapability as e:
        raise ConfigError(f"config.json: {e}") from None


SECCOMP_CACHE = ".seccomp-cache"


def compile_seccomp(section: dict[str, Any] | None, state_root: str) -> Any:
    """Compile the seccomp section in the parent, so a bad profile fails before any fork.

    Programs are cached under the runtime's own state root (root-only, like the state it
    holds): libseccomp takes ~15 ms for Docker's profile, every container uses the same one.
    """
    if not section:
        return None
    from dockyard.linux import seccomp  # lazy: only configs with seccomp pay for it

    try:
        return seccomp.compile_filter(section, os.path.join(state_root, SECCOMP_CACHE))
    except seccomp.SeccompError as e:
        raise ConfigError(f"seccomp: {e}") from None


def _apparmor_enabled() -> bool:
    try:
        with open("/sys/module/apparmor/parameters/enabled") as f:
            return f.read().strip() == "Y"
    except OSError:
        return False


def selinux_enabled() -> bool:
    return os.path.exists("/sys/fs/selinux/enforce")


def check_lsm(p: Process) -> None:
    """Refuse, before forking, an LSM request this host cannot honour."""
    if p.apparmor_profile and not _apparmor_enabled():
        raise ConfigError(
            f"apparmorProfile {p.apparmor_profile!r} is set but AppArmor is not enabled here"
        )
