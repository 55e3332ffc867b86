"""Docker's ``json-file`` log driver: writer with rotation, reader with tail/since/until/follow.

On-disk format (byte-compatible with Docker's): one JSON object per line,
``{"log":"hello\\n","stream":"stdout","time":"2024-05-01T10:00:00.123456789Z"}``.
``log`` holds one output line including its ``\\n``; a line longer than 16 KiB is split
into several entries (only the last carries the newline), and output that ends without
a newline is stored without one (Docker's "partial" messages).

Rotation is on by default (``max_size`` 10 MiB × ``max_file`` 3): when the current file
would grow past ``max_size`` it is renamed ``<path>.1`` (older ones shift to ``.2`` …) and
a fresh file is started; files beyond ``max_file`` are deleted. ``max_size <= 0`` disables
rotation.

Reading: :func:`read_logs` yields :class:`LogEntry` from the oldest rotated file to the
current one, filtered by ``since``/``until`` (seconds since the epoch, inclusive; a float
keeps about a quarter of a microsecond at today's epoch) and limited to the last ``tail``
entries (found by reading backwards, so ``--tail`` on a big log is cheap); with ``follow``
it keeps reading new entries, across rotation, until ``stop()`` returns true (e.g. the
container exited) and everything has been drained.
:func:`follow_logs` is the same for asyncio code. This module imports only the standard
library: the per-container monitor process uses the writer.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import AsyncIterator, Callable, Iterator

# The monitor process imports this module: keep typing, dataclasses and re out of its
# memory (mypy treats any name TYPE_CHECKING as true).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import BinaryIO

__all__ = [
    "DEFAULT_MAX_FILE",
    "DEFAULT_MAX_SIZE",
    "MAX_LINE",
    "LogEntry",
    "LogError",
    "LogWriter",
    "decode_line",
    "encode_entry",
    "follow_logs",
    "format_timestamp",
    "log_files",
    "parse_timestamp",
    "read_logs",
    "select_entries",
    "split_output",
]

DEFAULT_MAX_SIZE = 10 * 1024 * 1024
DEFAULT_MAX_FILE = 3
MAX_LINE = 16 * 1024  # Docker's split point for one log message
# A stored line longer than this is not ours; skip it instead of buffering without bound.
_MAX_RECORD = 8 * MAX_LINE + 1024
_POLL_INTERVAL = 0.1

_TS = (
    r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2}))$"
)


class LogError(ValueError):
    """A log option or a stored record is invalid."""


class LogEntry:
    """One stored message: the stream it came from, its bytes, and when it was read."""

    __slots__ = ("line", "stream", "time_ns")

    def __init__(self, stream: str, line: bytes, time_ns: int) -> None:
        self.stream = stream  # "stdout" or "stderr"
        self.line = line  # ends with b"\n" unless it was a partial message
        self.time_ns = time_ns

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LogEntry) and (self.stream, self.line, self.time_ns) == (
            other.stream,
            other.line,
            other.time_ns,
        )

    def __hash__(self) -> int:
        return hash((self.stream, self.line, self.time_ns))

    def __repr__(self) -> str:
        return f"LogEntry({self.stream!r}, {self.line!r}, {self.time_ns})"

    @property
    def timestamp(self) -> str:
        return format_timestamp(self.time_ns)


def format_timestamp(time_ns: int) -> str:
    """RFC 3339 with nanoseconds and trailing zeros trimmed, as Go's RFC3339Nano."""
    secs, nanos = divmod(time_ns, 1_000_000_000)
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs))
    if nanos:
        return f"{base}.{nanos:09d}".rstrip("0") + "Z"
    return base + "Z"


_DAY_NS: dict[str, int] = {}


def _fast_timestamp(text: str) -> int | None:
    """Our own writer's shape, ``YYYY-MM-DDTHH:MM:SS[.fraction]Z``, without a regex."""
    n = len(text)
    if n < 20 or text[-1] != "Z" or text[10] != "T" or text[13] != ":" or text[16] != ":":
        return None
    if n > 20 and (text[19] != "." or n > 30 or not text[20:-1].isdigit()):
        return None
    clock = text[11:13] + text[14:16] + text[17:19]
    if not clock.isdigit():
        return None
    hh, mm, ss = int(clock[:2]), int(clock[2:4]), int(clock[4:])
    if hh > 23 or mm > 59 or ss > 60:
        return None
    day = _DAY_NS.get(text[:10])
    if day is None:
        day = _parse_rfc3339(text[:10] + "T00:00:00Z")
        if len(_DAY_NS) > 64:
            _DAY_NS.clear()
        _DAY_NS[text[:10]] = day
    frac = text[20:-1].ljust(9, "0") if n > 20 else "0"
    return day + (hh * 3600 + mm * 60 + ss) * 1_000_000_000 + int(frac)


