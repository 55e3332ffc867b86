"""`update`: the resources document from --resources FILE|- or runc's shorthand flags (pure)."""

from __future__ import annotations

import json
import sys

from dockyard.runtime.args import Parsed
from dockyard.runtime.errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_UNITS = {"b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def parse_bytes(text: str) -> int:
    """ "512m", "1g", "1048576", "-1" (unlimited) -> bytes."""
    t = text.strip().lower().removesuffix("b") if text.strip().lower() not in ("-1",) else "-1"
    if t == "-1":
        return -1
    unit = 1
    if t and t[-1] in _UNITS:
        unit = _UNITS[t[-1]]
        t = t[:-1]
    try:
        return int(float(t) * unit)
    except ValueError:
        raise UsageError(f"invalid size {text!r}") from None


def resources_from_flags(p: Parsed) -> dict[str, Any]:
    res: dict[str, Any] = {}
    src = p.get_str("resources")
    if src:
        try:
            if src == "-":
                res = json.load(sys.stdin)
            else:
                with open(src) as f:
                    res = json.load(f)
        except (OSError, ValueError) as e:
            raise UsageError(f"cannot read resources {src}: {e}") from None
        if not isinstance(res, dict):
            raise UsageError("resources must be a JSON object")
    mem = res.setdefault("memory", {})
    for flag, key in (
        ("memory", "limit"),
        ("memory-swap", "swap"),
        ("memory-reservation", "reservation"),
    ):
        if p.opts.get(flag) is not None:
            mem[key] = parse_bytes(str(p.opts[flag]))
    cpu = res.setdefault("cpu", {})
    for flag, key in (
        ("cpu-quota", "quota"),
        ("cpu-period", "period"),
        ("cpu-shares", "shares"),
        ("cpu-rt-period", "realtimePeriod"),
        ("cpu-rt-runtime", "realtimeRuntime"),
    ):
        if p.opts.get(flag) is not None:
            cpu[key] = p.get_int(flag)
    for flag, key in (("cpuset-cpus", "cpus"), ("cpuset-mems", "mems")):
        if p.opts.get(flag) is not None:
            cpu[key] = p.get_str(flag)
    if p.opts.get("pids-limit") is not None:
        res.setdefault("pids", {})["limit"] = p.get_int("pids-limit")
    if p.opts.get("blkio-weight") is not None:
        res.setdefault("blockIO", {})["weight"] = p.get_int("blkio-weight")
    for k in ("memory", "cpu"):
        if not res.get(k):
            res.pop(k, None)
    if not res:
        raise UsageError("update: nothing to update (give --resources or a limit flag)")
    return res
