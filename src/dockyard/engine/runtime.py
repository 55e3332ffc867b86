"""The OCI runtime binary the daemon drives (dockyard-runc, or any runc-compatible one)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from dockyard.engine.errors import Conflict, EngineError


class RuntimeError_(EngineError):
    """The runtime refused a command; the message is its own error line."""


def choose_runtime(requested: str | None) -> str:
    """--runtime, else $DOCKYARD_RUNTIME, else our dockyard-runc if it works, else runc."""
    chosen = requested or os.environ.get("DOCKYARD_RUNTIME")
    if chosen:
        # Monitors exec it without a PATH search, so it must be a full path.
        # (which() gives a path with a slash back as it is: relative, when it was.)
        return os.path.abspath(shutil.which(chosen) or chosen)
    ours = Path(sys.executable).with_name("dockyard-runc")
    if ours.exists():
        try:
            r = subprocess.run([str(ours), "--version"], capture_output=True, timeout=10)
            if r.returncode == 0:
                return str(ours)
        except (OSError, subprocess.TimeoutExpired):
            pass
    return shutil.which("runc") or "runc"


class Runtime:
    """Runs ``<binary> --root <root> <verb> …`` and turns its failures into typed errors."""

    def __init__(self, binary: str, root: Path) -> None:
        self.binary = binary
        self.root = root

    @property
    def name(self) -> str:
        """How `docker info` and HostConfig.Runtime name it."""
        return os.path.basename(self.binary)

    def _run(self, *args: str, input_: bytes | None = None, timeout: float = 30) -> bytes:
        cmd = [self.binary, "--root", str(self.root), *args]
        try:
            r = subprocess.run(cmd, input=input_, capture_output=True, timeout=timeout)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise RuntimeError_(f"runtime {args[0]}: {e}") from None
        if r.returncode != 0:
            msg = (r.stderr or r.stdout).decode(errors="replace").strip().splitlines()
            raise RuntimeError_(f"runtime {args[0]} failed: {msg[-1] if msg else r.returncode}")
        return r.stdout

    def kill(self, cid: str, sig: int, all_: bool = False) -> None:
        args = ["kill", *(["--all"] if all_ else []), cid, str(sig)]
        try:
            self._run(*args)
        except RuntimeError_ as e:
            if "not running" in str(e) or "does not exist" in str(e) or "stopped" in str(e):
                raise Conflict(f"Container {cid} is not running") from None
            raise

    def pause(self, cid: str) -> None:
        self._run("pause", cid)

    def resume(self, cid: str) -> None:
        self._run("resume", cid)

    def delete(self, cid: str) -> None:
        try:
            self._run("delete", "--force", cid)
        except RuntimeError_ as e:
            if "does not exist" not in str(e) and "not exist" not in str(e):
                raise

    def state(self, cid: str) -> dict[str, Any] | None:
        try:
            out = self._run("state", cid)
        except RuntimeError_:
            return None
        data: dict[str, Any] = json.loads(out)
        return data

    def pids(self, cid: str) -> list[int]:
        out = self._run("ps", "--format", "json", cid)
        pids = json.loads(out or b"[]")
        return [int(p) for p in pids or []]

    def update(self, cid: str, resources: dict[str, Any]) -> None:
        self._run("update", "--resources", "-", cid, input_=json.dumps(resources).encode())
