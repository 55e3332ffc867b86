"""The exit path: the monitor reports an exit before it deletes the runtime's container, so
whatever reuses or removes the container must not race that delete."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from dockyard_api_test_support import joined  # type: ignore[import-not-found]

pytestmark = pytest.mark.root


def _eventually(check: Callable[[], bool], timeout: float = 10.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if check():
            return True
        time.sleep(0.05)
    return check()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_start_right_after_an_exit_reuses_the_id(make_daemon: Callable[[], Any]) -> None:
    d = make_daemon()
    d.start()
    d.bootstrap()
    api = d.client
    cid = api.create(Cmd=["sh", "-c", "echo run; exit 4"])
    for _ in range(4):
        api.start(cid)  # at once: the previous monitor may still be deleting
        assert api.wait(cid) == 4
    assert joined(api.logs(cid), 1) == b"run\n" * 4
    assert api.inspect(cid)["State"]["ExitCode"] == 4
    # The last monitor deletes the runtime's container, then exits.
    assert _eventually(lambda: not (d.exec_root / "runtime" / cid).exists())
    assert _eventually(lambda: not any(_alive(p) for p in d.monitor_pids()))


def test_auto_remove_answers_removed_and_leaves_nothing(make_daemon: Callable[[], Any]) -> None:
    d = make_daemon()
    d.start()
    d.bootstrap()
    api = d.client
    for code in (0, 3):
        cid = api.create(Cmd=["sh", "-c", f"exit {code}"], HostConfig={"AutoRemove": True})
        got: dict[str, int] = {}

        def wait_removed(c: str = cid, out: dict[str, int] = got) -> None:
            out["code"] = api.wait(c, condition="removed")

        # Waiting before the start, as `docker run --rm` does.
        waiter = threading.Thread(target=wait_removed)
        waiter.start()
        time.sleep(0.2)  # the wait is registered before the start
        api.start(cid)
        waiter.join(30)
        assert got.get("code") == code
        assert api.get(f"/containers/{cid}/json").status == 404
        # Deleted by the monitor after the exit, or by the removal's cleanup after it.
        for path in (
            Path(d.exec_root, "runtime", cid),
            Path(d.exec_root, "monitors", cid),
            Path(d.exec_root, "containers", cid),
        ):
            assert _eventually(lambda p=path: not p.exists()), path
