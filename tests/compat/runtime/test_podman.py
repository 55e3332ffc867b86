"""podman (through conmon) with dockyard-runc as its OCI runtime."""

from __future__ import annotations

import os
import pty
import select
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import RUNC, need_root_and, rootfs_tar, run

pytestmark = pytest.mark.compat

IMAGE = "localhost/dockyard-busybox:test"


@pytest.fixture
def podman(tmp_path: Path, busybox_rootfs: Path) -> Iterator[list[str]]:
    exe = need_root_and("podman")
    need_root_and("conmon")
    # A private store and run root: the host's podman state is never touched. podman
    # refuses run roots longer than 50 characters, so they live in a short /tmp dir.
    short = Path(tempfile.mkdtemp(prefix="dyp-", dir="/tmp"))
    base = [
        exe,
        "--root", str(short / "root"),
        "--runroot", str(short / "run"),
        "--cgroup-manager", "cgroupfs",
        "--events-backend", "file",
        "--storage-driver", "vfs",
        "--runtime", RUNC,
    ]  # fmt: skip
    tar = tmp_path / "rootfs.tar"
    rootfs_tar(busybox_rootfs, tar)
    r = run([*base, "import", str(tar), IMAGE])
    if r.returncode != 0:
        pytest.skip(f"podman cannot import an image here: {r.stderr.strip()[-300:]}")
    try:
        yield base
    finally:
        run([*base, "rm", "--all", "--force"])
        run([*base, "rmi", "--all", "--force"])
        subprocess.run(["umount", "-R", str(short)], capture_output=True, check=False)
        shutil.rmtree(short, ignore_errors=True)


# podman asks for RLIMIT_NOFILE 1048576 by default; raising a hard limit needs
# CAP_SYS_RESOURCE, which test machines running inside containers may not have (runc
# fails the same way). Ask for limits at or below our own.
ULIMITS = ["--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096"]


def test_podman_run_rm_true(podman: list[str]) -> None:
    r = run([*podman, "run", "--rm", "--network", "none", *ULIMITS, IMAGE, "true"])
    assert r.returncode == 0, r.stderr
    assert run([*podman, "ps", "-a", "-q"]).stdout.strip() == ""


def test_podman_run_output_and_exit_code(podman: list[str]) -> None:
    r = run(
        [*podman, "run", "--rm", "--network", "none", *ULIMITS, "--hostname", "pod1", IMAGE,
         "sh", "-c", "hostname; echo $$; exit 42"]
    )  # fmt: skip
    assert r.returncode == 42, r.stderr
    assert r.stdout.split() == ["pod1", "1"]


def test_podman_exec_stop(podman: list[str]) -> None:
    name = "dyexec"
    r = run(
        [*podman, "run", "-d", "--name", name, "--network", "none", *ULIMITS, IMAGE, "sleep", "100"]
    )
    assert r.returncode == 0, r.stderr
    try:
        r = run([*podman, "exec", name, "sh", "-c", "echo in-$((6*7))"])
        assert r.returncode == 0 and r.stdout.strip() == "in-42", r.stderr
        r = run([*podman, "stop", "-t", "1", name])
        assert r.returncode == 0, r.stderr
    finally:
        run([*podman, "rm", "-f", name])


def test_podman_interactive_tty(podman: list[str]) -> None:
    master, slave = pty.openpty()
    p = subprocess.Popen(
        [*podman, "run", "--rm", "-it", "--network", "none", *ULIMITS, IMAGE, "sh"],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        close_fds=True,
    )
    os.close(slave)
    out = b""
    try:
        out += _read_until(master, b"# ", 60)
        os.write(master, b"tty; echo hi-$((40+2)); exit 7\n")
        out += _read_until(master, b"hi-42", 30)
        code = p.wait(timeout=60)
    finally:
        os.close(master)
        if p.poll() is None:
            p.kill()
    assert b"hi-42" in out and b"/dev/pts/0" in out, out
    assert code == 7


def _read_until(fd: int, needle: bytes, timeout: float) -> bytes:
    buf = b""
    deadline = time.monotonic() + timeout
    while needle not in buf and time.monotonic() < deadline:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            buf += chunk
    return buf
