"""Docker's streamed JSON progress messages for pull and push, as pure functions.

Each message is one JSON object per line, as ``docker pull``/``docker push`` print them
(github.com/moby/moby/pkg/jsonmessage): ``status``, optional ``id`` (a short layer id),
``progressDetail`` and a pre-rendered ``progress`` bar.
"""

from __future__ import annotations

import json
from typing import Any

from dockyard.oci.digest import Digest
from dockyard.oci.units import human_size

BAR_WIDTH = 50

Message = dict[str, Any]


def short_id(digest: Digest | str) -> str:
    """The 12 hex digits Docker shows for a layer."""
    text = str(digest)
    return text.split(":", 1)[-1][:12]


def progress_bar(current: int, total: int) -> str:
    """Docker's ``[=====>      ]  1.2MB/3.4MB`` (no bar when the total is unknown)."""
    if total <= 0:
        return f"{human_size(current):>8}"
    filled = min(BAR_WIDTH, int(BAR_WIDTH * current / total))
    bar = "=" * filled
    if filled < BAR_WIDTH:
        bar += ">" + " " * (BAR_WIDTH - filled - 1)
    return f"[{bar}] {human_size(current):>8}/{human_size(total)}"


def status(text: str, id: str | None = None) -> Message:
    msg: Message = {"status": text}
    if id is not None:
        msg["id"] = id
    return msg


def layer_status(text: str, id: str) -> Message:
    return {"status": text, "progressDetail": {}, "id": id}


def layer_progress(text: str, id: str, current: int, total: int) -> Message:
    return {
        "status": text,
        "progressDetail": {"current": current, "total": total},
        "progress": progress_bar(current, total),
        "id": id,
    }


def error(message: str) -> Message:
    return {"errorDetail": {"message": message}, "error": message}


def aux(payload: dict[str, Any]) -> Message:
    return {"progressDetail": {}, "aux": payload}


def encode(msg: Message) -> bytes:
    return json.dumps(msg, separators=(",", ":")).encode() + b"\r\n"


def no_progress(_: Message) -> None:
    """The progress callback of a caller that shows none."""
