"""Section 4: what earlier runtimes learned the hard way, each with a real container."""

from __future__ import annotations

import hashlib
import os
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from .conftest import RUNC, Runtime, make_config  # type: ignore[import-not-found]

pytestmark = pytest.mark.root

LIST_FDS = "for f in /proc/self/fd/*; do echo ${f##*/}; done"


def _run_with_fd3(
    rt: Runtime,
    cfg: dict[str, Any],
    opened: Path,
    *run_opts: str,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """`dockyard-runc run` of ``cfg`` started with ``opened`` (a file or a directory) open
    read-only as its fd 3, as a caller passing fds (or systemd) leaves it."""
    fd = os.open(str(opened), os.O_RDONLY | (os.O_DIRECTORY if opened.is_dir() else 0))
    try:
        b = rt.bundle(cfg)
        return subprocess.run(
            [RUNC, "--root", str(rt.root), "run", *run_opts, "--bundle", str(b), rt.new_id()],
            capture_output=True,
            text=True,
            timeout=30,
            preexec_fn=lambda: os.dup2(fd, 3),
            close_fds=False,
            env=env,
        )
    finally:
        os.close(fd)


def test_no_fd_leaks_into_container(rt: Runtime, tmp_path: Path) -> None:
    leaked = os.open(str(tmp_path), os.O_RDONLY | os.O_DIRECTORY)  # not CLOEXEC on purpose
    os.set_inheritable(leaked, True)
    try:
        b = rt.bundle(make_config(["sh", "-c", LIST_FDS]))
        r = rt.cmd("run", "--bundle", str(b), rt.new_id(), pass_fds=(leaked,))
    finally:
        os.close(leaked)
    assert r.returncode == 0, r.stderr
    # The glob itself opens one fd for the directory it lists, after fd 2.
    fds = sorted(int(x) for x in r.stdout.split())
    assert (fds[:3] == [0, 1, 2] and len(fds) <= 4 and leaked not in fds[3:4]) or fds[3] < leaked


def test_preserve_fds(rt: Runtime, tmp_path: Path) -> None:
    f = tmp_path / "msg"
    f.write_text("preserved")
    # --preserve-fds N keeps fds 3..3+N-1.
    cfg = make_config(["sh", "-c", "cat <&3; echo; " + LIST_FDS])
    r = _run_with_fd3(rt, cfg, f, "--preserve-fds", "1")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.split()
    assert lines[0] == "preserved"
    assert 3 in [int(x) for x in lines[1:]]


def test_cwd_through_leaked_fd_refused(rt: Runtime, tmp_path: Path) -> None:
    # runc CVE-2024-21626: cwd /proc/self/fd/N with N a host directory fd.
    host_dir = tmp_path / "hostdir"
    host_dir.mkdir()
    cfg = make_config(["sh", "-c", "pwd; touch escaped"], cwd="/proc/self/fd/3")
    r = _run_with_fd3(rt, cfg, host_dir, "--preserve-fds", "1")
    assert r.returncode != 0
    assert "chdir to cwd" in r.stderr
    assert not (host_dir / "escaped").exists()


def test_relative_cwd_is_rejected(rt: Runtime) -> None:
    b = rt.bundle(make_config(["pwd"], cwd="tmp"))
    r = rt.cmd("run", "--bundle", str(b), rt.new_id())
    assert r.returncode != 0 and "cwd" in r.stderr


def test_symlinked_mount_target_stays_inside_root(rt: Runtime, tmp_path: Path) -> None:
    # runc CVE-2021-30465: a symlink in the image must not redirect a mount to the host.
    host_target = tmp_path / "host-victim"
    host_target.mkdir()
    (rt.rootfs / "evil").symlink_to(f"/../../../../../../../..{host_target}")
    src = tmp_path / "src"
    src.mkdir()
    (src / "marker").write_text("m")
    cfg = make_config(["sh", "-c", "cat /evil/x/marker"])
    cfg["mounts"].append(
        {"destination": "/evil/x", "type": "bind", "source": str(src), "options": ["rbind"]}
    )
    out = rt.output(cfg)
    assert out == "m"
    assert not (host_target / "x").exists()
    # The mount point was made inside the root, where the symlink points relative to it.
    assert (rt.rootfs / str(host_target).lstrip("/") / "x").is_dir()


def test_proc_must_be_a_real_directory(rt: Runtime, tmp_path: Path) -> None:
    (rt.rootfs / "proc").rmdir()
    (rt.rootfs / "proc").symlink_to("/tmp")
    r = rt.run(make_config(["true"]))
    assert r.returncode != 0 and "/proc" in r.stderr and "real directory" in r.stderr
    assert not (rt.root / rt.created[-1]).exists()


def _mask_over_fake_dev(
    rt: Runtime, tmp_path: Path, make_null: Callable[[Path], object]
) -> subprocess.CompletedProcess[str]:
    """Runs a container that masks /etc/passwd while a host directory is bound over /dev,
    its ``null`` made by ``make_null`` (so masking would bind whatever that is)."""
    fake_dev = tmp_path / "fakedev"
    fake_dev.mkdir()
    make_null(fake_dev / "null")
    cfg: dict[str, Any] = make_config(["true"])
    cfg["mounts"] = [m for m in cfg["mounts"] if not m["destination"].startswith("/dev")]
    cfg["mounts"].append(
        {"destination": "/dev", "type": "bind", "source": str(fake_dev), "options": ["rbind"]}
    )
    cfg["linux"]["maskedPaths"] = ["/etc/passwd"]
    r: subprocess.CompletedProcess[str] = rt.run(cfg)
    return r


def test_mask_source_must_be_dev_null(rt: Runtime, tmp_path: Path) -> None:
    # runc CVE-2025-31133: if /dev/null is not the real device, masking must not bind it.
    r = _mask_over_fake_dev(rt, tmp_path, lambda null: null.write_text("not null"))
    assert r.returncode != 0 and "null device" in r.stderr


def test_mask_with_symlinked_dev_null_refused(rt: Runtime, tmp_path: Path) -> None:
    # /dev/null as a symlink to a file: resolved inside the root, still not the device.
    r = _mask_over_fake_dev(rt, tmp_path, lambda null: null.symlink_to("/etc/group"))
    assert r.returncode != 0 and "null device" in r.stderr
    assert (rt.rootfs / "etc" / "passwd").read_text().startswith("root:")


def test_masked_path_symlink_stays_inside(rt: Runtime, tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("host data")
    (rt.rootfs / "etc" / "maskme").symlink_to(str(victim))
    cfg = make_config(["true"])
    cfg["linux"]["maskedPaths"] = ["/etc/maskme"]
    r = rt.run(cfg)
    # Resolved inside the root the symlink's target does not exist: nothing to mask.
    assert r.returncode == 0, r.stderr
    assert victim.read_text() == "host data"
    assert str(victim) not in Path("/proc/self/mountinfo").read_text()


def _sha256(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _runtime_interpreter() -> str:
    """The interpreter dockyard-runc runs on: its launcher's shebang (it may be the
    distribution's python, not the one running the tests)."""
    first = Path(RUNC).read_text().splitlines()[0]
    assert first.startswith("#!")
    return os.path.realpath(first[2:].split()[0])


def test_host_binaries_not_reachable_via_proc_exe(rt: Runtime) -> None:
    # runc CVE-2019-5736. A container process watches /proc for our setup processes while
    # we `exec` into it repeatedly: it may see them (comm) but must never resolve or open
    # their /proc/<pid>/exe (they are non-dumpable), and the host interpreter is unchanged.
    python = _runtime_interpreter()
    before = _sha256(python)
    # A link that resolves while comm still says dockyard-runc is the instant inside
    # execve() after the new image is in place: it then names the container's binary,
    # which is harmless. A leak is a link that resolves to the host's interpreter.
    watcher = (
        "end=$(( $(date +%s) + 8 )); seen=0; leak=0; "
        "while [ $(date +%s) -lt $end ] && [ ! -e /tmp/stop ]; do "
        "for p in /proc/[0-9]*; do "
        'c=$(cat $p/comm 2>/dev/null); case "$c" in dockyard*|python*) seen=$((seen+1)); '
        "l=$(readlink $p/exe 2>/dev/null); "
        'case "$l" in *python*|*dockyard*) leak=$((leak+1));; esac; '
        "(echo x >> $p/exe) 2>/dev/null && leak=$((leak+1));; esac; "
        "done; done; echo seen=$seen leak=$leak > /tmp/result"
    )
    cid = rt.create(make_config(["sh", "-c", watcher + "; sleep 100"]))
    rt.cmd("start", cid, check=True)
    results: list[int] = []

    def execs() -> None:
        deadline = time.monotonic() + 6
        while time.monotonic() < deadline:
            results.append(rt.cmd("exec", cid, "true").returncode)

    t = threading.Thread(target=execs)
    t.start()
    t.join(timeout=30)
    (rt.rootfs / "tmp" / "stop").write_text("")
    deadline = time.monotonic() + 10
    while not (rt.rootfs / "tmp" / "result").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    res = dict(kv.split("=") for kv in (rt.rootfs / "tmp" / "result").read_text().split())
    assert results and all(code == 0 for code in results)
    assert int(res["leak"]) == 0
    assert _sha256(python) == before
    # Informative, not required: how often the watcher caught a setup process at all.
    print(f"watcher saw setup processes {res['seen']} times over {len(results)} execs")


def test_init_is_not_dumpable_before_start(rt: Runtime) -> None:
    # Between create and start the init is still our Python process: it must be
    # non-dumpable, so a process in the container could not open its /proc/<pid>/exe.
    cid = rt.create(make_config(["true"]))
    pid = rt.state(cid)["pid"]
    watcher_cfg = make_config(["sh", "-c", "readlink /proc/1/exe && echo LEAK || echo blocked"])
    watcher_cfg["linux"]["namespaces"] = [
        {"type": "mount"},
        {"type": "pid", "path": f"/proc/{pid}/ns/pid"},
        {"type": "uts"},
    ]
    watcher_cfg["process"]["user"] = {"uid": 1000, "gid": 1000}
    out = rt.output(watcher_cfg)
    assert "blocked" in out and "LEAK" not in out


def test_listen_fds_are_passed_on(rt: Runtime, tmp_path: Path) -> None:
    f = tmp_path / "sock-standin"
    f.write_text("activated")
    cfg = make_config(["sh", "-c", "echo $LISTEN_FDS $LISTEN_PID; cat <&3"])
    env = {**os.environ, "LISTEN_FDS": "1", "LISTEN_PID": str(os.getpid())}
    r = _run_with_fd3(rt, cfg, f, env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["1", "1", "activated"]
