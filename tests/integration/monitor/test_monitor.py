"""The per-container monitor with a real OCI runtime (runc, and dockyard-runc when it works)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dockyard.engine.logs import log_files, read_logs
from dockyard.engine.monitor.client import (
    MonitorError,
    MonitorGone,
    MonitorHandle,
    spawn_monitor,
)
from dockyard.engine.monitor.protocol import FrameDecoder

pytestmark = pytest.mark.root

PROC = {"cwd": "/", "env": ["PATH=/bin"], "user": {"uid": 0, "gid": 0}}


def frames(data: bytes) -> list[tuple[int, bytes]]:
    return FrameDecoder().feed(data)


def streams(data: bytes) -> dict[int, bytes]:
    out: dict[int, bytes] = {1: b"", 2: b""}
    for s, d in frames(data):
        out[s] += d
    return out


def test_output_logs_and_exit_code(containers: Any) -> None:
    h, opts = containers.spawn(["sh", "-c", "echo out; echo err >&2; echo out2; exit 3"])
    status = h.status()
    assert status["started"] is False and status["pid"] > 0
    attach = h.attach(stdout=True, stderr=True)
    h.start()
    info = h.wait(timeout=30)
    assert info["exit_code"] == 3
    assert info["oom_killed"] is False
    got = streams(attach.read_all())
    assert got == {1: b"out\nout2\n", 2: b"err\n"}
    entries = [(e.stream, e.line) for e in read_logs(opts.log_path)]
    assert sorted(entries) == sorted(
        [("stdout", b"out\n"), ("stderr", b"err\n"), ("stdout", b"out2\n")]
    )
    exit_file = json.loads(Path(opts.state_dir, "exit.json").read_text())
    assert exit_file["exit_code"] == 3 and exit_file["finished_at"].endswith("Z")
    assert h.exit_status() == exit_file
    # The monitor stops answering before it reports the exit, then deletes the container
    # from the runtime and goes away.
    assert not h.alive()
    assert h.wait_exited(10)
    assert h.running_pid() is None
    listed = subprocess.run(
        [containers.runtime, "--root", containers.root, "list", "-q"],
        capture_output=True,
        text=True,
    ).stdout.split()
    assert opts.container_id not in listed
    assert h.wait() == exit_file  # waiting after the end still answers


def test_wait_sent_before_start_gets_a_fast_exit(containers: Any) -> None:
    for code in (0, 7):
        h, _ = containers.spawn(["sh", "-c", f"exit {code}"])
        pending = h.begin_wait()
        h.start()
        t0 = time.monotonic()
        info = pending.result()
        assert info["exit_code"] == code
        assert info == h.exit_status()  # the same fields as exit.json
        assert time.monotonic() - t0 < 10
        assert h.wait_exited(10) and h.running_pid() is None


def test_pending_wait_on_a_gone_monitor_reads_exit_json(containers: Any) -> None:
    h, _ = containers.spawn(["sh", "-c", "exit 5"])
    h.start()
    assert h.wait(timeout=30)["exit_code"] == 5
    assert h.wait_exited(10)
    # No monitor answers any more: the stored status is the answer.
    assert h.begin_wait().result()["exit_code"] == 5


def test_missing_executable_is_the_runtimes_message(containers: Any) -> None:
    # runc reports it at create; a runtime may also report it at start, or from its init
    # (exit code 127 and the message on the container's stderr).
    try:
        h, opts = containers.spawn(["no-such-binary"])
        try:
            h.start()
        except MonitorError as err:
            message = str(err)
        else:
            assert h.wait(timeout=30)["exit_code"] == 127
            message = b"".join(e.line for e in read_logs(opts.log_path)).decode()
    except MonitorError as err:
        message = str(err)
    assert "executable file not found" in message or "no such file" in message.lower()


def test_killed_container_exit_code(containers: Any) -> None:
    h, _ = containers.spawn(["sleep", "60"])
    h.start()
    assert h.status()["running"] is True
    h.kill("KILL")
    assert h.wait(timeout=30)["exit_code"] == 137
    with pytest.raises(MonitorGone):
        h.status()


def test_several_attach_clients_get_the_output(containers: Any) -> None:
    h, _ = containers.spawn(["sh", "-c", "read x; echo got $x; echo bye >&2"], stdin=True)
    a1 = h.attach(stdin=True, stdout=True, stderr=True)
    a2 = h.attach(stdout=True, stderr=False)
    h.start()
    a1.sock.sendall(b"hello\n")
    r1, r2 = streams(a1.read_all()), streams(a2.read_all())
    assert r1 == {1: b"got hello\n", 2: b"bye\n"}
    assert r2 == {1: b"got hello\n", 2: b""}
    assert h.wait()["exit_code"] == 0


def test_stdin_once_closes_stdin_when_the_client_ends(containers: Any) -> None:
    h, _ = containers.spawn(["cat"], stdin=True, stdin_once=True)
    a = h.attach(stdin=True, stdout=True, stderr=True)
    h.start()
    a.sock.sendall(b"line one\nline two\n")
    a.sock.shutdown(socket.SHUT_WR)  # EOF for cat; the output still comes back
    assert streams(a.read_all())[1] == b"line one\nline two\n"
    assert h.wait(timeout=30)["exit_code"] == 0


def test_tty_and_resize(containers: Any) -> None:
    h, _ = containers.spawn(["sh"], tty=True, stdin=True)
    a = h.attach(stdin=True, stdout=True)
    h.start()
    h.resize(33, 101)
    a.sock.sendall(b"tty; stty size; exit 5\n")
    out = a.read_all()
    assert b"/dev/pts/0" in out
    assert b"33 101" in out
    assert h.wait()["exit_code"] == 5


def test_detach_keys_end_only_that_client(containers: Any) -> None:
    h, _ = containers.spawn(["sh"], tty=True, stdin=True)
    a = h.attach(stdin=True, stdout=True)
    h.start()
    a.sock.sendall(b"echo one\n\x10\x11")
    a.read_all()  # the monitor closes this client's stream
    assert h.status()["running"] is True
    b = h.attach(stdin=True, stdout=True)
    b.sock.sendall(b"exit 9\n")
    b.read_all()
    assert h.wait()["exit_code"] == 9


def test_exec_with_output_and_exit_code(containers: Any) -> None:
    h, _ = containers.spawn(["sleep", "60"])
    h.start()
    a = h.attach(exec_id="e1", process=dict(PROC, args=["sh", "-c", "echo o; echo e >&2; exit 4"]))
    assert streams(a.read_all()) == {1: b"o\n", 2: b"e\n"}
    st = h.exec_status("e1")
    assert st["exit_code"] == 4 and st["running"] is False
    # Attach first, then start the exec through the control socket.
    b = h.attach(exec_id="e2")
    reply = h.exec("e2", dict(PROC, args=["echo", "two"]))
    assert reply["pid"] > 0
    assert streams(b.read_all())[1] == b"two\n"
    assert h.exec_status("e2")["exit_code"] == 0
    # exec stdin is closed when the client's input ends.
    c = h.attach(exec_id="e3", stdin=True, process=dict(PROC, args=["cat"]))
    c.sock.sendall(b"piped\n")
    c.sock.shutdown(socket.SHUT_WR)
    assert streams(c.read_all())[1] == b"piped\n"
    with pytest.raises(MonitorError, match=r"executable file not found|no such file"):
        h.attach(exec_id="e4", process=dict(PROC, args=["nope"]))
    assert h.exec_status("e4")["exit_code"] in (126, 127)
    h.kill(9)
    assert h.wait()["exit_code"] == 137


def test_exec_with_tty(containers: Any) -> None:
    h, _ = containers.spawn(["sleep", "60"])
    h.start()
    # A resize that overtakes the exec's start is kept for its pty.
    h.exec_resize("t1", 20, 70)
    a = h.attach(exec_id="t1", stdin=True, tty=True, process=dict(PROC, args=["sh"]))
    a.sock.sendall(b"tty; stty size; exit 6\n")
    out = a.read_all()
    assert b"/dev/pts/" in out and b"20 70" in out
    assert h.exec_status("t1")["exit_code"] == 6
    h.kill(9)
    h.wait()


def test_detached_exec(containers: Any, wait_for: Callable[..., bool]) -> None:
    h, opts = containers.spawn(["sleep", "60"])
    h.start()
    h.exec("d1", dict(PROC, args=["sh", "-c", "echo hi > /tmp/flag"]), detach=True)
    rootfs = Path(opts.bundle, "rootfs")
    assert wait_for(lambda: (rootfs / "tmp/flag").exists(), 10)
    assert wait_for(lambda: h.exec_status("d1")["exit_code"] == 0, 10)
    h.kill(9)
    h.wait()


SPAWNER = """
import sys
from dockyard.engine.monitor.client import MonitorOptions, spawn_monitor
opts = MonitorOptions.from_json(sys.argv[1])
h = spawn_monitor(opts, use_launcher=sys.argv[2] == "launcher")
h.start()
print(h.status()["pid"])
"""


@pytest.mark.parametrize("how", ["launcher", "direct"])
def test_monitor_survives_its_spawner(containers: Any, how: str) -> None:
    cid, bdir = containers.bundle(["sh", "-c", "echo started; sleep 60"])
    opts = containers.options(cid, bdir)
    containers.made.append((cid, opts.state_dir))
    # Spawn from a process that then exits, as a daemon that restarts would.
    r = subprocess.run(
        [sys.executable, "-c", SPAWNER, opts.to_json(), how],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    init_pid = int(r.stdout.strip())
    h = MonitorHandle(opts.state_dir)
    assert h.alive()
    st = h.status()
    assert st["running"] is True and st["pid"] == init_pid
    mon_pid = int(Path(opts.state_dir, "monitor.pid").read_text())
    # Not the spawner's child: reparented away (to init or a subreaper).
    ppid = int(Path(f"/proc/{mon_pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    assert ppid != os.getpid()
    assert h.pid == init_pid
    h.kill("KILL")
    assert h.wait(timeout=30)["exit_code"] == 137
    assert [e.line for e in read_logs(opts.log_path)] == [b"started\n"]


def test_log_rotation(containers: Any) -> None:
    script = "i=0; while [ $i -lt 400 ]; do echo line-$i-xxxxxxxxxxxxxxxxxxxx; i=$((i+1)); done"
    h, opts = containers.spawn(["sh", "-c", script], log_max_size=4096, log_max_file=3)
    h.start()
    assert h.wait(timeout=30)["exit_code"] == 0
    files = log_files(opts.log_path)
    assert len(files) == 3
    assert all(os.path.getsize(f) <= 4096 for f in files)
    lines = [e.line for e in read_logs(opts.log_path)]
    assert lines[-1] == b"line-399-xxxxxxxxxxxxxxxxxxxx\n"
    nums = [int(x.split(b"-")[1]) for x in lines]
    assert nums == list(range(nums[0], 400)) and nums[0] > 0


def test_generated_spec_applies_dockers_defaults(containers: Any) -> None:
    h, _ = containers.spawn(
        [
            "sh",
            "-c",
            "grep CapEff /proc/self/status; grep Seccomp: /proc/self/status; "
            "cat /sys/fs/cgroup/pids/pids.max; hostname",
        ],
        create={"HostConfig": {"PidsLimit": 42}},
    )
    a = h.attach()
    h.start()
    out = streams(a.read_all())[1].decode()
    assert h.wait()["exit_code"] == 0
    assert "CapEff:\t00000000a80425fb" in out
    assert "Seccomp:\t2" in out
    assert "42" in out.split()


def _smaps(pid: int) -> dict[str, int]:
    out = {}
    for ln in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        key, value = ln.split()[:2]
        out[key.rstrip(":")] = int(value)
    return out


def test_idle_monitor_memory(containers: Any, tmp_path: Path) -> None:
    shared = str(tmp_path / "launcher")
    handles, pids = [], []
    for _ in range(3):
        h, opts = containers.spawn(["sleep", "60"], launcher_dir=shared)
        h.start()
        handles.append(h)
        pids.append(int(Path(opts.state_dir, "monitor.pid").read_text()))
    direct, dopts = containers.spawn(["sleep", "60"], use_launcher=False)
    direct.start()
    time.sleep(0.3)
    forked = [_smaps(p) for p in pids]
    alone = _smaps(int(Path(dopts.state_dir, "monitor.pid").read_text()))
    private = sum(m["Private_Dirty"] for m in forked) / len(forked)
    print(
        f"idle monitor: forked by the launcher PSS {forked[0]['Pss']} kB, private dirty "
        f"{private:.0f} kB; started alone PSS {alone['Pss']} kB"
    )
    # Regression guards, well above the figures measured (about 2 MB and 6-8 MB).
    assert private < 4 * 1024
    assert private < alone["Private_Dirty"]
    assert alone["Pss"] < 20 * 1024
    for h in [*handles, direct]:
        h.kill(9)
        assert h.wait(timeout=30)["exit_code"] == 137


def test_stale_launcher_is_replaced(containers: Any, tmp_path: Path) -> None:
    from dockyard.engine.monitor.client import connect_unix
    from dockyard.engine.monitor.protocol import decode_message, encode_message

    shared = tmp_path / "launcher"
    h, _ = containers.spawn(["true"], launcher_dir=str(shared))
    h.start()
    h.wait(timeout=30)
    first = int((shared / "monitor-launcher.lock").read_text())
    # A client from another version of the code: the launcher says so and exits.
    with connect_unix(str(shared / "monitor-launcher.sock")) as sock:
        sock.sendall(encode_message({"state_dir": "/nonexistent", "code": "other"}))
        assert decode_message(sock.makefile("rb").readline()) == {"ok": False, "stale": True}
    deadline = time.monotonic() + 10
    while Path(f"/proc/{first}").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not Path(f"/proc/{first}/cwd").exists()
    h2, opts2 = containers.spawn(["sh", "-c", "echo again"], launcher_dir=str(shared))
    h2.start()
    assert h2.wait(timeout=30)["exit_code"] == 0
    assert int((shared / "monitor-launcher.lock").read_text()) != first
    assert [e.line for e in read_logs(opts2.log_path)] == [b"again\n"]


def test_oom_killed_is_reported(containers: Any) -> None:
    if (
        not Path("/sys/fs/cgroup/memory").is_dir()
        and not Path("/sys/fs/cgroup/memory.events").exists()
    ):
        pytest.skip("no memory cgroup controller")
    h, _ = containers.spawn(
        ["sh", "-c", "dd if=/dev/zero of=/dev/null bs=64M count=1; exit 0"],
        create={"HostConfig": {"Memory": 8 << 20, "MemorySwap": 8 << 20}},
    )
    h.start()
    info = h.wait(timeout=30)
    assert info["exit_code"] == 0  # the shell survived; dd was OOM-killed
    assert info["oom_killed"] is True


def test_no_oom_without_pressure(containers: Any) -> None:
    h, _ = containers.spawn(["true"], create={"HostConfig": {"Memory": 64 << 20}})
    h.start()
    assert h.wait(timeout=30) | {"finished_at": "", "started_at": "", "pid": 0} == {
        "exit_code": 0,
        "oom_killed": False,
        "finished_at": "",
        "started_at": "",
        "pid": 0,
    }


def test_control_protocol_errors(containers: Any) -> None:
    from dockyard.engine.monitor.client import connect_unix

    h, opts = containers.spawn(["sleep", "60"])
    with pytest.raises(MonitorError, match="has no terminal"):
        h.resize(10, 10)
    with pytest.raises(MonitorError, match="No such exec instance"):
        h.exec_status("nope")
    h.start()
    with pytest.raises(MonitorError, match="already started"):
        h.start()
    with pytest.raises(MonitorError, match="invalid signal"):
        h.kill("SIGNOPE")
    # Several requests on one connection; a bad line gets an error and the rest still work.
    with connect_unix(str(Path(opts.state_dir, "control.sock"))) as sock:
        sock.sendall(b'not json\n{"cmd":"bogus"}\n{"cmd":"status"}\n')
        reader = sock.makefile("rb")
        replies = [json.loads(reader.readline()) for _ in range(3)]
    assert replies[0]["ok"] is False and "invalid JSON" in replies[0]["error"]
    assert replies[1] == {"ok": False, "error": "unknown command: 'bogus'"}
    assert replies[2]["ok"] is True and replies[2]["running"] is True
    # An attach request that is not JSON is refused on that connection only.
    with connect_unix(str(Path(opts.state_dir, "attach.sock"))) as sock:
        sock.sendall(b"hello\n")
        reply = json.loads(sock.makefile("rb").readline())
    assert reply["ok"] is False
    h.kill("TERM")  # sleep as PID 1 ignores it: still running
    time.sleep(0.2)
    assert h.status()["running"] is True
    h.kill("KILL")
    assert h.wait(timeout=30)["exit_code"] == 137
    with pytest.raises(MonitorGone):
        h.kill("KILL")


def test_long_state_dir_paths(containers: Any, tmp_path: Path) -> None:
    # Unix socket paths are limited to 108 bytes; the monitor and its clients must cope.
    cid, bdir = containers.bundle(["sh"], tty=True)
    deep = tmp_path / ("s" * 70) / ("t" * 70)
    opts = containers.options(cid, bdir, tty=True, stdin=True)
    opts.state_dir = str(deep / "state")
    opts.log_path = str(deep / "state" / "log.json")
    containers.made.append((cid, opts.state_dir))
    assert len(os.path.join(opts.state_dir, "console.sock")) > 108
    h = spawn_monitor(opts, launcher_dir=str(deep))
    a = h.attach(stdin=True, stdout=True)
    h.start()
    h.resize(12, 34)
    e = h.attach(exec_id="x1", tty=True, stdin=True, process=dict(PROC, args=["sh"]))
    h.exec_resize("x1", 21, 43)
    e.sock.sendall(b"stty size; exit 3\n")
    assert b"21 43" in e.read_all()
    assert h.exec_status("x1")["exit_code"] == 3
    a.sock.sendall(b"stty size; exit 4\n")
    assert b"12 34" in a.read_all()
    assert h.wait(timeout=30)["exit_code"] == 4


def test_without_tty_stdin_is_data(containers: Any) -> None:
    import hashlib

    payload = bytes(range(256)) * 64  # every byte value, ctrl-p ctrl-q included
    h, _ = containers.spawn(["md5sum"], stdin=True, stdin_once=True)
    a = h.attach(stdin=True, stdout=True, stderr=True)
    h.start()
    a.sock.sendall(payload)
    a.sock.shutdown(socket.SHUT_WR)
    out = streams(a.read_all())[1]
    assert out.split()[:1] == [hashlib.md5(payload).hexdigest().encode()]
    assert h.wait(timeout=30)["exit_code"] == 0


def test_slow_reader_gets_all_output_after_the_exit(containers: Any) -> None:
    h, _ = containers.spawn(["sh", "-c", "head -c 3000000 /dev/zero | tr '\\0' a; echo end"])
    a = h.attach(stdout=True, stderr=True)
    h.start()
    assert h.wait(timeout=30)["exit_code"] == 0
    time.sleep(2.5)  # the container is long gone; its output waits for us
    out = streams(a.read_all())[1]
    assert len(out) == 3_000_004 and out.endswith(b"aend\n")


def test_concurrent_spawns_share_one_launcher(containers: Any, tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    shared = tmp_path / "launcher"
    bundles = [containers.bundle(["sh", "-c", f"echo n{i}"]) for i in range(4)]

    def one(i: int) -> tuple[int, str]:
        cid, bdir = bundles[i]
        opts = containers.options(cid, bdir)
        containers.made.append((cid, opts.state_dir))
        h = spawn_monitor(opts, launcher_dir=str(shared))
        h.start()
        code = h.wait(timeout=60)["exit_code"]
        return code, b"".join(e.line for e in read_logs(opts.log_path)).decode()

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(one, range(4)))
    assert results == [(0, f"n{i}\n") for i in range(4)]
    holders = {int((shared / "monitor-launcher.lock").read_text())}
    assert len(holders) == 1
    assert Path(f"/proc/{holders.pop()}").exists()


def test_dead_launcher_is_replaced(containers: Any, tmp_path: Path) -> None:
    import signal

    shared = tmp_path / "launcher"
    h, _ = containers.spawn(["sleep", "60"], launcher_dir=str(shared))
    h.start()
    first = int((shared / "monitor-launcher.lock").read_text())
    os.kill(first, signal.SIGKILL)  # leaves its socket file behind
    deadline = time.monotonic() + 10
    while Path(f"/proc/{first}/cwd").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert (shared / "monitor-launcher.sock").exists()
    # The monitor it forked does not depend on it.
    assert h.status()["running"] is True
    h2, _ = containers.spawn(["true"], launcher_dir=str(shared))
    h2.start()
    assert h2.wait(timeout=30)["exit_code"] == 0
    assert int((shared / "monitor-launcher.lock").read_text()) != first
    h.kill(9)
    assert h.wait(timeout=30)["exit_code"] == 137


def test_our_runtime_runs_in_forks_of_the_monitor(containers: Any, tmp_path: Path) -> None:
    """dockyard-runc's commands run in forks of the (preloaded) monitor, any other runtime
    as a program; either way the container holds none of the monitor's descriptors."""
    from dockyard.engine.monitor import inprocess

    ours = inprocess.usable(containers.runtime)
    assert ours is (Path(containers.runtime).name == "dockyard-runc")
    outputs = []
    for args in (["ls", "/proc/self/fd"], ["grep", "-E", "Sig(Ign|Blk)", "/proc/self/status"]):
        h, _ = containers.spawn(args, launcher_dir=str(tmp_path / "launcher"))
        assert h.status()["runtime_forks"] is ours
        attach = h.attach(stdout=True, stderr=True)
        h.start()
        assert h.wait(timeout=30)["exit_code"] == 0
        outputs.append(streams(attach.read_all())[1].decode().split())
    # stdio and ls's own directory fd: none of the monitor's sockets, logs or pipes.
    assert outputs[0] == ["0", "1", "2", "3"]
    if ours:  # (runc passes on what its parent ignores, e.g. glibc's signal 32)
        assert outputs[1] == ["SigBlk:", "0" * 16, "SigIgn:", "0" * 16]
