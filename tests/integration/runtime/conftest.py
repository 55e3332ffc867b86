"""Fixtures for dockyard-runc integration tests: bundles from the busybox rootfs and a
runner that calls the real `dockyard-runc` binary with a private --root."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dockyard.runtime.defaults import default_spec

RUNC = str(Path(sys.executable).parent / "dockyard-runc")


def make_config(args: list[str], **process: Any) -> dict[str, Any]:
    """runc's default spec, without a terminal, running `args` (hostname "runc")."""
    cfg = copy.deepcopy(default_spec())
    cfg["process"]["terminal"] = False
    cfg["process"]["args"] = args
    cfg["root"]["readonly"] = False
    cfg["process"].update(process)
    return cfg


class Runtime:
    def __init__(self, tmp: Path, rootfs: Path) -> None:
        self.tmp = tmp
        self.root = tmp / "state"
        self.rootfs = rootfs
        self.created: list[str] = []

    def cmd(
        self,
        *args: str,
        check: bool = False,
        input: str | None = None,
        timeout: float = 30,
        pass_fds: tuple[int, ...] = (),
        global_args: tuple[str, ...] = (),
    ) -> subprocess.CompletedProcess[str]:
        argv = [RUNC, "--root", str(self.root), *global_args, *args]
        if args[0] in ("create", "exec", "run") and ("--detach" in args or args[0] == "create"):
            # The container inherits our stdio: pipes would stay open as long as it lives,
            # so a detached start writes to files (conmon/containerd pass their own).
            return self._detached(argv, check, timeout, pass_fds)
        return subprocess.run(
            argv,
            capture_output=True,
            text=True,
            check=check,
            input=input,
            timeout=timeout,
            pass_fds=pass_fds,
        )

    def _detached(
        self, argv: list[str], check: bool, timeout: float, pass_fds: tuple[int, ...]
    ) -> subprocess.CompletedProcess[str]:
        n = uuid.uuid4().hex[:8]
        out, err = self.tmp / f"out-{n}", self.tmp / f"err-{n}"
        with out.open("w") as o, err.open("w") as e:
            p = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=o,
                stderr=e,
                check=False,
                timeout=timeout,
                pass_fds=pass_fds,
            )
        r = subprocess.CompletedProcess(argv, p.returncode, out.read_text(), err.read_text())
        if check:
            r.check_returncode()
        return r

    def bundle(self, cfg: dict[str, Any], name: str | None = None) -> Path:
        b = self.tmp / (name or f"bundle-{uuid.uuid4().hex[:8]}")
        b.mkdir()
        (b / "rootfs").symlink_to(self.rootfs)
        cfg = dict(cfg)
        cfg["root"] = {**cfg["root"], "path": str(self.rootfs)}
        (b / "config.json").write_text(json.dumps(cfg))
        return b

    def new_id(self) -> str:
        cid = f"t{uuid.uuid4().hex[:10]}"
        self.created.append(cid)
        return cid

    def run(
        self, cfg: dict[str, Any], *extra: str, timeout: float = 30
    ) -> subprocess.CompletedProcess[str]:
        """`dockyard-runc run` a bundle with cfg; returns the finished process."""
        b = self.bundle(cfg)
        return self.cmd("run", "--bundle", str(b), *extra, self.new_id(), timeout=timeout)

    def output(self, cfg: dict[str, Any]) -> str:
        r = self.run(cfg)
        assert r.returncode == 0, f"exit {r.returncode}: {r.stderr}"
        return r.stdout

    def create(self, cfg: dict[str, Any], *extra: str) -> str:
        b = self.bundle(cfg)
        cid = self.new_id()
        r = self.cmd("create", "--bundle", str(b), *extra, cid)
        assert r.returncode == 0, r.stderr
        return cid

    def state(self, cid: str) -> dict[str, Any]:
        r = self.cmd("state", cid)
        assert r.returncode == 0, r.stderr
        result: dict[str, Any] = json.loads(r.stdout)
        return result

    def cleanup(self) -> None:
        for cid in self.created:
            self.cmd("delete", "--force", cid)


@pytest.fixture
def rt(tmp_path: Path, busybox_rootfs: Path) -> Iterator[Runtime]:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    r = Runtime(tmp_path, busybox_rootfs)
    yield r
    r.cleanup()
