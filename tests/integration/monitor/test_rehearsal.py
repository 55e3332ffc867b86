"""The launcher's rehearsal of monitor lives (warmup.warm_up) and its waiting fork.

Each check runs in a fresh interpreter: the rehearsal changes a process's signals, cwd and
subreaper flag while it runs, and must put every one of them back.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.root

_PROBE = r"""
import ctypes, json, os, signal, sys, time
from dockyard.engine.monitor import server, warmup

lives = []
real_run = server.run

def run(state, ready_fd):
    code = real_run(state, ready_fd)
    exit_file = os.path.join(state, "exit.json")
    log = os.path.join(state, "rehearsal.log")
    lives.append({
        "code": code,
        "exit": json.load(open(exit_file)) if os.path.exists(exit_file) else None,
        "log": open(log).read() if os.path.exists(log) else "",
    })
    return code

server.run = run
for name, value in json.loads(sys.argv[2]).items():
    setattr(warmup, name, value)
if sys.argv[3] == "stuck":
    warmup._drive_rehearsal = lambda state, ready_r: time.sleep(60)

def subreaper():
    v = ctypes.c_int(-1)
    ctypes.CDLL(None).prctl(37, ctypes.byref(v), 0, 0, 0)  # PR_GET_CHILD_SUBREAPER
    return v.value

signals = (signal.SIGCHLD, signal.SIGINT, signal.SIGHUP, signal.SIGTERM, signal.SIGQUIT,
           signal.SIGALRM)
before = {
    "fds": sorted(os.listdir("/proc/self/fd")),
    "cwd": os.getcwd(),
    "signals": [str(signal.getsignal(s)) for s in signals],
}
t0 = time.monotonic()
warmup.warm_up(sys.argv[1])
took = time.monotonic() - t0
try:
    children = os.waitpid(-1, os.WNOHANG)
except ChildProcessError:
    children = None
after = {
    "fds": sorted(os.listdir("/proc/self/fd")),
    "cwd": os.getcwd(),
    "signals": [str(signal.getsignal(s)) for s in signals],
}
print(json.dumps({
    "before": before, "after": after, "lives": lives, "took": took,
    "children": children, "subreaper": subreaper(), "wakeup_fd": signal.set_wakeup_fd(-1),
    "left": os.listdir(sys.argv[1]),
}))
"""


def _probe(tmp_path: Path, mode: str = "normal", **overrides: Any) -> dict[str, Any]:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    r = subprocess.run(
        [sys.executable, "-c", _PROBE, str(scratch), json.dumps(overrides), mode],
        capture_output=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    result: dict[str, Any] = json.loads(r.stdout.decode().splitlines()[-1])
    return result


def test_rehearsals_play_whole_lives_and_leave_the_process_as_it_was(tmp_path: Path) -> None:
    got = _probe(tmp_path, _REHEARSALS=3)
    assert len(got["lives"]) == 3
    for life in got["lives"]:
        assert life["code"] == 0
        assert life["exit"]["exit_code"] == 0 and life["exit"]["started_at"]
        assert '"log":"rehearsal\\n"' in life["log"]
    assert got["after"] == got["before"]
    assert got["children"] is None  # nothing left behind, nothing to reap later
    assert got["subreaper"] == 0
    assert got["wakeup_fd"] == -1
    assert got["left"] == []


def test_a_stuck_rehearsal_is_cut_short(tmp_path: Path) -> None:
    got = _probe(tmp_path, "stuck", _REHEARSALS=1, _REHEARSAL_SECONDS=1)
    assert [life["code"] for life in got["lives"]] == [1]
    assert got["took"] < 10
    assert got["after"] == got["before"]
    assert got["children"] is None
    assert got["subreaper"] == 0
    assert got["left"] == []


def _launcher_tree(directory: Path) -> tuple[int, list[int]]:
    launcher = int((directory / "monitor-launcher.lock").read_text())
    kids = Path(f"/proc/{launcher}/task/{launcher}/children").read_text().split()
    return launcher, [int(k) for k in kids]


def test_the_launcher_keeps_one_waiting_fork_that_dies_with_it(
    containers: Any, tmp_path: Path
) -> None:
    shared = tmp_path / "launcher"
    h, _ = containers.spawn(["true"], launcher_dir=str(shared))
    h.start()
    assert h.wait(timeout=30)["exit_code"] == 0
    deadline = time.monotonic() + 10
    launcher, kids = _launcher_tree(shared)
    while len(kids) != 1 and time.monotonic() < deadline:
        time.sleep(0.05)
        launcher, kids = _launcher_tree(shared)
    assert len(kids) == 1  # the next monitor, waiting; the one that served has exited
    (waiting,) = kids
    os.kill(launcher, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while Path(f"/proc/{waiting}/cwd").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not Path(f"/proc/{waiting}/cwd").exists()


_IDLE_LAUNCHER = r"""
import os, sys, time
from dockyard.engine.monitor import launcher, warmup

