"""The dockyardd process: side-by-side daemons, one daemon per root, graceful SIGTERM."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from dockyard_api_test_support import DOCKYARDD  # type: ignore[import-not-found]

pytestmark = pytest.mark.root


def test_two_daemons_side_by_side(make_daemon: Callable[[], Any]) -> None:
    a, b = make_daemon(), make_daemon()
    a.start()
    b.start()
    a.bootstrap()
    cid = a.client.create("only-in-a", Cmd=["true"])
    assert b.client.get("/containers/only-in-a/json").status == 404
    assert b.client.get("/images/busybox/json").status == 404
    assert a.client.inspect(cid)["Name"] == "/only-in-a"
    assert (a.exec_root / "dockyardd.pid").read_text().strip() == str(a.proc.pid)


def _second_daemon(a: Any, exec_root: Path) -> subprocess.CompletedProcess[bytes]:
    """dockyardd on ``a``'s data root with ``exec_root`` and a socket of its own."""
    return subprocess.run(
        [
            str(DOCKYARDD),
            "--data-root",
            str(a.data_root),
            "--exec-root",
            str(exec_root),
            "-H",
            f"unix://{a.base}/other.sock",
            "--runtime",
            a.runtime,
        ],
        capture_output=True,
        timeout=60,
    )


def test_second_daemon_on_the_same_root_is_refused(make_daemon: Callable[[], Any]) -> None:
    a = make_daemon()
    a.start()
    r = _second_daemon(a, a.exec_root)
    assert r.returncode == 1 and b"already running" in r.stderr
    assert a.client.get("/_ping").status == 200


def test_second_daemon_on_the_same_data_root_with_its_own_exec_root_is_refused(
    make_daemon: Callable[[], Any],
) -> None:
    a = make_daemon()
    a.start()
    r = _second_daemon(a, a.base / "other-exec")
    assert r.returncode == 1
    assert (
        r.stderr.decode()
        .strip()
        .endswith(f"dockyardd is already running on data root {a.data_root} (pid {a.proc.pid})")
    )
    assert not (a.base / "other.sock").exists()
    assert a.client.get("/_ping").status == 200


def test_sigterm_is_graceful(make_daemon: Callable[[], Any]) -> None:
    a = make_daemon()
    a.start()
    assert a.stop() == 0
    assert not (a.exec_root / "dockyardd.pid").exists()
    assert not a.base.joinpath("d.sock").exists()
    a.start()  # and it starts again on the same roots
    assert a.client.get("/_ping").status == 200


def test_bad_host_flag() -> None:
    r = subprocess.run(
        [
            str(DOCKYARDD),
            "-H",
            "tcp://0.0.0.0:2375",
            "--data-root",
            "/tmp/x-none",
            "--exec-root",
            "/tmp/x-none-exec",
        ],
        capture_output=True,
        timeout=60,
    )
    assert r.returncode == 1 and b"only unix" in r.stderr