def parse_timestamp(text: str) -> int:
    """Nanoseconds since the epoch from an RFC 3339 time (any offset, up to 9 fraction digits)."""
    fast = _fast_timestamp(text)
    return fast if fast is not None else _parse_rfc3339(text)


def _parse_rfc3339(text: str) -> int:
    import calendar
    import re

    m = re.match(_TS, text)
    if m is None:
        raise LogError(f"invalid timestamp {text!r}")
    year, mon, day, hh, mm, ss = (int(m.group(i)) for i in range(1, 7))
    if not (1 <= mon <= 12 and 1 <= day <= 31 and hh < 24 and mm < 60 and ss < 61):
        raise LogError(f"invalid timestamp {text!r}")
    frac = (m.group(7) or "").ljust(9, "0")
    secs = calendar.timegm((year, mon, day, hh, mm, ss, 0, 0, 0))
    if m.group(9):
        offset = int(m.group(10)) * 3600 + int(m.group(11)) * 60
        secs -= offset if m.group(9) == "+" else -offset
    return secs * 1_000_000_000 + int(frac)


def encode_entry(stream: str, line: bytes, time_ns: int) -> bytes:
    """One json-file record, newline-terminated. Invalid UTF-8 becomes U+FFFD, as in Docker."""
    record = {
        "log": line.decode("utf-8", "replace"),
        "stream": stream,
        "time": format_timestamp(time_ns),
    }
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def decode_line(raw: bytes) -> LogEntry:
    """Parse one stored record (without or with its trailing newline)."""
    try:
        obj = json.loads(raw)
        return LogEntry(
            stream=str(obj["stream"]),
            line=str(obj["log"]).encode("utf-8", "surrogateescape"),
            time_ns=parse_timestamp(str(obj["time"])),
        )
    except (ValueError, KeyError, TypeError) as e:
        raise LogError(f"invalid log record: {e}") from None


def split_output(pending: bytes, data: bytes) -> tuple[list[bytes], bytes]:
    """Cut ``pending + data`` into complete messages and the unfinished rest.

    A message ends at a newline or after MAX_LINE bytes, whichever comes first.
    """
    buf = pending + data
    out: list[bytes] = []
    start = 0
    n = len(buf)
    while start < n:
        nl = buf.find(b"\n", start, start + MAX_LINE)
        if nl >= 0:
            out.append(buf[start : nl + 1])
            start = nl + 1
        elif n - start >= MAX_LINE:
            out.append(buf[start : start + MAX_LINE])
            start += MAX_LINE
        else:
            break
    return out, buf[start:]


