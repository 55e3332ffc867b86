"""What the store compat tests share: third-party CLIs run as functions, their daemons
started for a test module, and a saved busybox archive to feed them."""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.store.bootstrap import bootstrap_busybox
from dockyard.store.images import ImageStore


class Cli:
    """A command-line tool with fixed leading arguments: ``tool("images", "ls")`` returns
    its stdout; a non-zero exit fails the test with the tool's stderr."""

    def __init__(self, *argv: str) -> None:
        self.argv = list(argv)

    def __call__(self, *args: str, timeout: float = 120) -> str:
        result = subprocess.run(
            [*self.argv, *args], capture_output=True, text=True, timeout=timeout, check=False
        )
        if result.returncode != 0:
            raise AssertionError(f"{self.argv[0]} {' '.join(args)} failed: {result.stderr.strip()}")
        return result.stdout


@contextlib.contextmanager
def serving(argv: list[str], base: Path, cli: Cli, start_timeout: float) -> Iterator[None]:
    """Runs the daemon ``argv`` (its output in ``base``/log) while the block runs, then
    stops it and removes ``base``. Until ``cli("version")`` answers the daemon is not up:
    if it exits or takes longer than ``start_timeout`` the test is skipped with its log."""
    log = open(base / "log", "wb")  # noqa: SIM115 - closed at teardown
    proc = subprocess.Popen(argv, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + start_timeout
        while True:
            try:
                cli("version", timeout=10)
                break
            except (AssertionError, subprocess.TimeoutExpired):
                if proc.poll() is not None or time.monotonic() > deadline:
                    tail = (base / "log").read_text()[-500:]
                    pytest.skip(f"{argv[0]} did not start: {tail}")
                time.sleep(0.3)
        yield
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()
        shutil.rmtree(base, ignore_errors=True)


def busybox_archive(dest: Path) -> Path:
    """A docker-archive of dockyard's bootstrapped busybox:latest, as ``dest``/bb.tar."""
    seed = ImageStore(dest / "seed")
    bootstrap_busybox(seed)
    archive = dest / "bb.tar"
    with open(archive, "wb") as f:
        seed.save(["busybox"], f)
    return archive