warmup._REHEARSALS = 1
launcher.IDLE_SECONDS = float(sys.argv[2])
launcher._CHECK_SECONDS = 0.2
t0 = time.monotonic()
code = launcher.serve(sys.argv[1])
try:
    left = os.waitpid(-1, os.WNOHANG)
except ChildProcessError:
    left = None
print(code, round(time.monotonic() - t0, 1), left, os.path.exists("monitor-launcher.sock"))
"""


def test_an_idle_launcher_exits_and_takes_its_waiting_fork_along(tmp_path: Path) -> None:
    r = subprocess.run(
        [sys.executable, "-c", _IDLE_LAUNCHER, str(tmp_path), "1.5"],
        capture_output=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    code, took, left, socket_left = r.stdout.decode().split()
    assert code == "0"
    assert 1.5 <= float(took) < 10  # it waited for the idle time, no longer
    assert left == "None"  # its waiting fork was killed and collected
    assert socket_left == "False"


def _rehearsing(directory: Path) -> bool:
    return any(p.name.startswith(".warm-up-") for p in directory.iterdir())


def _has_waiting_fork(directory: Path) -> bool:
    """Warmed up (the rehearsal's own children are gone with its directory) and forked."""
    try:
        return not _rehearsing(directory) and bool(_launcher_tree(directory)[1])
    except (OSError, ValueError):
        return False


@pytest.mark.parametrize("when", ["warmed-up", "rehearsing"])
def test_a_launcher_whose_directory_is_removed_exits(tmp_path: Path, when: str) -> None:
    import shutil

    directory = tmp_path / "gone"
    directory.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-c", _IDLE_LAUNCHER, str(directory), "600"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    ready = _has_waiting_fork if when == "warmed-up" else _rehearsing
    try:
        deadline = time.monotonic() + 30
        while not ready(directory):
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.01)
        shutil.rmtree(directory)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err.decode()[-2000:]
    code, took, left, _ = out.decode().split()
    assert code == "0" and left == "None"
    assert float(took) < 30


_UNSTARTED = r"""
import os, sys
from dockyard.engine.monitor import warmup

warmup._STAND_IN_PATIENCE = 1
os.chdir(sys.argv[1])
os.mkfifo(warmup._REHEARSAL_FIFO)
runtime = os.fork()
if runtime == 0:  # as a monitor runs it: create, then nobody ever starts it
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):  # (not our captured output: its reader would wait for the container)
        os.dup2(null, fd)
    warmup._stand_in_runtime(["--root", ".", "create", "--pid-file", "init.pid", "x"])
os.waitpid(runtime, 0)
print(open("init.pid").read())
"""


def test_a_stand_in_container_never_started_does_not_wait_forever(tmp_path: Path) -> None:
    """A launcher killed mid-rehearsal (and its directory removed) never starts the stand-in
    container it created: the container gives up by itself."""
    r = subprocess.run(
        [sys.executable, "-c", _UNSTARTED, str(tmp_path)], capture_output=True, timeout=60
    )
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    init = int(r.stdout.decode().strip())
    assert _alive(init)  # created, waiting for its start
    deadline = time.monotonic() + 15
    while _alive(init) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(init)


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for whoever reaps orphans does not count)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


_REHEARSING = r"""
import os, sys
from dockyard.engine.monitor import warmup

warmup._REHEARSALS = 10_000
warmup._STAND_IN_PATIENCE = 1
os.write(1, b"go\n")
warmup.warm_up(sys.argv[1])
"""


def _processes_in(directory: Path) -> list[int]:
    """Live processes whose working directory is (or was) below ``directory``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cwd = os.readlink(entry / "cwd")
            except OSError:
                continue
            if cwd.startswith(str(directory) + "/") and _alive(int(entry.name)):
                found.append(int(entry.name))
    return found


def test_a_launcher_killed_mid_rehearsal_leaves_no_process_behind(tmp_path: Path) -> None:
    import shutil

    scratch = tmp_path / "scratch"
    scratch.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-c", _REHEARSING, str(scratch)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline() == b"go\n"
        deadline = time.monotonic() + 10
        seen: list[int] = []
        while not seen and time.monotonic() < deadline:
            seen = _processes_in(scratch)
            time.sleep(0.01)
        assert seen, "the rehearsal should be running"
        time.sleep(0.5)
    finally:
        proc.kill()  # as a test's teardown or an operator would: then the directory goes
        proc.wait()
    shutil.rmtree(scratch, ignore_errors=True)
    deadline = time.monotonic() + 15
    while _processes_in(scratch) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _processes_in(scratch) == []
