"""create → start → state → kill → delete, run exit codes, list/ps, pause/resume, kill --all."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from .conftest import Runtime, make_config

pytestmark = pytest.mark.root


def wait_status(rt: Runtime, cid: str, status: str, timeout: float = 10) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while True:
        st = rt.state(cid)
        if st["status"] == status or time.monotonic() > deadline:
            return st
        time.sleep(0.05)


def test_create_start_kill_delete(rt: Runtime, tmp_path: Path) -> None:
    pid_file = tmp_path / "init.pid"
    cid = rt.create(make_config(["sleep", "100"]), "--pid-file", str(pid_file))
    st = rt.state(cid)
    assert st["status"] == "created"
    assert st["pid"] == int(pid_file.read_text()) > 0
    assert st["id"] == cid and st["ociVersion"] and st["rootfs"] == str(rt.rootfs)
    assert "created" in st and isinstance(st["annotations"], dict)
    # Until start, the init waits on the exec fifo: it has not run `sleep` yet.
    assert "python" in Path(f"/proc/{st['pid']}/exe").resolve().name
    assert rt.cmd("start", cid).returncode == 0
    assert rt.state(cid)["status"] == "running"
    assert Path(f"/proc/{st['pid']}/exe").resolve().name == "busybox"
    bad = rt.cmd("start", cid)
    assert bad.returncode != 0 and "running" in bad.stderr
    assert rt.cmd("delete", cid).returncode != 0  # running: needs --force
    assert rt.cmd("kill", cid, "KILL").returncode == 0
    st = wait_status(rt, cid, "stopped")
    assert st["status"] == "stopped" and st["pid"] == 0
    assert rt.cmd("kill", cid, "TERM").returncode != 0
    assert rt.cmd("delete", cid).returncode == 0
    assert not (rt.root / cid).exists()
    r = rt.cmd("state", cid)
    assert r.returncode != 0 and "does not exist" in r.stderr


def test_delete_created_container(rt: Runtime) -> None:
    cid = rt.create(make_config(["true"]))
    pid = rt.state(cid)["pid"]
    assert rt.cmd("delete", cid).returncode == 0
    assert not (rt.root / cid).exists()
    deadline = time.monotonic() + 5
    while Path(f"/proc/{pid}/stat").exists() and time.monotonic() < deadline:
        if Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith("Z"):
            break
        time.sleep(0.02)
    stat = Path(f"/proc/{pid}/stat")
    assert not stat.exists() or stat.read_text().split(") ")[1].startswith("Z")


@pytest.mark.parametrize(
    ("script", "code"),
    [("exit 0", 0), ("exit 7", 7), ("kill -9 $$", 137), ("kill -15 $$", 143)],
)
def test_run_exit_status(rt: Runtime, script: str, code: int) -> None:
    # kill -15 of PID 1 is ignored by the kernel unless it has a handler: use a subshell pid.
    if "kill" in script:
        cfg = make_config(["sh", "-c", f"sh -c '{script}'; exit $?"])
    else:
        cfg = make_config(["sh", "-c", script])
    assert rt.run(cfg).returncode == code


def test_run_detach_then_delete(rt: Runtime) -> None:
    b = rt.bundle(make_config(["sleep", "100"]))
    cid = rt.new_id()
    assert rt.cmd("run", "--detach", "--bundle", str(b), cid).returncode == 0
    assert rt.state(cid)["status"] == "running"
    assert rt.cmd("delete", "--force", cid).returncode == 0
    assert not (rt.root / cid).exists()


def test_run_keep(rt: Runtime) -> None:
    b = rt.bundle(make_config(["true"]))
    cid = rt.new_id()
    assert rt.cmd("run", "--keep", "--bundle", str(b), cid).returncode == 0
    assert rt.state(cid)["status"] == "stopped"
    assert rt.cmd("delete", cid).returncode == 0


def test_list_and_ps(rt: Runtime) -> None:
    cid = rt.create(make_config(["sleep", "100"]))
    rt.cmd("start", cid, check=True)
    docs = json.loads(rt.cmd("list", "--format", "json", check=True).stdout)
    assert [d["id"] for d in docs] == [cid] and docs[0]["status"] == "running"
    table = rt.cmd("list", check=True).stdout.splitlines()
    assert table[0].split()[:3] == ["ID", "PID", "STATUS"] and cid in table[1]
    pids = json.loads(rt.cmd("ps", "--format", "json", cid, check=True).stdout)
    assert pids == [rt.state(cid)["pid"]]
    ps = rt.cmd("ps", cid, check=True).stdout
    assert "sleep 100" in ps


def test_pause_resume(rt: Runtime) -> None:
    cid = rt.create(make_config(["sleep", "100"]))
    rt.cmd("start", cid, check=True)
    pid = rt.state(cid)["pid"]
    assert rt.cmd("pause", cid).returncode == 0
    assert rt.state(cid)["status"] == "paused"
    # A frozen task shows state D or its freezer cgroup says FROZEN.
    cgroup = [
        ln for ln in Path(f"/proc/{pid}/cgroup").read_text().splitlines() if ":freezer:" in ln
    ]
    if cgroup:
        path = cgroup[0].split(":", 2)[2]
        assert Path(f"/sys/fs/cgroup/freezer{path}/freezer.state").read_text().strip() == "FROZEN"
    assert rt.cmd("pause", cid).returncode != 0
    assert rt.cmd("resume", cid).returncode == 0
    assert rt.state(cid)["status"] == "running"
    assert rt.cmd("resume", cid).returncode != 0


def test_kill_all(rt: Runtime) -> None:
    cfg = make_config(["sh", "-c", "sleep 100 & sleep 100 & wait"])
    cfg["linux"]["namespaces"] = [n for n in cfg["linux"]["namespaces"] if n["type"] != "pid"]
    cid = rt.create(cfg)
    rt.cmd("start", cid, check=True)
    deadline = time.monotonic() + 5
    pids: list[int] = []
    while len(pids) < 3 and time.monotonic() < deadline:
        pids = json.loads(rt.cmd("ps", "--format", "json", cid, check=True).stdout)
        time.sleep(0.05)
    assert len(pids) == 3
    assert rt.cmd("kill", "--all", cid, "9").returncode == 0
    assert wait_status(rt, cid, "stopped")["status"] == "stopped"
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.05)
    assert not any(_alive(p) for p in pids)


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] not in "ZX"
    except FileNotFoundError:
        return False


def test_kill_signal_names(rt: Runtime) -> None:
    cfg = make_config(
        ["sh", "-c", "trap 'echo got-usr1; exit 3' USR1; while :; do sleep 0.1; done"]
    )
    cid = rt.create(cfg)
    rt.cmd("start", cid, check=True)
    time.sleep(0.3)
    assert rt.cmd("kill", cid, "SIGUSR1").returncode == 0
    assert wait_status(rt, cid, "stopped")["status"] == "stopped"
    assert rt.cmd("kill", cid, "NOTASIGNAL").returncode != 0


def test_nothing_left_after_delete(rt: Runtime) -> None:
    cid = rt.create(make_config(["sleep", "100"]))
    rt.cmd("start", cid, check=True)
    pid = rt.state(cid)["pid"]
    cgroups = [ln.split(":", 2)[2] for ln in Path(f"/proc/{pid}/cgroup").read_text().splitlines()]
    ctrl_paths = [ln.split(":", 2) for ln in Path(f"/proc/{pid}/cgroup").read_text().splitlines()]
    assert any(cid in c for c in cgroups)
    assert rt.cmd("delete", "--force", cid).returncode == 0
    assert str(rt.rootfs) not in Path("/proc/self/mountinfo").read_text()
    assert not (rt.root / cid).exists()
    for _, ctrls, path in ctrl_paths:
        if cid not in path:
            continue
        name = ctrls.removeprefix("name=") if ctrls else "unified"
        base = Path("/sys/fs/cgroup") / name if Path("/sys/fs/cgroup", name).exists() else None
        if base is not None:
            assert not (base / path.lstrip("/")).exists(), f"left {base / path}"
    assert os.listdir(rt.root) == []


def test_run_forwards_signals(rt: Runtime) -> None:
    import signal
    import subprocess

    from .conftest import RUNC

    script = "trap 'echo got-term; exit 12' TERM; echo ready; while :; do sleep 0.1; done"
    b = rt.bundle(make_config(["sh", "-c", script]))
    p = subprocess.Popen(
        [RUNC, "--root", str(rt.root), "run", "--bundle", str(b), rt.new_id()],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert p.stdout is not None
    assert p.stdout.readline().strip() == "ready"
    p.send_signal(signal.SIGTERM)
    out, _ = p.communicate(timeout=20)
    assert "got-term" in out
    assert p.returncode == 12


@pytest.mark.parametrize("how", ["create", "run-detach"])
def test_init_is_in_every_cgroup_hierarchy(rt: Runtime, how: str) -> None:
    cfg = make_config(["sleep", "100"])
    if how == "create":
        cid = rt.create(cfg)
        rt.cmd("start", cid, check=True)
    else:
        b = rt.bundle(cfg)
        cid = rt.new_id()
        rt.cmd("run", "--detach", "--bundle", str(b), cid, check=True)
    pid = rt.state(cid)["pid"]
    lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    assert lines and all(ln.endswith(f"/{cid}") for ln in lines), lines


def test_term_ends_a_created_container(rt: Runtime) -> None:
    cid = rt.create(make_config(["sleep", "100"]))
    assert rt.cmd("kill", cid, "TERM").returncode == 0
    assert wait_status(rt, cid, "stopped", timeout=5)["status"] == "stopped"
    assert rt.cmd("delete", cid).returncode == 0
