"""Waiting for a monitor without polling: pidfds, and the stored status of a gone monitor."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from dockyard.engine.monitor import protocol as P
from dockyard.engine.monitor.client import MonitorGone, MonitorHandle, _wait_process_exit


def test_wait_process_exit_wakes_at_the_exit() -> None:
    proc = subprocess.Popen(["sleep", "0.3"])
    t0 = time.monotonic()
    _wait_process_exit(proc.pid, 10.0)
    took = time.monotonic() - t0
    proc.wait()
    assert 0.2 < took < 5.0


def test_wait_process_exit_returns_for_no_process() -> None:
    t0 = time.monotonic()
    _wait_process_exit(None, 10.0)
    _wait_process_exit(2**22 + 12345, 10.0)  # above pid_max's default: no such process
    assert time.monotonic() - t0 < 1.0


def test_gone_monitor_answers_with_exit_json(tmp_path: Path) -> None:
    info = {"exit_code": 3, "finished_at": "x", "started_at": "y", "oom_killed": False}
    (tmp_path / P.EXIT_FILE).write_text(json.dumps(info))
    h = MonitorHandle(str(tmp_path))
    assert h.running_pid() is None and h.wait_exited(0.1)
    assert h.begin_wait().result() == info
    assert h.wait() == info


def test_gone_monitor_without_exit_json_is_gone(tmp_path: Path) -> None:
    with pytest.raises(MonitorGone):
        MonitorHandle(str(tmp_path)).begin_wait().result()


def test_running_pid_needs_the_state_dir_as_cwd(tmp_path: Path) -> None:
    # Our own pid in monitor.pid: alive, but its cwd is not the state dir (a recycled pid).
    (tmp_path / P.PID_FILE).write_text(str(os.getpid()))
    assert MonitorHandle(str(tmp_path)).running_pid() is None
    proc = subprocess.Popen(["sleep", "30"], cwd=tmp_path)
    try:
        (tmp_path / P.PID_FILE).write_text(str(proc.pid))
        assert MonitorHandle(str(tmp_path)).running_pid() == proc.pid
        assert not MonitorHandle(str(tmp_path)).wait_exited(0.1)
    finally:
        proc.kill()
        proc.wait()
    assert MonitorHandle(str(tmp_path)).running_pid() is None
