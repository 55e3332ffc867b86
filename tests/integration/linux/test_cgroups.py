"""A real cgroup on this host: create, limit, enforce, freeze, count, kill, remove."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator

import pytest

from dockyard.linux.cgroups import Cgroup, CgroupError, cgroup_mode

pytestmark = pytest.mark.root

BUSYBOX = "/bin/busybox"


@pytest.fixture
def cgroup() -> Iterator[Cgroup]:
    # Relative path: nested under this test process's own cgroups, so limits that
    # the machine puts on us keep applying to the children.
    parent = f"dockyard-test-{uuid.uuid4().hex[:10]}"
    cg = Cgroup.for_path(f"{parent}/box", "box")
    cg.create()
    try:
        yield cg
    finally:
        for pid in cg.pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        cg.destroy()
        for d in set(cg.dirs.values()):
            top = os.path.dirname(d)
            if os.path.basename(top) == parent:
                os.rmdir(top)


def gated(cg: Cgroup, *argv: str) -> subprocess.Popen[bytes]:
    """Start argv through a shell that waits on stdin, join it to the cgroup, let it go."""
    p = subprocess.Popen(
        [BUSYBOX, "sh", "-c", 'read go; exec "$@"', "sh", *argv],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    cg.add_pid(p.pid)
    assert p.stdin is not None
    p.stdin.write(b"go\n")
    p.stdin.close()
    p.stdin = None  # so communicate() does not flush it
    return p


def state(pid: int) -> str:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("State:"):
                return line.split()[1]
    return "?"


def test_mode_is_detected() -> None:
    mode = cgroup_mode()
    assert mode in ("v1", "hybrid", "v2")
    if os.path.isdir("/sys/fs/cgroup/memory"):
        assert mode in ("v1", "hybrid")


def test_limits_are_written_and_read_back(cgroup: Cgroup) -> None:
    cgroup.set_resources(
        {
            "memory": {"limit": 64 << 20, "swap": 96 << 20, "reservation": 32 << 20},
            "cpu": {"shares": 512, "quota": 20000, "period": 100000, "cpus": "0", "mems": "0"},
            "pids": {"limit": 16},
            "devices": [
                {"allow": False, "access": "rwm"},
                {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
                {"allow": True, "type": "c", "major": 136, "access": "rw"},
            ],
        }
    )

    def read(controller: str, name: str) -> str:
        with open(os.path.join(cgroup.dirs[controller], name)) as f:
            return f.read().strip()

    if cgroup.mode == "v2":
        assert read("", "memory.max") == str(64 << 20)
        assert read("", "memory.swap.max") == str(32 << 20)
        assert read("", "cpu.max") == "20000 100000"
        assert read("", "pids.max") == "16"
        return
    assert read("memory", "memory.limit_in_bytes") == str(64 << 20)
    assert read("memory", "memory.memsw.limit_in_bytes") == str(96 << 20)
    assert read("memory", "memory.soft_limit_in_bytes") == str(32 << 20)
    assert read("cpu", "cpu.shares") == "512"
    assert read("cpu", "cpu.cfs_quota_us") == "20000"
    assert read("cpuset", "cpuset.cpus") == "0"
    assert read("pids", "pids.max") == "16"
    assert read("devices", "devices.list").splitlines() == ["c 1:3 rwm", "c 136:* rw"]


def test_raising_limits_reorders_memsw(cgroup: Cgroup) -> None:
    if cgroup.mode == "v2":
        pytest.skip("memsw ordering is a v1 matter")
    cgroup.set_resources({"memory": {"limit": 32 << 20, "swap": 32 << 20}})
    # Raising memory above the current memsw only works after memsw is raised.
    cgroup.set_resources({"memory": {"limit": 128 << 20, "swap": 256 << 20}})
    with open(os.path.join(cgroup.dirs["memory"], "memory.limit_in_bytes")) as f:
        assert f.read().strip() == str(128 << 20)


def test_memory_limit_is_enforced(cgroup: Cgroup) -> None:
    cgroup.set_resources({"memory": {"limit": 16 << 20, "swap": 16 << 20}})
    p = gated(cgroup, BUSYBOX, "dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1")
    p.communicate(timeout=30)
    assert p.returncode == -signal.SIGKILL  # the OOM killer
    big = gated(cgroup, BUSYBOX, "dd", "if=/dev/zero", "of=/dev/null", "bs=4M", "count=1")
    big.communicate(timeout=30)
    assert big.returncode == 0


def test_pids_limit_is_enforced(cgroup: Cgroup) -> None:
    cgroup.set_resources({"pids": {"limit": 3}})
    script = "for i in 1 2 3 4 5 6; do sleep 5 & done; echo spawned; kill $(jobs -p); wait"
    p = gated(cgroup, BUSYBOX, "sh", "-c", script)
    _, err = p.communicate(timeout=30)
    assert b"fork" in err.lower() or b"resource temporarily unavailable" in err.lower(), err


def test_freeze_thaw_stats_kill_destroy(cgroup: Cgroup) -> None:
    cgroup.set_resources({"memory": {"limit": 64 << 20}, "pids": {"limit": 20}})
    # A shell with two children that burn a little CPU and hold memory.
    p = gated(
        cgroup,
        BUSYBOX,
        "sh",
        "-c",
        "dd if=/dev/zero of=/dev/null bs=1M count=200000 & "
        "dd if=/dev/zero of=/dev/null bs=4M count=100000 & wait",
    )
    deadline = time.monotonic() + 10
    while len(cgroup.pids()) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    pids = cgroup.pids()
    assert p.pid in pids and len(pids) == 3

    cgroup.freeze()
    assert cgroup.frozen()
    if cgroup.mode != "v2":
        assert all(state(pid) == "D" for pid in pids)  # v1 freezer shows frozen as D
    cgroup.thaw()
    assert not cgroup.frozen()
    assert all(state(pid) in ("R", "S") for pid in pids)

    time.sleep(0.2)
    st = cgroup.stats()
    assert st["cpu"]["usage_ns"] > 0
    assert st["memory"]["usage"] > 4 << 20
    assert st["memory"]["limit"] == 64 << 20
    assert st["pids"] == {"current": 3, "limit": 20}

    cgroup.kill_all(signal.SIGKILL)
    p.communicate(timeout=10)
    assert p.returncode == -signal.SIGKILL
    deadline = time.monotonic() + 5
    while cgroup.pids() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert cgroup.pids() == []

    cgroup.destroy()
    assert [d for d in cgroup.dirs.values() if os.path.exists(d)] == []


def test_kill_all_with_another_signal(cgroup: Cgroup) -> None:
    p = gated(cgroup, BUSYBOX, "sh", "-c", "trap 'echo got-term; exit 3' TERM; sleep 30 & wait")
    deadline = time.monotonic() + 10
    while len(cgroup.pids()) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    cgroup.kill_all(signal.SIGTERM)
    out, _ = p.communicate(timeout=10)
    assert p.returncode == 3 and b"got-term" in out


def test_nested_cgroups_are_removed_too(cgroup: Cgroup) -> None:
    for d in set(cgroup.dirs.values()):
        os.makedirs(os.path.join(d, "inner", "deeper"))
    cgroup.destroy()
    assert [d for d in cgroup.dirs.values() if os.path.exists(d)] == []


def test_cpuset_is_usable_at_once(cgroup: Cgroup) -> None:
    if "cpuset" not in cgroup.dirs or cgroup.mode == "v2":
        pytest.skip("no v1 cpuset")
    for name in ("cpuset.cpus", "cpuset.mems"):
        with open(os.path.join(cgroup.dirs["cpuset"], name)) as f:
            assert f.read().strip()
    p = gated(cgroup, BUSYBOX, "true")
    p.communicate(timeout=10)
    assert p.returncode == 0


def test_unsupported_setting_is_a_clear_error(cgroup: Cgroup) -> None:
    with pytest.raises(CgroupError, match=r"hugetlb|blkio\.weight|needs cgroup v2"):
        cgroup.set_resources(
            {"blockIO": {"weight": 300}, "hugepageLimits": [{"pageSize": "2MB", "limit": 0}]}
        )
    with pytest.raises(CgroupError, match=r"cannot set cpu\.cfs_quota_us"):
        cgroup.set_resources({"cpu": {"quota": 500, "period": 100000}})  # quota below 1ms


def test_state_round_trip_and_tampering(cgroup: Cgroup) -> None:
    again = Cgroup.from_state(cgroup.to_state())
    assert again.dirs == cgroup.dirs and again.mode == cgroup.mode
    p = gated(cgroup, BUSYBOX, "sleep", "30")
    deadline = time.monotonic() + 5
    while not again.pids() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert again.pids() == [p.pid]
    again.kill_all()
    p.communicate(timeout=10)
    bad = cgroup.to_state()
    bad["dirs"] = {"memory": "/sys/fs/cgroup/../../etc"}
    with pytest.raises(CgroupError, match="bad saved cgroup state"):
        Cgroup.from_state(bad)
    with pytest.raises(CgroupError):
        Cgroup.from_state({"mode": "v3", "path": "/", "dirs": {}})


def test_kill_all_keeps_a_paused_cgroup_frozen(cgroup: Cgroup) -> None:
    p = gated(cgroup, BUSYBOX, "sleep", "30")
    deadline = time.monotonic() + 5
    while not cgroup.pids() and time.monotonic() < deadline:
        time.sleep(0.01)
    cgroup.freeze()
    cgroup.kill_all(signal.SIGKILL)
    assert cgroup.frozen()
    assert p.poll() is None  # a frozen task cannot act on its SIGKILL yet
    cgroup.thaw()
    p.communicate(timeout=10)
    assert p.returncode == -signal.SIGKILL


@pytest.fixture
def v2_cgroup(monkeypatch: pytest.MonkeyPatch) -> Iterator[Cgroup]:
    """A v2-mode Cgroup: on a v2 host the real thing, on a hybrid host a cgroup in its
    (controller-less) unified hierarchy — enough to drive the v2 code paths for real."""
    from dockyard.linux import cgroups

    mode = cgroup_mode()
    if mode == "v1":
        pytest.skip("no cgroup v2 hierarchy on this host")
    parent = f"dockyard-test-{uuid.uuid4().hex[:10]}"
    if mode == "v2":
        cg = Cgroup.for_path(f"{parent}/box", "box")
    else:
        # Never enable controllers in the host's unified root: leave it as it is.
        monkeypatch.setattr(cgroups, "V2_CONTROLLERS", ())
        top = "/sys/fs/cgroup/unified"
        cg = Cgroup("v2", {"": f"{top}/{parent}/box"}, f"/{parent}/box")
    cg.create()
    try:
        yield cg
    finally:
        for pid in cg.pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        cg.destroy()
        with contextlib.suppress(FileNotFoundError):
            os.rmdir(os.path.dirname(cg.dirs[""]))


def test_v2_freeze_stats_kill_destroy(v2_cgroup: Cgroup) -> None:
    cg = v2_cgroup
    p = gated(cg, BUSYBOX, "sh", "-c", "dd if=/dev/zero of=/dev/null bs=1M count=300000 & wait")
    deadline = time.monotonic() + 10
    while len(cg.pids()) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(cg.pids()) == 2 and p.pid in cg.pids()

    cg.freeze()
    assert cg.frozen()
    with open(os.path.join(cg.dirs[""], "cgroup.events")) as f:
        assert "frozen 1" in f.read()
    before = cg.stats()["cpu"]["usage_ns"]
    time.sleep(0.2)
    assert cg.stats()["cpu"]["usage_ns"] == before  # nothing runs while frozen
    cg.thaw()
    assert not cg.frozen()
    time.sleep(0.2)
    assert cg.stats()["cpu"]["usage_ns"] > before

    cg.kill_all(signal.SIGTERM)  # the freeze-signal-thaw path
    p.communicate(timeout=10)
    assert p.returncode == -signal.SIGTERM

    q = gated(cg, BUSYBOX, "sh", "-c", "sleep 30 & sleep 30 & wait")
    deadline = time.monotonic() + 10
    while len(cg.pids()) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    cg.kill_all(signal.SIGKILL)  # cgroup.kill
    q.communicate(timeout=10)
    assert q.returncode == -signal.SIGKILL
    deadline = time.monotonic() + 5
    while cg.pids() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert cg.pids() == []
    cg.destroy()
    assert not os.path.exists(cg.dirs[""])


def test_missing_knobs(cgroup: Cgroup) -> None:
    ctrl = "" if cgroup.mode == "v2" else "memory"
    cgroup.write_plan([(ctrl, "memory.no_such_knob", "-1")])  # unlimited: nothing to do
    cgroup.write_plan([(ctrl, "memory.no_such_knob", "max")])
    with pytest.raises(CgroupError, match=r"cannot set memory\.no_such_knob: not supported"):
        cgroup.write_plan([(ctrl, "memory.no_such_knob", "5")])


def test_v2_device_rules_are_enforced_by_bpf(v2_cgroup: Cgroup) -> None:
    rules = [
        {"allow": False, "access": "rwm"},
        {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
        {"allow": True, "type": "c", "major": 1, "minor": 5, "access": "r"},
    ]
    v2_cgroup.set_resources({"devices": rules})
    script = (
        "for f in null zero full; do head -c1 /dev/$f >/dev/null 2>&1 && echo r-$f || echo -$f; "
        "done; echo x >/dev/zero 2>/dev/null && echo w-zero || echo -wzero"
    )
    p = gated(v2_cgroup, BUSYBOX, "sh", "-c", script)
    out, _ = p.communicate(timeout=10)
    assert out.decode().split() == ["r-null", "r-zero", "-full", "-wzero"]
    # A later set replaces the program: now everything is allowed.
    v2_cgroup.set_resources({"devices": [{"allow": True, "access": "rwm"}]})
    p = gated(v2_cgroup, BUSYBOX, "sh", "-c", script)
    out, _ = p.communicate(timeout=10)
    assert out.decode().split() == ["r-null", "r-zero", "r-full", "w-zero"]
