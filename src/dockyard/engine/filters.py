"""Docker's `filters` query parameter: parsing and matching (pure)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable

from dockyard.engine.errors import InvalidParameter

Filters = dict[str, list[str]]


def parse(raw: str | None, allowed: Iterable[str]) -> Filters:
    """Parse `{"k": ["v"]}` (or the legacy `{"k": {"v": true}}`); reject unknown keys."""
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        raise InvalidParameter(f"invalid filter: {raw!r} is not JSON") from None
    if not isinstance(data, dict):
        raise InvalidParameter("invalid filter: expected a JSON object")
    ok = set(allowed)
    out: Filters = {}
    for key, val in data.items():
        if key not in ok:
            raise InvalidParameter(f"Invalid filter '{key}'")
        if isinstance(val, dict):
            vals = [k for k, v in val.items() if v]
        elif isinstance(val, list):
            vals = [str(v) for v in val]
        elif isinstance(val, str):
            vals = [val]
        else:
            raise InvalidParameter(f"invalid filter '{key}': bad value")
        out[key] = vals
    return out


def match_labels(labels: dict[str, str], wanted: list[str]) -> bool:
    """Every `key` or `key=value` (or `key!=value`) in ``wanted`` holds for ``labels``."""
    for item in wanted:
        if "!=" in item:
            k, v = item.split("!=", 1)
            if labels.get(k) == v:
                return False
        elif "=" in item:
            k, v = item.split("=", 1)
            if labels.get(k) != v:
                return False
        elif item not in labels:
            return False
    return True


def match_any(values: list[str], pred: Callable[[str], bool]) -> bool:
    """True when no value is given or any given value satisfies ``pred``."""
    return not values or any(pred(v) for v in values)


def name_matches(name: str, pattern: str) -> bool:
    """Docker treats a name filter as a regular expression searched in the name."""
    try:
        return re.search(pattern, name) is not None
    except re.error:
        return pattern in name


def truthy(value: str) -> bool:
    return value.lower() in ("1", "true", "yes")


def boolean(f: Filters, key: str) -> bool | None:
    """A yes/no filter as dockerd reads one (GetBoolOrDefault): None when absent; exactly
    "true"/"1" or "false"/"0", else (or both) Docker's invalid-filter error."""
    if key not in f:
        return None
    values = set(f[key])
    yes, no = bool(values & {"true", "1"}), bool(values & {"false", "0"})
    if yes == no:
        raise InvalidParameter(f"Invalid filter '{key}=[{' '.join(f[key])}]'")
    return yes
