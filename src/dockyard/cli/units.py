"""Docker's human units (go-units): sizes, byte counts and durations, both ways.

Pure functions; the formats match what the docker CLI prints, digit for digit."""

from __future__ import annotations

from dockyard.oci.units import bytes_size, human_duration, human_size
from dockyard.oci.units import parse_cpus as nano_cpus

__all__ = [
    "bytes_size",
    "container_status",
    "ellipsis",
    "human_duration",
    "human_size",
    "mem_swap_bytes",
    "nano_cpus",
    "ram_in_bytes",
    "truncate_id",
]

# ram_in_bytes stays apart from dockyard.oci.units.ram_in_bytes: this one parses the number
# as a float, as go-units does, and takes the text as given (no strip), so the two differ on
# edge cases.
_RAM_PATTERN = r"^(\d+(?:\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$"
_MULT = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def ram_in_bytes(text: str) -> int:
    """Parse '64m', '1.5g', '512k', '100' (binary multiples) as go-units RAMInBytes."""
    import re

    match = re.match(_RAM_PATTERN, text)
    if not match:
        raise ValueError(f"invalid size: '{text}'")
    number = float(match.group(1))
    unit = (match.group(2) or "").lower()
    return int(number * _MULT.get(unit, 1))


def mem_swap_bytes(text: str) -> int:
    """--memory-swap also takes -1 (unlimited swap)."""
    if text == "-1":
        return -1
    return ram_in_bytes(text)


def container_status(
    running: bool, paused: bool, restarting: bool, exit_code: int, elapsed: float, started: bool
) -> str:
    """The daemon's human status line: 'Up 3 seconds', 'Exited (0) 2 minutes ago', 'Created'."""
    if running:
        if paused:
            return f"Up {human_duration(elapsed)} (Paused)"
        if restarting:
            return f"Restarting ({exit_code}) {human_duration(elapsed)} ago"
        return f"Up {human_duration(elapsed)}"
    if not started:
        return "Created"
    return f"Exited ({exit_code}) {human_duration(elapsed)} ago"


def ellipsis(text: str, width: int) -> str:
    """Truncate to `width` characters, the last being '…' (the docker formatter's Ellipsis)."""
    if len(text) <= width:
        return text
    if width <= 1:
        return text[:width]
    return text[: width - 1] + "…"


def truncate_id(ident: str) -> str:
    """The short 12-hex id, without any 'sha256:' prefix."""
    if ":" in ident:
        ident = ident.split(":", 1)[1]
    return ident[:12]