class LogWriter:
    """Appends container output to a json-file log, rotating by size."""

    def __init__(
        self,
        path: str,
        max_size: int = DEFAULT_MAX_SIZE,
        max_file: int = DEFAULT_MAX_FILE,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        if max_file < 1:
            raise LogError(f"max-file cannot be less than 1: {max_file}")
        self.path = path
        self.max_size = max_size
        self.max_file = max_file
        self._clock = clock
        self._pending: dict[str, bytes] = {"stdout": b"", "stderr": b""}
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
        self._size = os.lseek(self._fd, 0, os.SEEK_END)  # (no stat_result to allocate)

    def write(self, stream: str, data: bytes) -> None:
        """Store output read from ``stream``; an unfinished last line waits for more data."""
        lines, self._pending[stream] = split_output(self._pending.get(stream, b""), data)
        if not lines:
            return
        now = self._clock()
        batch: list[bytes] = []
        size = 0
        for line in lines:
            rec = encode_entry(stream, line, now)
            # One write per batch, but never past max_size: rotation happens between records.
            if batch and self.max_size > 0 and self._size + size + len(rec) > self.max_size:
                self._append(b"".join(batch))
                batch, size = [], 0
            batch.append(rec)
            size += len(rec)
        self._append(b"".join(batch))

    def flush(self, stream: str | None = None) -> None:
        """Store any unfinished line as a partial message (at EOF or on close)."""
        now = self._clock()
        for name in [stream] if stream else list(self._pending):
            rest = self._pending.get(name, b"")
            if rest:
                self._pending[name] = b""
                self._append(encode_entry(name, rest, now))

    def close(self) -> None:
        if self._fd >= 0:
            self.flush()
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> LogWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _append(self, blob: bytes) -> None:
        if self.max_size > 0 and self._size > 0 and self._size + len(blob) > self.max_size:
            self._rotate()
        view = memoryview(blob)
        while view:
            n = os.write(self._fd, view)
            view = view[n:]
        self._size += len(blob)

    def _rotate(self) -> None:
        os.close(self._fd)
        self._fd = -1
        if self.max_file > 1:
            for i in range(self.max_file - 1, 0, -1):
                src = self.path if i == 1 else f"{self.path}.{i - 1}"
                with contextlib.suppress(FileNotFoundError):
                    os.replace(src, f"{self.path}.{i}")
            flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
        else:
            flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
        self._fd = os.open(self.path, flags, 0o640)
        self._size = 0


def log_files(path: str) -> list[str]:
    """Existing log files, oldest first: ``path.N`` … ``path.1``, ``path``."""
    rotated: list[tuple[int, str]] = []
    directory, base = os.path.split(path)
    try:
        names = os.listdir(directory or ".")
    except FileNotFoundError:
        return []
    for name in names:
        suffix = name[len(base) + 1 :]
        if name.startswith(base + ".") and suffix.isdigit():
            rotated.append((int(suffix), os.path.join(directory, name)))
    files = [p for _, p in sorted(rotated, reverse=True)]
    if os.path.exists(path):
        files.append(path)
    return files


def select_entries(
    entries: Iterator[LogEntry],
    *,
    tail: int | None = None,
    since: float | None = None,
    until: float | None = None,
) -> list[LogEntry]:
    """Filter by time window (inclusive, seconds) and keep the last ``tail`` entries."""
    import collections

    since_ns = None if since is None else round(since * 1e9)
    until_ns = None if until is None else round(until * 1e9)
    keep: collections.deque[LogEntry] | list[LogEntry]
    keep = collections.deque(maxlen=tail) if tail is not None and tail >= 0 else []
    if tail == 0:
        return []
    for e in entries:
        if since_ns is not None and e.time_ns < since_ns:
            continue
        if until_ns is not None and e.time_ns > until_ns:
            continue
        keep.append(e)
    return list(keep)


def _parse_records(buf: bytes) -> tuple[list[LogEntry], bytes]:
    out: list[LogEntry] = []
    start = 0
    while True:
        nl = buf.find(b"\n", start)
        if nl < 0:
            rest = buf[start:]
            # A record cannot be this long; drop it rather than hold memory without bound.
            return out, (b"" if len(rest) > _MAX_RECORD else rest)
        raw = buf[start:nl]
        start = nl + 1
        if raw.strip():
            try:
                out.append(decode_line(raw))
            except LogError:
                continue  # a torn or foreign line (e.g. after a crash) is skipped, as Docker does


def _read_file(path: str) -> Iterator[LogEntry]:
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed below, generator-scoped
    except FileNotFoundError:
        return
    with f:
        pending = b""
        while chunk := f.read(65536):
            entries, pending = _parse_records(pending + chunk)
            yield from entries


class _Follower:
    """Reads what is appended to the current log file, reopening it after a rotation."""

    def __init__(self, path: str, start_at_end: bool) -> None:
        self.path = path
        self._f: BinaryIO | None = None
        self.inode = -1
        self._pending = b""
        self._open(start_at_end)

    def _open(self, at_end: bool) -> None:
        try:
            f = open(self.path, "rb")  # noqa: SIM115 - kept open across polls
        except FileNotFoundError:
            self._f = None
            return
        self.inode = os.fstat(f.fileno()).st_ino
        if at_end:
            f.seek(0, os.SEEK_END)
        self._f = f
        self._pending = b""

    @property
    def file(self) -> BinaryIO | None:
        return self._f

    def poll(self) -> list[LogEntry]:
        """Entries appended since the last poll (possibly from a file rotated meanwhile)."""
        out: list[LogEntry] = []
        if self._f is None:
            self._open(False)
            if self._f is None:
                return out
        out.extend(self._drain())
        try:
            rotated = os.stat(self.path).st_ino != self.inode
        except FileNotFoundError:
            rotated = False
        if rotated:
            # Finish the file we hold (now renamed to .1), then switch to the new one.
            out.extend(self._drain())
            self.close()
            self._open(False)
            if self._f is not None:
                out.extend(self._drain())
        return out

    def _drain(self) -> list[LogEntry]:
        assert self._f is not None
        out: list[LogEntry] = []
        while chunk := self._f.read(65536):
            entries, self._pending = _parse_records(self._pending + chunk)
            out.extend(entries)
        return out

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None


def _lines_backwards(f: BinaryIO, end: int) -> Iterator[bytes]:
    """Complete lines of ``f[:end]``, last first (``end`` must follow a newline)."""
    pos = end
    rest = b""
    while pos > 0:
        size = min(65536, pos)
        pos -= size
        f.seek(pos)
        buf = f.read(size) + rest
        lines = buf.split(b"\n")
        rest = lines[0]  # may continue in the previous chunk
        for line in reversed(lines[1:]):
            if line:
                yield line
        if len(rest) > _MAX_RECORD:
            rest = b""  # no record is this long: drop it rather than grow without bound
    if rest:
        yield rest


def _newest_first(
    f: BinaryIO, end: int, until_ns: int | None, want: int, out: list[LogEntry]
) -> None:
    for raw in _lines_backwards(f, end):
        if len(out) >= want:
            return
        try:
            e = decode_line(raw)
        except LogError:
            continue
        if until_ns is None or e.time_ns <= until_ns:
            out.append(e)


def _tail_history(path: str, follower: _Follower, tail: int, until: float | None) -> list[LogEntry]:
    """The last ``tail`` entries, reading the files backwards (``--tail`` on a big log)."""
    until_ns = None if until is None else round(until * 1e9)
    found: list[LogEntry] = []
    held = follower.file
    if held is not None:
        # Up to the last complete line: the follower goes on from there.
        end = os.fstat(held.fileno()).st_size
        while end > 0:
            held.seek(end - 1)
            if held.read(1) == b"\n":
                break
            end -= 1
        _newest_first(held, end, until_ns, tail, found)
        held.seek(end)
    rotated = [p for p in log_files(path) if p != path]
    for p in reversed(rotated):
        if len(found) >= tail:
            break
        try:
            with open(p, "rb") as f:
                if os.fstat(f.fileno()).st_ino == follower.inode:
                    continue
                _newest_first(f, os.fstat(f.fileno()).st_size, until_ns, tail, found)
        except FileNotFoundError:
            continue
    found.reverse()
    return found


def _history_and_follower(
    path: str, tail: int | None, since: float | None, until: float | None, follow: bool
) -> tuple[list[LogEntry], _Follower | None]:
    # The follower holds the current file from its start, so an entry appended while the
    # history is read is seen exactly once; a rotated file that is the one it holds (a
    # rotation raced with us) is not read twice.
    follower = _Follower(path, start_at_end=False)
    if tail is not None and tail >= 0 and since is None:
        history = _tail_history(path, follower, tail, until) if tail > 0 else []
        if tail == 0 and follower.file is not None:
            follower.file.seek(0, os.SEEK_END)
    else:

        def all_entries() -> Iterator[LogEntry]:
            for p in log_files(path)[:-1] if os.path.exists(path) else log_files(path):
                try:
                    if os.stat(p).st_ino == follower.inode:
                        continue
                except FileNotFoundError:
                    continue
                yield from _read_file(p)
            yield from follower.poll()

        history = select_entries(all_entries(), tail=tail, since=since, until=until)
    if not follow:
        follower.close()
        return history, None
    return history, follower


def _in_window(e: LogEntry, since: float | None, until: float | None) -> bool:
    if since is not None and e.time_ns < round(since * 1e9):
        return False
    return not (until is not None and e.time_ns > round(until * 1e9))


def read_logs(
    path: str,
    *,
    tail: int | None = None,
    since: float | None = None,
    until: float | None = None,
    follow: bool = False,
    stop: Callable[[], bool] | None = None,
    poll_interval: float = _POLL_INTERVAL,
) -> Iterator[LogEntry]:
    """Stored entries (filtered), then with ``follow`` new ones until ``stop()`` is true.

    Following ends once ``stop()`` returns true (or the clock has passed ``until``) and the
    file has been drained, or once an entry later than ``until`` is seen.
    """
    history, follower = _history_and_follower(path, tail, since, until, follow)
    yield from history
    if follower is None:
        return
    try:
        while True:
            # Past `until` (wall clock) nothing newer can qualify: drain once and end.
            stopping = (stop is not None and stop()) or (until is not None and time.time() > until)
            for e in follower.poll():
                if until is not None and e.time_ns > round(until * 1e9):
                    return
                if _in_window(e, since, until):
                    yield e
            if stopping:
                return
            time.sleep(poll_interval)
    finally:
        follower.close()


async def follow_logs(
    path: str,
    *,
    tail: int | None = None,
    since: float | None = None,
    until: float | None = None,
    follow: bool = True,
    stop: Callable[[], bool] | None = None,
    poll_interval: float = _POLL_INTERVAL,
) -> AsyncIterator[LogEntry]:
    """:func:`read_logs` for asyncio: the same entries, sleeping with ``asyncio.sleep``.

    The stored history is read in one go (bounded by rotation: at most max_size × max_file).
    """
    import asyncio

    history, follower = _history_and_follower(path, tail, since, until, follow)
    for e in history:
        yield e
    if follower is None:
        return
    try:
        while True:
            # Past `until` (wall clock) nothing newer can qualify: drain once and end.
            stopping = (stop is not None and stop()) or (until is not None and time.time() > until)
            for e in follower.poll():
                if until is not None and e.time_ns > round(until * 1e9):
                    return
                if _in_window(e, since, until):
                    yield e
            if stopping:
                return
            await asyncio.sleep(poll_interval)
    finally:
        follower.close()
