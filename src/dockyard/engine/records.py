"""Container records: what the daemon remembers about each container, and how it is saved.

A record is one JSON file (``config.v2.json``) per container directory, replaced
atomically (write, fsync, rename), so that a daemon killed at any moment leaves
either the old or the new record, never half of one.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

ZERO_TIME = "0001-01-01T00:00:00Z"
RECORD_FILE = "config.v2.json"


def now_rfc3339() -> str:
    """The current time as Docker prints it: RFC 3339 with nanoseconds, UTC."""
    ns = time.time_ns()
    secs, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{frac:09d}Z"


def parse_rfc3339(value: str) -> float:
    """Seconds since the epoch of an RFC 3339 time (nanoseconds kept as a float)."""
    if not value or value.startswith("0001-"):
        return 0.0
    main, _, rest = value.partition(".")
    frac = 0.0
    if rest:
        digits = "".join(ch for ch in rest if ch.isdigit())
        frac = float("0." + digits) if digits else 0.0
    main = main.rstrip("Z")
    tm = time.strptime(main[:19], "%Y-%m-%dT%H:%M:%S")
    import calendar

    return calendar.timegm(tm) + frac


@dataclass
class State:
    status: str = "created"  # created, running, paused, restarting, removing, exited, dead
    pid: int = 0
    exit_code: int = 0
    error: str = ""
    started_at: str = ZERO_TIME
    finished_at: str = ZERO_TIME
    oom_killed: bool = False

    @property
    def running(self) -> bool:
        return self.status in ("running", "paused", "restarting")


@dataclass
class Container:
    id: str
    name: str  # with the leading slash, as Docker stores it
    created: str
    image_id: str
    image_ref: str
    path: str
    args: list[str]
    config: dict[str, Any]
    host_config: dict[str, Any]
    state: State = field(default_factory=State)
    restart_count: int = 0
    manually_stopped: bool = False
    has_been_started: bool = False
    snapshot_key: str = ""
    chain_id: str = ""
    mounts: list[dict[str, Any]] = field(default_factory=list)
    # Set while `rm` is in progress; a record found with it at start is finished off.
    removing: bool = False

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Container:
        known = {f.name for f in fields(cls)}
        kw = {k: v for k, v in data.items() if k in known}
        state = State(**{k: v for k, v in kw.pop("state", {}).items() if k in _STATE_FIELDS})
        return cls(state=state, **kw)

    @property
    def short_name(self) -> str:
        return self.name.lstrip("/")


_STATE_FIELDS = {f.name for f in fields(State)}


def write_atomic(path: Path, data: bytes, mode: int = 0o600, durable: bool = True) -> None:
    """Replace ``path`` with ``data`` so that readers see the old or the new file only.

    ``durable`` adds the fsyncs that make the new content survive a power loss; files
    rebuilt at every start (a bundle's config.json) do without them.
    """
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}.{threading.get_ident()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        os.write(fd, data)
        if durable:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    if not durable:
        return
    dfd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def save(record: Container, directory: Path, durable: bool = True) -> None:
    """Replace the record; ``durable=False`` for states a start after a power loss
    recomputes anyway (see ``write_atomic``)."""
    directory.mkdir(parents=True, exist_ok=True)
    data = json.dumps(record.to_json(), indent=1).encode()
    write_atomic(directory / RECORD_FILE, data, durable=durable)


def load(directory: Path) -> Container | None:
    """The record in ``directory``; None if there is none (a crash before the first save)."""
    try:
        raw = (directory / RECORD_FILE).read_bytes()
    except FileNotFoundError:
        return None
    return Container.from_json(json.loads(raw))
