"""Pure pieces of the monitor protocol: options, stream frames, detach keys, exit codes.

Shared by the monitor process (server) and the daemon side (client); standard library only.
"""

from __future__ import annotations

import os
import signal

from dockyard.oci import fastjson
from dockyard.oci.streams import HEADER_SIZE, read_header
from dockyard.oci.streams import STDERR as STDERR
from dockyard.oci.streams import STDIN as STDIN
from dockyard.oci.streams import STDOUT as STDOUT
from dockyard.oci.streams import encode_frame as encode_frame

TYPE_CHECKING = False  # the monitor process should not import typing (mypy: always true)
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "ATTACH_SOCKET",
    "CONTROL_SOCKET",
    "EXIT_FILE",
    "OPTIONS_FILE",
    "STDERR",
    "STDIN",
    "STDOUT",
    "DetachScanner",
    "FrameDecoder",
    "MonitorOptions",
    "ProtocolError",
    "decode_message",
    "encode_frame",
    "encode_message",
    "exit_code_from_status",
    "parse_detach_keys",
]

CONTROL_SOCKET = "control.sock"
ATTACH_SOCKET = "attach.sock"
CONSOLE_SOCKET = "console.sock"
EXIT_FILE = "exit.json"
OPTIONS_FILE = "monitor.json"
PID_FILE = "monitor.pid"
INIT_PID_FILE = "init.pid"
RUNTIME_LOG = "runtime.log"
MONITOR_LOG = "monitor.log"

MAX_MESSAGE = 1 << 20  # a control line longer than this is refused


class ProtocolError(ValueError):
    """A malformed control or attach message."""


class MonitorOptions:
    """Everything one monitor needs; stored as ``state_dir/monitor.json``.

    A plain class, not a dataclass: the monitor process should not pay for importing
    dataclasses and typing.
    """

    __slots__ = (
        "bundle",
        "container_id",
        "drain_timeout",
        "log_max_file",
        "log_max_size",
        "log_path",
        "runtime",
        "runtime_args",
        "runtime_forks",
        "runtime_root",
        "state_dir",
        "stdin",
        "stdin_once",
        "tty",
    )

    def __init__(
        self,
        container_id: str,
        bundle: str,
        runtime: str,
        runtime_root: str,
        state_dir: str,
        log_path: str,
        log_max_size: int = 10 * 1024 * 1024,
        log_max_file: int = 3,
        tty: bool = False,
        stdin: bool = False,
        stdin_once: bool = False,
        runtime_args: tuple[str, ...] | list[str] = (),
        drain_timeout: float = 2.0,
        runtime_forks: bool = False,
    ) -> None:
        self.container_id = container_id
        self.bundle = bundle
        self.runtime = runtime
        self.runtime_root = runtime_root
        self.state_dir = state_dir
        self.log_path = log_path
        self.log_max_size = log_max_size
        self.log_max_file = log_max_file
        self.tty = tty
        self.stdin = stdin
        self.stdin_once = stdin_once
        # Extra global flags for the runtime (e.g. ["--systemd-cgroup"]).
        self.runtime_args = tuple(runtime_args)
        # Seconds to wait for output to reach EOF after the process exited (processes
        # outside the container's pid namespace may hold the pipes open forever).
        self.drain_timeout = drain_timeout
        # Run the runtime's commands in forks of the monitor (see inprocess); the spawner
        # decides, once, rather than every monitor reading the runtime's file again.
        self.runtime_forks = runtime_forks

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__slots__}
        d["runtime_args"] = list(self.runtime_args)
        return d

    def to_json(self) -> str:
        return fastjson.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str | bytes) -> MonitorOptions:
        raw = fastjson.loads(text)
        if not isinstance(raw, dict):
            raise ProtocolError("monitor options must be a JSON object")
        d = {k: v for k, v in raw.items() if k in cls.__slots__}
        try:
            return cls(**d)
        except TypeError as e:
            raise ProtocolError(f"invalid monitor options: {e}") from None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, MonitorOptions) and self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"MonitorOptions({self.to_dict()!r})"

    def path(self, name: str) -> str:
        return os.path.join(self.state_dir, name)


_code_files: list[str] = []


def code_id(python: str) -> str:
    """Identifies the code a launched monitor would run: the interpreter and module files.

    The launcher and its clients compare it, so that a launcher left running across an
    upgrade (or an edit of an editable install) is replaced rather than used. Monitors
    also run the runtime preloaded in the launcher (see inprocess): its packages count too.
    The files are listed once per process; each call stats them (an edit shows at once).
    """
    if not _code_files:
        _code_files.extend(_list_code_files())
    parts = [os.path.realpath(python)]
    for path in _code_files:
        try:
            st = os.stat(path)
            parts.append(f"{path}:{st.st_mtime_ns}:{st.st_size}")
        except OSError:
            parts.append(f"{path}:-")
    return "|".join(parts)


