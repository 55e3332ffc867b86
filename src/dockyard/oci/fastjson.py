"""JSON through the C accelerator `_json` directly.

`import json` pulls in `re` and compiles its regexes: several milliseconds on every
`dockyard-runc` or `dockyard` start. The C scanner and encoder are the same ones json
uses; only the thin Python wrappers are skipped. Results equal json.loads and
json.dumps(ensure_ascii=False).
"""

from __future__ import annotations

import _json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_WS = " \t\n\r"
# (float(), not math: every extension module is a dlopen on each start)
_CONSTANTS = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}


class _ScanContext:
    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = _CONSTANTS.__getitem__
    memo: dict[str, str] = {}  # noqa: RUF012 (read by the C scanner only)


_scan = _json.make_scanner(_ScanContext())  # type: ignore[arg-type]


def _default(o: object) -> object:
    raise TypeError(f"Object of type {type(o).__name__} is not JSON serializable")


# No markers dict (json's check_circular): a cycle ends in RecursionError rather than
# ValueError, and encoding writes to no shared object (a forked monitor copies each page
# it writes to; see engine/monitor/launcher.py).
_encode = _json.make_encoder(
    None, _default, _json.encode_basestring, None, ": ", ", ", False, False, True
)
_encode_compact = _json.make_encoder(
    None, _default, _json.encode_basestring, None, ":", ",", False, False, True
)


def loads(s: str | bytes) -> Any:
    """Parse one JSON document; raises ValueError on malformed input, like json.loads."""
    text = s.decode("utf-8") if isinstance(s, bytes) else s
    if text.startswith("\ufeff"):
        raise ValueError("Unexpected UTF-8 BOM (decode using utf-8-sig)")
    start = len(text) - len(text.lstrip(_WS))
    try:
        obj, end = _scan(text, start)
    except StopIteration as e:
        raise ValueError(f"Expecting value: char {e.value}") from None
    except Exception:
        # Some malformed inputs make the bare C scanner fail without a proper error;
        # the json module (only imported on this error path) names the problem.
        import json

        json.loads(text)
        raise
    if text[end:].strip(_WS):
        raise ValueError(f"Extra data: char {end}")
    return obj


def dumps(obj: Any, compact: bool = False) -> str:
    """json.dumps(obj, ensure_ascii=False), or with separators (",", ":") when compact."""
    return "".join((_encode_compact if compact else _encode)(obj, 0))
