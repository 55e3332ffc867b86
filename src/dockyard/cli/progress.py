"""Docker's JSON progress stream, rendered as the docker CLI renders it (jsonmessage).

Pure: `ProgressRenderer.feed(message)` returns the text to write, so recorded streams can be
checked byte for byte. On a terminal each layer id keeps its own line, redrawn in place with
cursor movement and a bar ("[====>    ] 1.2MB/3.4MB 2s"); without one, progress updates are
dropped and every other message becomes one line, exactly as `docker pull | cat` shows it.
"""

from __future__ import annotations

from dockyard.cli.units import human_size

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# Docker's width when the terminal's is unknown; bars are drawn only above 110 columns.
DEFAULT_WIDTH = 200


class StreamError(Exception):
    """An `{"error": ...}` message in the stream: the operation failed after it started."""

    def __init__(self, message: str, code: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def go_duration(seconds: float) -> str:
    """Go's time.Duration.Round(time.Second).String(): 0s, 45s, 2m5s, 1h0m3s."""
    total = int(seconds + 0.5)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


def _int(value: object) -> int:
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    return 0


def progress_text(detail: dict[str, Any], width: int = DEFAULT_WIDTH, now: float = 0.0) -> str:
    """jsonmessage's JSONProgress.String(): bar, counts and time left ('' when nothing yet)."""
    current = _int(detail.get("current"))
    total = _int(detail.get("total"))
    units = str(detail.get("units") or "")
    start = _int(detail.get("start"))
    if current <= 0 and total <= 0:
        return ""
    if total <= 0:
        return f"{human_size(current):>8}" if not units else f"{current} {units}"
    percentage = min(int(current / total * 100) // 2, 50)
    bar = ""
    if width > 110:
        bar = "[" + "=" * percentage + ">" + " " * max(50 - percentage, 0) + "] "
    if detail.get("hidecounts"):
        numbers = ""
    elif not units:
        numbers = f"{human_size(current):>8}/{human_size(total)}"
        if current > total:
            numbers = f"{human_size(current):>8}"
    else:
        numbers = f"{current}/{total} {units}"
        if current > total:
            numbers = f"{current} {units}"
    left = ""
    if current > 0 and start > 0 and percentage < 50 and now > start:
        remaining = (total - current) * ((now - start) / current)
        left = " " + go_duration(remaining)
    return bar + numbers + left


def _has_progress(msg: dict[str, Any]) -> bool:
    # Go decodes `"progressDetail": {}` into a non-nil pointer: present, even when empty.
    return isinstance(msg.get("progressDetail"), dict)


class ProgressRenderer:
    """jsonmessage.DisplayJSONMessagesStream, one message at a time."""

    def __init__(self, tty: bool, width: int = DEFAULT_WIDTH) -> None:
        self.tty = tty
        self.width = width
        # Layer id -> its line, counted from the first progress line of the current block.
        self.lines: dict[str, int] = {}
        self.aux: list[dict[str, Any]] = []

    def feed(self, msg: dict[str, Any], now: float = 0.0) -> str:
        """The text for one message; raises StreamError for an error message."""
        error = msg.get("errorDetail") or msg.get("error")
        if error:
            detail = msg.get("errorDetail") if isinstance(msg.get("errorDetail"), dict) else {}
            text = str(msg.get("error") or (detail or {}).get("message") or error)
            code = _int((detail or {}).get("code"))
            if code == 401:
                text = "authentication is required"
            raise StreamError(text, code)
        if msg.get("aux") is not None:
            if isinstance(msg["aux"], dict):
                self.aux.append(msg["aux"])
            return ""
        ident = str(msg.get("id") or "")
        has_progress = _has_progress(msg)
        out: list[str] = []
        diff = 0
        if ident and (has_progress or msg.get("progress")):
            line = self.lines.get(ident)
            if line is None:
                line = len(self.lines)
                self.lines[ident] = line
                if self.tty:
                    out.append("\n")
            diff = len(self.lines) - line
            if self.tty:
                out.append(f"\x1b[{diff}A")
        else:
            # Anything else ends the block: later progress starts below it.
            self.lines = {}
        out.append(self._display(msg, ident, has_progress, now))
        if ident and self.tty and diff:
            out.append(f"\x1b[{diff}B")
        return "".join(out)

    def _display(self, msg: dict[str, Any], ident: str, has_progress: bool, now: float) -> str:
        detail = msg.get("progressDetail") if has_progress else None
        bar = progress_text(detail, self.width, now) if isinstance(detail, dict) else ""
        endl = ""
        out: list[str] = []
        stream = msg.get("stream")
        if self.tty and not stream and has_progress:
            out.append("\x1b[2K\r")
            endl = "\r"
        elif has_progress and bar:
            return ""  # no bars without a terminal
        if ident:
            out.append(f"{ident}: ")
        if msg.get("from"):
            out.append(f"(from {msg['from']}) ")
        status = str(msg.get("status") or "")
        if has_progress and self.tty:
            out.append(f"{status} {bar}{endl}")
        elif msg.get("progress"):
            out.append(f"{status} {msg['progress']}{endl}")
        elif stream:
            out.append(f"{stream}{endl}")
        else:
            out.append(f"{status}{endl}\n")
        return "".join(out)