def _list_code_files() -> list[str]:
    here = os.path.dirname(os.path.abspath(__file__))
    engine = os.path.dirname(here)
    package = os.path.dirname(engine)
    files = [os.path.join(engine, "logs.py"), os.path.join(engine, "trace.py")]
    for folder in (here, *(os.path.join(package, p) for p in ("runtime", "linux", "oci"))):
        try:
            files += sorted(e.path for e in os.scandir(folder) if e.name.endswith(".py"))
        except OSError:
            files.append(folder)  # stat fails below: part of the id all the same
    return files


def encode_message(obj: dict[str, Any]) -> bytes:
    return fastjson.dumps(obj, compact=True).encode() + b"\n"


def decode_message(line: bytes) -> dict[str, Any]:
    try:
        obj = fastjson.loads(line)
    except ValueError as e:
        raise ProtocolError(f"invalid JSON message: {e}") from None
    if not isinstance(obj, dict):
        raise ProtocolError("a message must be a JSON object")
    return obj


class FrameDecoder:
    """Incremental parser of Docker's multiplexed frames (feed bytes, get frames)."""

    def __init__(self) -> None:
        self._buf = b""

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        self._buf += data
        out: list[tuple[int, bytes]] = []
        while len(self._buf) >= HEADER_SIZE:
            stream, size = read_header(self._buf)
            if stream not in (STDIN, STDOUT, STDERR):
                raise ProtocolError(f"invalid stream type {stream} in frame header")
            end = HEADER_SIZE + size
            if len(self._buf) < end:
                break
            out.append((stream, self._buf[HEADER_SIZE:end]))
            self._buf = self._buf[end:]
        return out

    @property
    def pending(self) -> int:
        return len(self._buf)


def exit_code_from_status(status: int) -> int:
    """A wait status as Docker reports it: the exit code, or 128 + signal number."""
    if os.WIFEXITED(status):
        return os.WEXITSTATUS(status)
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return 255


def parse_detach_keys(spec: str) -> bytes:
    """Docker's ``--detach-keys`` syntax (``ctrl-p,ctrl-q``, ``a``, ``ctrl-@``) as bytes."""
    if spec == "":
        return b""
    out = bytearray()
    for part in spec.split(","):
        key = part.strip()
        if len(key) == 1:
            out.append(ord(key))
            continue
        low = key.lower()
        if low.startswith("ctrl-") and len(key) == 6:
            ch = key[5].lower()
            if "a" <= ch <= "z":
                out.append(ord(ch) - ord("a") + 1)
                continue
            specials = {"@": 0, "[": 27, "\\": 28, "]": 29, "^": 30, "_": 31}
            if ch in specials:
                out.append(specials[ch])
                continue
        raise ProtocolError(f"Unknown character: '{key}'")
    return bytes(out)


class DetachScanner:
    """Finds a detach sequence in a stdin stream, holding back bytes of a partial match.

    ``feed`` returns (bytes to forward, detached?). Bytes that started a match which then
    failed are forwarded, as Docker does.
    """

    def __init__(self, keys: bytes) -> None:
        self.keys = keys
        self._held = b""

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        if not self.keys:
            return data, False
        out = bytearray()
        for b in data:
            self._held += bytes([b])
            if self.keys.startswith(self._held):
                if len(self._held) == len(self.keys):
                    self._held = b""
                    return bytes(out), True
                continue
            # Mismatch: emit the held bytes except a suffix that may start a new match.
            held = self._held
            self._held = b""
            for i in range(1, len(held) + 1):
                if self.keys.startswith(held[i:]) and held[i:]:
                    out += held[:i]
                    self._held = held[i:]
                    break
            else:
                out += held
        return bytes(out), False


def signal_number(value: object) -> int:
    """A signal given as a number or a name (``9``, ``KILL``, ``SIGKILL``)."""
    if isinstance(value, int) and not isinstance(value, bool):
        if 0 < value < 65:
            return value
    elif isinstance(value, str):
        name = value.upper()
        if name.isdigit():
            return signal_number(int(name))
        if not name.startswith("SIG"):
            name = "SIG" + name
        try:
            return int(signal.Signals[name])
        except KeyError:
            pass
    raise ProtocolError(f"invalid signal: {value!r}")
