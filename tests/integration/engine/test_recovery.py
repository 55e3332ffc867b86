"""Persistence and recovery: daemon restarts, SIGKILL mid-operation, dead monitors."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from dockyard_api_test_support import joined  # type: ignore[import-not-found]

pytestmark = pytest.mark.root


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_containers_outlive_a_daemon_restart(make_daemon: Callable[[], Any]) -> None:
    d = make_daemon()
    d.start()
    d.bootstrap()
    api = d.client
    cid = api.create("survivor", Cmd=["sh", "-c", "echo before; sleep 1000"])
    api.start(cid)
    done, _ = api.run(["sh", "-c", "echo finished; exit 2"])
    pid = api.inspect(cid)["State"]["Pid"]
    vol = api.post("/volumes/create", {"Name": "keep"}).json()["Name"]
    assert d.stop() == 0  # SIGTERM: graceful, containers stay
    assert _alive(pid)
    d.start()
    c = api.inspect("survivor")
    assert c["State"]["Running"] and c["State"]["Pid"] == pid
    assert api.inspect(done)["State"]["ExitCode"] == 2
    assert joined(api.logs(done), 1) == b"finished\n"
    assert api.get(f"/volumes/{vol}").status == 200
    assert any(i["RepoTags"] == ["busybox:latest"] for i in api.get("/images/json").json())
    # The re-attached daemon still sees the exit and can exec, stop and remove.
    r = api.post(f"/containers/{cid}/exec", {"Cmd": ["true"]})
    assert r.status == 201
    assert api.post(f"/containers/{cid}/stop", params={"t": 1}).status == 204
    assert api.inspect(cid)["State"]["Status"] == "exited"
    assert not _alive(pid)
    assert api.delete(f"/containers/{cid}").status == 204


def test_exit_while_daemon_is_down_is_recorded(make_daemon: Callable[[], Any]) -> None:
    d = make_daemon()
    d.start()
    d.bootstrap()
    api = d.client
    cid = api.create(Cmd=["sh", "-c", "sleep 1; exit 9"])
    api.start(cid)
    d.kill()
    time.sleep(2)
    d.start()
    st = api.inspect(cid)["State"]
    assert st["Status"] == "exited" and st["ExitCode"] == 9


def test_dead_monitor_means_exit_255_and_restart_policy(make_daemon: Callable[[], Any]) -> None:
    d = make_daemon()
    d.start()
    d.bootstrap()
    api = d.client
    plain = api.create(Cmd=["sleep", "1000"])
    always = api.create(Cmd=["sleep", "1000"], HostConfig={"RestartPolicy": {"Name": "always"}})
    api.start(plain)
    api.start(always)
    d.kill()
    # A machine crash: monitors and containers gone without writing an exit status.
    for pid in d.monitor_pids():
        os.kill(pid, signal.SIGKILL)
    for cid in (plain, always):
        state = d.exec_root / "monitors" / cid / "init.pid"
        if state.exists():
            os.kill(int(state.read_text()), signal.SIGKILL)
    time.sleep(0.5)
    d.start()
    st = api.inspect(plain)["State"]
    assert st["Status"] == "exited" and st["ExitCode"] == 255
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not api.inspect(always)["State"]["Running"]:
        time.sleep(0.1)
    assert api.inspect(always)["State"]["Running"]


def test_sigkill_during_operations_leaves_consistent_state(
    make_daemon: Callable[[], Any],
) -> None:
    d = make_daemon()
    d.start()
    d.bootstrap()
    api = d.client
    keep = api.create("keeper", Cmd=["sleep", "1000"])
    api.start(keep)
    keep_pid = api.inspect(keep)["State"]["Pid"]
    victims = [api.create(Cmd=["sleep", "1000"]) for _ in range(3)]
    for v in victims[:2]:
        api.start(v)

    def hammer() -> None:
        for cid in victims:
            try:
                api.delete(f"/containers/{cid}", params={"force": 1}, timeout=5)
            except OSError:
                return
        for _ in range(5):
            try:
                cid = api.create(Cmd=["true"])
                api.post(f"/containers/{cid}/start", timeout=5)
                api.post("/commit", params={"container": cid, "repo": "crash"}, timeout=5)
            except (OSError, AssertionError):
                return

    t = threading.Thread(target=hammer)
    t.start()
    time.sleep(0.4)
    d.kill()
    t.join(30)
    d.start()
    r = api.get("/containers/json", params={"all": 1})
    assert r.status == 200
    listed = r.json()
    for c in listed:
        info = api.inspect(c["Id"])
        assert info["State"]["Status"] in ("created", "running", "exited")
        # Every container left is usable: it can be removed.
        if c["Id"] != keep:
            assert api.delete(f"/containers/{c['Id']}", params={"force": 1}).status == 204
    assert api.inspect("keeper")["State"]["Pid"] == keep_pid and _alive(keep_pid)
    # Only the kept container has a record; directories of removed ones go (in the
    # background) shortly after.
    cdirs = d.data_root / "containers"
    assert {p.name for p in cdirs.iterdir() if (p / "config.v2.json").exists()} == {keep}
    deadline = time.monotonic() + 10
    while {p.name for p in cdirs.iterdir()} != {keep} and time.monotonic() < deadline:
        time.sleep(0.05)
    assert {p.name for p in cdirs.iterdir()} == {keep}
    _cid, code = api.run(["echo", "ok"])
    assert code == 0
