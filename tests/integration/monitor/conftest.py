"""Bundles and monitors for the monitor's integration tests, with each available runtime."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dockyard.engine.monitor.client import MonitorHandle, MonitorOptions, spawn_monitor
from dockyard.oci.specgen import generate_spec

REPO = Path(__file__).resolve().parents[3]
DOCKYARD_RUNC = REPO / ".venv" / "bin" / "dockyard-runc"


def _runc() -> str | None:
    return shutil.which("runc") or ("/usr/sbin/runc" if os.path.exists("/usr/sbin/runc") else None)


def _works(binary: str) -> str | None:
    """None when `binary --version` succeeds, else why not."""
    try:
        r = subprocess.run([binary, "--version"], capture_output=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"{binary} --version failed: {e}"
    if r.returncode != 0:
        return f"{binary} --version exited {r.returncode}: {r.stderr.decode()[-200:]}"
    return None


_SMOKE: dict[str, str | None] = {}


def _smoke(binary: str, rootfs: Path, work: Path) -> str | None:
    """None when `binary run` runs `true` with our generated (Docker-default) spec."""
    bundle = work / "bundle"
    shutil.copytree(rootfs, bundle / "rootfs", symlinks=True)
    cid = "smoke-" + uuid.uuid4().hex[:8]
    spec = generate_spec(
        {}, {"Cmd": ["true"]}, rootfs=str(bundle / "rootfs"), hostname="smoke", container_id=cid
    )
    (bundle / "config.json").write_text(json.dumps(spec))
    try:
        r = subprocess.run(
            [binary, "--root", str(work / "rt"), "run", "--bundle", str(bundle), cid],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"{binary} run failed: {e}"
    finally:
        subprocess.run(
            [binary, "--root", str(work / "rt"), "delete", "-f", cid],
            capture_output=True,
            timeout=30,
        )
    if r.returncode != 0:
        out = (r.stderr or r.stdout).decode(errors="replace").strip().splitlines()
        return f"`run` of a default-spec container exited {r.returncode}: {out[-1] if out else ''}"
    return None


@pytest.fixture(params=["runc", "dockyard-runc"])
def runtime(
    request: pytest.FixtureRequest, busybox_rootfs: Path, tmp_path_factory: pytest.TempPathFactory
) -> str:
    if request.param == "runc":
        path = _runc()
        if path is None:
            pytest.skip("runc is not installed")
        return path
    path = str(DOCKYARD_RUNC)
    if path not in _SMOKE:
        _SMOKE[path] = _works(path) or _smoke(
            path, busybox_rootfs, tmp_path_factory.mktemp("smoke")
        )
    why = _SMOKE[path]
    if why is not None:
        pytest.skip(f"dockyard-runc does not work: {why}")
    return path


class Containers:
    """Makes bundles, spawns monitors, and cleans every container up afterwards."""

    def __init__(self, base: Path, runtime: str, template: Path) -> None:
        self.base = base
        self.template = template
        self.runtime = runtime
        self.root = str(base / "rt")
        self.made: list[tuple[str, str]] = []

    def bundle(
        self,
        args: list[str],
        *,
        tty: bool = False,
        create: dict[str, Any] | None = None,
        name: str | None = None,
    ) -> tuple[str, Path]:
        cid = name or "mon-" + uuid.uuid4().hex[:12]
        bdir = self.base / cid
        rootfs = bdir / "rootfs"
        shutil.copytree(self.template, rootfs, symlinks=True)
        body: dict[str, Any] = {"Cmd": args, "Tty": tty}
        body.update(create or {})
        spec = generate_spec(
            {},
            body,
            rootfs=str(rootfs),
            hostname=cid[:12],
            container_id=cid,
            passwd=(rootfs / "etc/passwd").read_text(),
            group=(rootfs / "etc/group").read_text(),
        )
        (bdir / "config.json").write_text(json.dumps(spec))
        return cid, bdir

    def options(self, cid: str, bdir: Path, **kw: Any) -> MonitorOptions:
        state = bdir / "state"
        kw.setdefault("log_path", str(state / "container-json.log"))
        return MonitorOptions(
            container_id=cid,
            bundle=str(bdir),
            runtime=self.runtime,
            runtime_root=self.root,
            state_dir=str(state),
            **kw,
        )

    def spawn(
        self,
        args: list[str],
        *,
        tty: bool = False,
        create: dict[str, Any] | None = None,
        launcher_dir: str | None = None,
        use_launcher: bool = True,
        **kw: Any,
    ) -> tuple[MonitorHandle, MonitorOptions]:
        cid, bdir = self.bundle(args, tty=tty, create=create)
        opts = self.options(cid, bdir, tty=tty, **kw)
        self.made.append((cid, opts.state_dir))
        handle = spawn_monitor(opts, launcher_dir=launcher_dir, use_launcher=use_launcher)
        return handle, opts

    def cleanup(self) -> None:
        for cid, state in self.made:
            subprocess.run(
                [self.runtime, "--root", self.root, "delete", "--force", cid],
                capture_output=True,
                timeout=30,
            )
            with contextlib.suppress(OSError, ValueError):
                pid = int(Path(state, "monitor.pid").read_text())
                # Still our monitor if it lives in the state dir (monitors chdir there).
                if os.readlink(f"/proc/{pid}/cwd") == os.path.realpath(state):
                    os.kill(pid, signal.SIGKILL)
        for lock in self.base.glob("**/monitor-launcher.lock"):
            stop_launcher(lock.parent)


def stop_launcher(directory: Path) -> None:
    """Kill the launcher serving `directory`, if it runs (tests leave none behind)."""
    with contextlib.suppress(OSError, ValueError):
        pid = int((directory / "monitor-launcher.lock").read_text())
        if os.readlink(f"/proc/{pid}/cwd") == os.path.realpath(directory):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture
def containers(tmp_path: Path, runtime: str, busybox_rootfs: Path) -> Iterator[Containers]:
    c = Containers(tmp_path, runtime, busybox_rootfs)
    try:
        yield c
    finally:
        c.cleanup()


@pytest.fixture
def wait_for() -> Callable[[Callable[[], bool], float], bool]:
    import time

    def wait(pred: Callable[[], bool], timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if pred():
                return True
            time.sleep(0.02)
        return pred()

    return wait
