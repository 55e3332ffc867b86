"""Daemons for the CLI's integration tests: Debian's real dockerd (the reference) and
dockyardd (when it answers /_ping), each in its own temporary roots with a busybox image."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import dockyard_tests_root  # type: ignore[import-not-found]
import pytest

make_busybox_rootfs = dockyard_tests_root.make_busybox_rootfs

VENV_BIN = Path(sys.executable).parent
DOCKYARD = str(VENV_BIN / "dockyard")
DOCKERD = "/usr/sbin/dockerd"
DOCKER = shutil.which("docker")


@dataclass
class Daemon:
    kind: str
    base: Path
    sock: str
    proc: subprocess.Popen[bytes] | None = None
    log: Path = field(default_factory=Path)

    @property
    def host(self) -> str:
        return f"unix://{self.sock}"

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("DOCKER_HOST", "DOCKYARD_HOST")}
        env.update(DOCKYARD_HOST=self.host, DOCKYARD_NO_AUTOSTART="1", **extra)
        return env

    def cli(
        self, *args: str, input: bytes | None = None, timeout: float = 60, check: bool = False
    ) -> subprocess.CompletedProcess[bytes]:
        """Run `dockyard ARGS` against this daemon."""
        proc = subprocess.run(
            [DOCKYARD, *args],
            input=input,
            capture_output=True,
            timeout=timeout,
            env=self.env(),
            stdin=None if input is not None else subprocess.DEVNULL,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"dockyard {args} -> {proc.returncode}: {proc.stderr!r}")
        return proc

    def docker(
        self, *args: str, input: bytes | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[bytes]:
        """Run the real docker client against this daemon (API 1.41 for the old dockerd)."""
        assert DOCKER is not None
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKYARD")}
        env.update(
            DOCKER_HOST=self.host,
            DOCKER_API_VERSION="1.41",
            DOCKER_CONFIG=str(self.base / "docker-config"),
        )
        return subprocess.run(
            [DOCKER, *args],
            input=input,
            capture_output=True,
            timeout=timeout,
            env=env,
            stdin=None if input is not None else subprocess.DEVNULL,
        )


def _busybox_tar(base: Path) -> Path:
    rootfs = make_busybox_rootfs(base / "rootfs")
    out = base / "busybox.tar"
    with tarfile.open(out, "w") as tar:
        for entry in sorted(rootfs.iterdir()):
            tar.add(entry, arcname=entry.name)
    shutil.rmtree(rootfs)
    return out


def _wait_ping(d: Daemon, timeout: float) -> bool:
    import http.client
    import socket

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if d.proc is not None and d.proc.poll() is not None:
            return False
        with contextlib.suppress(OSError, http.client.HTTPException):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(2)
            s.connect(d.sock)
            s.sendall(b"GET /_ping HTTP/1.0\r\nHost: d\r\n\r\n")
            reply = s.recv(4096)
            s.close()
            if reply.startswith(b"HTTP/1.") and b" 200 " in reply.split(b"\r\n")[0]:
                return True
        time.sleep(0.1)
    return False


def kill_leftovers(base: Path) -> None:
    """SIGKILL processes this test area started under `base` (e.g. container monitors that
    outlive a stopped daemon), found by their command line, one pid at a time."""
    marker = str(base) + "/"
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if marker in cmdline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(entry.name), signal.SIGKILL)


def _stop(d: Daemon) -> None:
    if d.proc is not None and d.proc.poll() is None:
        with contextlib.suppress(Exception):
            listed = d.cli("ps", "-aq", "--no-trunc", timeout=20).stdout.decode().split()
            if listed:
                d.cli("rm", "-f", *listed, timeout=60)
        d.proc.send_signal(signal.SIGTERM)
        try:
            d.proc.wait(30)
        except subprocess.TimeoutExpired:
            d.proc.kill()
            d.proc.wait(10)
    kill_leftovers(d.base)
    for line in reversed(Path("/proc/self/mounts").read_text().splitlines()):
        target = line.split()[1].replace("\\040", " ")
        if target.startswith(str(d.base) + "/"):
            subprocess.run(["umount", "-l", target], capture_output=True, check=False)
    shutil.rmtree(d.base, ignore_errors=True)


def _need_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")


@pytest.fixture(scope="session")
def dockerd_daemon() -> Iterator[Daemon]:
    _need_root()
    if not os.access(DOCKERD, os.X_OK):
        pytest.skip("Debian's dockerd is not installed (apt-get install docker.io)")
    base = Path(tempfile.mkdtemp(prefix="cli-dd-", dir="/tmp"))
    d = Daemon("dockerd", base, str(base / "docker.sock"), log=base / "dockerd.log")
    with open(d.log, "ab") as log:
        d.proc = subprocess.Popen(
            [
                DOCKERD,
                "--data-root",
                str(base / "data"),
                "--exec-root",
                str(base / "exec"),
                "-H",
                d.host,
                "--pidfile",
                str(base / "docker.pid"),
                "--bridge=none",
                "--iptables=false",
                "--ip6tables=false",
            ],
            stdout=log,
            stderr=log,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        if not _wait_ping(d, 30):
            pytest.skip(f"dockerd did not start: {d.log.read_text()[-1500:]}")
        d.cli("import", str(_busybox_tar(base)), "busybox:latest", check=True)
        yield d
    finally:
        _stop(d)


@pytest.fixture(scope="session")
def dockyardd_daemon() -> Iterator[Daemon]:
    _need_root()
    dockyardd = VENV_BIN / "dockyardd"
    base = Path(tempfile.mkdtemp(prefix="cli-dy-", dir="/tmp"))
    d = Daemon("dockyardd", base, str(base / "d.sock"), log=base / "dockyardd.log")
    runtime = os.environ.get("DOCKYARD_TEST_RUNTIME") or str(VENV_BIN / "dockyard-runc")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKYARD")}
    with open(d.log, "ab") as log:
        d.proc = subprocess.Popen(
            [
                str(dockyardd),
                "--data-root",
                str(base / "data"),
                "--exec-root",
                str(base / "exec"),
                "-H",
                d.host,
                "--runtime",
                runtime,
            ],
            stdout=log,
            stderr=log,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
    try:
        if not _wait_ping(d, 20):
            tail = d.log.read_text()[-800:] if d.log.exists() else ""
            pytest.skip(f"dockyardd does not answer /_ping yet: {tail}")
        made = d.cli("image", "bootstrap", "busybox", timeout=120)
        if made.returncode != 0:
            made = d.cli("import", str(_busybox_tar(base)), "busybox:latest", timeout=120)
        if made.returncode != 0:
            pytest.skip(f"dockyardd cannot provide a busybox image yet: {made.stderr!r}")
        yield d
    finally:
        _stop(d)


@pytest.fixture(params=["dockerd", "dockyardd"])
def daemon(request: pytest.FixtureRequest) -> Daemon:
    value: Daemon = request.getfixturevalue(f"{request.param}_daemon")
    return value


@pytest.fixture
def name(request: pytest.FixtureRequest) -> str:
    """A container name unique to the test."""
    return "t-" + request.node.name.replace("[", "-").replace("]", "").replace("_", "-")[-40:]
