"""The snapshotter's state: one small JSON file, rewritten atomically under a lock.

Every change runs inside ``edit()``: an exclusive flock (so several processes
may share a root), the file re-read, the change made, then written to a
temporary file, fsynced and renamed over the old one. A crash leaves either
the old state or the new one, never a half-written file.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from dockyard.store.snapshots.errors import SnapshotError

ACTIVE = "active"
VIEW = "view"
COMMITTED = "committed"


@dataclass(slots=True)
class Info:
    name: str
    kind: str  # active | view | committed
    parent: str | None
    id: int  # the directory number under snapshots/
    created: float


@dataclass(slots=True)
class State:
    next_id: int
    snapshots: dict[str, Info]

    def children(self, name: str) -> list[str]:
        return [k for k, v in self.snapshots.items() if v.parent == name]

    def chain(self, name: str) -> list[Info]:
        """``name`` and its ancestors, nearest first."""
        out: list[Info] = []
        cur: str | None = name
        while cur is not None:
            info = self.snapshots.get(cur)
            if info is None:
                raise SnapshotError(f"snapshot chain of {name!r} is broken at {cur!r}")
            out.append(info)
            cur = info.parent
        return out


class StateFile:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock_path = path.with_name(path.name + ".lock")
        self._mutex = threading.RLock()

    @contextlib.contextmanager
    def _locked(self, exclusive: bool) -> Iterator[None]:
        with self._mutex:
            fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
                yield
            finally:
                os.close(fd)

    def _load(self) -> State:
        try:
            raw: dict[str, Any] = json.loads(self.path.read_text())
        except FileNotFoundError:
            return State(1, {})
        except (OSError, ValueError) as e:
            raise SnapshotError(f"snapshot state {self.path} is unreadable: {e}") from e
        snaps = {k: Info(**v) for k, v in raw.get("snapshots", {}).items()}
        return State(int(raw.get("next_id", 1)), snaps)

    def read(self) -> State:
        with self._locked(exclusive=False):
            return self._load()

    @contextlib.contextmanager
    def edit(self) -> Iterator[State]:
        with self._locked(exclusive=True):
            state = self._load()
            yield state
            self._save(state)

    def _save(self, state: State) -> None:
        data = {
            "next_id": state.next_id,
            "snapshots": {k: asdict(v) for k, v in sorted(state.snapshots.items())},
        }
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        with open(tmp, "w") as f:
            json.dump(data, f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        dfd = os.open(self.path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
