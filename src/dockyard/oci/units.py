"""Docker's human units: sizes (``12m``, ``1g``, ``512k``) and ``--cpus`` values.

Parsing follows docker/go-units: ``ram_in_bytes`` (binary multiples, used by --memory,
--memory-swap, --shm-size, --log-opt max-size) and ``from_human_size`` (decimal
multiples), and go-units' HumanSize/BytesSize for printing. Errors carry Docker's
messages. Standard library only, and ``fractions`` is imported on use: the CLI's hot path
imports this module.
"""

from __future__ import annotations

__all__ = [
    "UnitsError",
    "bytes_size",
    "format_bytes",
    "from_human_size",
    "human_size",
    "parse_cpus",
    "parse_memory_swap",
    "ram_in_bytes",
]

# A plain pattern, compiled (and cached by re) on first use: compiling costs the CLI's
# start-up a few hundred microseconds.
_SIZE = r"^(\d+(?:\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$"
_BINARY = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}
_DECIMAL = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12, "p": 10**15}


class UnitsError(ValueError):
    """A size or CPU value Docker would refuse."""


def _parse(text: str, table: dict[str, int]) -> int:
    import re  # (on use: `re` costs the CLI's start ~5 ms; the CLI imports this module)
    from fractions import Fraction

    m = re.match(_SIZE, text)
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
    from fractions import Fraction

    try:
        value = Fraction(text.strip())
    except (ValueError, ZeroDivisionError):
        raise UnitsError(f"failed to parse {text} as a rational number") from None
    nano = value * 1_000_000_000
    if nano.denominator != 1:
        raise UnitsError("value is too precise")
    return int(nano)


_DECIMAL_UNITS = ("B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")
_BINARY_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB")


def _scaled(size: float, base: float, units: tuple[str, ...]) -> tuple[float, str]:
    i = 0
    while size >= base and i < len(units) - 1:
        size /= base
        i += 1
    return size, units[i]


def human_size(size: float, precision: int = 4) -> str:
    """Decimal size as go-units HumanSizeWithPrecision: 1240000 → ``"1.24MB"``."""
    value, unit = _scaled(float(size), 1000.0, _DECIMAL_UNITS)
    # Go's %.*g and Python's agree except that Go keeps no trailing ".0".
    return f"{value:.{precision}g}{unit}"


def bytes_size(size: float) -> str:
    """Binary size as go-units BytesSize: 634880 → ``"620KiB"``."""
    value, unit = _scaled(float(size), 1024.0, _BINARY_UNITS)
    return f"{value:.4g}{unit}"


def format_bytes(size: float) -> str:
    """Docker's HumanSize (decimal, 4 significant digits): 1500000 → ``"1.5MB"``."""
    return human_size(size)


def human_duration(seconds: float) -> str:
    """go-units HumanDuration: 'Less than a second', '3 seconds', 'About a minute', ..."""
    secs = int(seconds)
    if secs < 1:
        return "Less than a second"
    if secs == 1:
        return "1 second"
    if secs < 60:
        return f"{secs} seconds"
    minutes = int(seconds / 60)
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = int(seconds / 3600 + 0.5)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{int(seconds / 3600) // 24 // 365} years"


def parse_cpuset(text: str) -> set[int]:
    """A cpuset list (``--cpuset-cpus``, ``cpuset.cpus``): ``"0-2,5"`` → {0, 1, 2, 5}."""
    out: set[int] = set()
    for part in text.strip().split(","):
        first, dash, last = part.partition("-")
        if not first.isdigit() or (dash and not last.isdigit()):
            raise UnitsError(f"invalid format: {text}")
        lo, hi = int(first), int(last) if dash else int(first)
        if hi < lo or hi - lo > 1 << 16:
            raise UnitsError(f"invalid format: {text}")
        out.update(range(lo, hi + 1))
    return out
