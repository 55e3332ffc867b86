"""Docker's human units: sizes (``12m``, ``1g``, ``512k``) and ``--cpus`` values.

Parsing follows docker/go-units: ``ram_in_bytes`` (binary multiples, used by --memory,
--memory-swap, --shm-size, --log-opt max-size) and ``from_human_size`` (decimal
multiples). Errors carry Docker's messages. Standard library only (the CLI uses it).
"""

from __future__ import annotations

import re
from fractions import Fraction

__all__ = [
    "UnitsError",
    "format_bytes",
    "from_human_size",
    "parse_cpus",
    "parse_memory_swap",
    "ram_in_bytes",
]

_SIZE = re.compile(r"^(\d+(?:\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$")
_BINARY = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}
_DECIMAL = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12, "p": 10**15}


class UnitsError(ValueError):
    """A size or CPU value Docker would refuse."""


def _parse(text: str, table: dict[str, int]) -> int:
    m = _SIZE.match(text)
    if m is None:
        raise UnitsError(f"invalid size: '{text}'")
    try:
        number = Fraction(m.group(1))
    except ValueError:
        raise UnitsError(f"invalid size: '{text}'") from None
    return int(number * table[(m.group(2) or "").lower()])


def ram_in_bytes(text: str) -> int:
    """``"12m"`` → 12582912; ``"1g"`` → 1073741824; ``"12q"`` → UnitsError."""
    return _parse(text.strip(), _BINARY)


def from_human_size(text: str) -> int:
    """Decimal sizes: ``"1kB"`` → 1000, ``"1MB"`` → 1000000."""
    return _parse(text.strip(), _DECIMAL)


def parse_memory_swap(text: str) -> int:
    """--memory-swap: a size, or ``-1`` for unlimited."""
    return -1 if text.strip() == "-1" else ram_in_bytes(text)


def parse_cpus(text: str) -> int:
    """--cpus as NanoCPUs: ``"1.5"`` → 1500000000."""
    try:
        value = Fraction(text.strip())
    except (ValueError, ZeroDivisionError):
        raise UnitsError(f"failed to parse {text} as a rational number") from None
    nano = value * 1_000_000_000
    if nano.denominator != 1:
        raise UnitsError("value is too precise")
    return int(nano)


def format_bytes(size: float) -> str:
    """Docker's HumanSize (decimal, 3 significant digits): 1500000 → ``"1.5MB"``."""
    units = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"]
    i = 0
    while size >= 1000 and i < len(units) - 1:
        size /= 1000.0
        i += 1
    return f"{size:.4g}{units[i]}"
