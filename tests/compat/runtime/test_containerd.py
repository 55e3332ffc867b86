"""containerd's `ctr run --runc-binary dockyard-runc` (the runc v2 shim calls us)."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import RUNC, docker_archive, need_root_and, run

pytestmark = pytest.mark.compat

IMAGE = "localhost/dockyard-busybox:test"


@pytest.fixture
def ctr(tmp_path: Path, busybox_rootfs: Path) -> Iterator[list[str]]:
    daemon = need_root_and("containerd")
    ctr_bin = need_root_and("ctr")
    sock = tmp_path / "containerd.sock"
    (tmp_path / "config.toml").write_text(
        "version = 2\n"
        f'root = "{tmp_path / "root"}"\n'
        f'state = "{tmp_path / "state"}"\n'
        'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
        f'[grpc]\n  address = "{sock}"\n'
        f'[ttrpc]\n  address = "{sock}.ttrpc"\n'
        '[debug]\n  address = ""\n'
        '[metrics]\n  address = ""\n'
    )
    log = (tmp_path / "containerd.log").open("w")
    proc = subprocess.Popen(
        [daemon, "--config", str(tmp_path / "config.toml")], stdout=log, stderr=log
    )
    base = [ctr_bin, "--address", str(sock), "--namespace", "dockyard-test"]
    try:
        deadline = time.monotonic() + 30
        while run([*base, "version"], timeout=10).returncode != 0:
            if time.monotonic() > deadline or proc.poll() is not None:
                pytest.skip(
                    f"containerd did not start: {(tmp_path / 'containerd.log').read_text()[-300:]}"
                )
            time.sleep(0.2)
        archive = docker_archive(busybox_rootfs, tmp_path / "image.tar", IMAGE)
        r = run([*base, "images", "import", "--snapshotter", "native", str(archive)])
        assert r.returncode == 0, r.stderr
        yield base
    finally:
        run([*base, "tasks", "kill", "-s", "KILL", "ctr1"], timeout=10)
        run([*base, "containers", "rm", "ctr1"], timeout=10)
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def test_ctr_run_to_completion(ctr: list[str]) -> None:
    r = run(
        [*ctr, "run", "--rm", "--snapshotter", "native", "--runc-binary", RUNC, IMAGE, "ctr1",
         "sh", "-c", "echo from-ctr; echo $$; exit 3"]
    )  # fmt: skip
    assert r.returncode == 3, r.stderr
    assert r.stdout.split() == ["from-ctr", "1"]
    assert run([*ctr, "containers", "ls", "-q"]).stdout.strip() == ""


def test_ctr_run_detached_kill(ctr: list[str]) -> None:
    r = run(
        [*ctr, "run", "-d", "--snapshotter", "native", "--runc-binary", RUNC, IMAGE, "ctr1",
         "sleep", "100"]
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    tasks = run([*ctr, "tasks", "ls"]).stdout
    assert "ctr1" in tasks and "RUNNING" in tasks
    r = run([*ctr, "tasks", "exec", "--exec-id", "e1", "ctr1", "sh", "-c", "echo exec-ok"])
    assert r.returncode == 0 and r.stdout.strip() == "exec-ok", r.stderr
    assert run([*ctr, "tasks", "kill", "-s", "KILL", "ctr1"]).returncode == 0
    deadline = time.monotonic() + 20
    while "STOPPED" not in run([*ctr, "tasks", "ls"]).stdout and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "STOPPED" in run([*ctr, "tasks", "ls"]).stdout
    assert run([*ctr, "tasks", "rm", "ctr1"]).returncode == 0
    assert run([*ctr, "containers", "rm", "ctr1"]).returncode == 0
    assert os.path.exists(RUNC)
