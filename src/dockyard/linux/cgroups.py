"""A container's cgroup on cgroup v1, hybrid (v1 controllers + an empty v2) or v2.

The decisions (paths, which files get which values) are in ``cgroup_plan``; this
module reads the host's layout, makes the directories, writes the files, freezes,
signals, reports usage and removes everything again.
"""

from __future__ import annotations

import ctypes
import errno
import os
import posixpath
import time

from dockyard.linux.cgroup_plan import (
    DEVICE_PROGRAM,
    V1_CONTROLLERS,
    CgroupError,
    Mode,
    Write,
    cgroup_dirs,
    parse_mountinfo_cgroups,
    parse_proc_cgroup,
    plan_resources,
)
from dockyard.linux.libc import libc
from dockyard.linux.suppress import suppress

__all__ = [
    "V1_CONTROLLERS",
    "V2_CONTROLLERS",
    "Cgroup",
    "CgroupError",
    "cgroup_mode",
    "plan_resources",
]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any  # (typing itself costs milliseconds: type checker only)

_SIGKILL = 9  # (not signal.SIGKILL: the signal module builds enums at import)
CGROUP_ROOT = "/sys/fs/cgroup"
_CGROUP2_SUPER_MAGIC = 0x63677270
_FREEZE_TIMEOUT_S = 10.0
# The v2 controllers a container's cgroup gets enabled in its ancestors.
V2_CONTROLLERS = ("cpu", "cpuset", "memory", "pids", "io", "hugetlb")
_RMDIR_TIMEOUT_S = 5.0
# Docker reports CPU time in ns; cpuacct.stat counts USER_HZ ticks.
_NS_PER_TICK = 1_000_000_000 // (os.sysconf("SC_CLK_TCK") or 100)


_statfs_fn = libc["statfs"]  # a private function object: our own argtypes
_statfs_fn.restype = ctypes.c_int
_statfs_fn.argtypes = [ctypes.c_char_p, ctypes.c_char_p]


def _fs_magic(path: str) -> int:
    buf = ctypes.create_string_buffer(256)  # struct statfs is 120 bytes; f_type first
    if _statfs_fn(os.fsencode(path), buf) != 0:
        return 0
    return ctypes.c_long.from_buffer(buf).value & 0xFFFFFFFF


def cgroup_mode(root: str = CGROUP_ROOT) -> Mode:
    """ "v2" when the root is cgroup2, "hybrid" when v1 with a v2 at root/unified,
    else "v1"."""
    if _fs_magic(root) == _CGROUP2_SUPER_MAGIC:
        return "v2"
    if _fs_magic(posixpath.join(root, "unified")) == _CGROUP2_SUPER_MAGIC:
        return "hybrid"
    return "v1"


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


def write_file(path: str, value: str) -> None:
    """One write of ``value`` to a cgroupfs file (its own open: no buffering, no truncation)."""
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


class Cgroup:
    """The directories of one container's cgroup, one per mounted hierarchy."""

    def __init__(self, mode: Mode, dirs: dict[str, str], path: str) -> None:
        self.mode: Mode = mode
        #: controller ("memory", "cpu", "name=systemd"…; "" for the v2 hierarchy) → dir
        self.dirs = dirs
        #: the container's cgroup path, as in the runtime's own hierarchy
        self.path = path

    # --- locating ---------------------------------------------------------------

    @classmethod
    def for_path(
        cls,
        cgroups_path: str | None,
        container_id: str,
        systemd: bool = False,
        *,
        pid: int | str = "self",
    ) -> Cgroup:
        """The cgroup of OCI ``linux.cgroupsPath`` (relative paths start from the
        cgroup of process ``pid``, the runtime itself by default)."""
        mode = cgroup_mode()
        dirs, path = cgroup_dirs(
            parse_mountinfo_cgroups(_read(f"/proc/{pid}/mountinfo")),
            parse_proc_cgroup(_read(f"/proc/{pid}/cgroup")),
            mode,
            cgroups_path,
            container_id,
            systemd,
            CGROUP_ROOT,
        )
        return cls(mode, dirs, path)

    def to_state(self) -> dict[str, Any]:
        """What to keep in the runtime's state dir, so that later verbs (run from
        another cgroup, where a relative cgroupsPath would resolve elsewhere) find
        the same directories with ``from_state``."""
        return {"mode": self.mode, "path": self.path, "dirs": dict(self.dirs)}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Cgroup:
        mode, path, dirs = state.get("mode"), state.get("path"), state.get("dirs")
        if mode not in ("v1", "hybrid", "v2") or not isinstance(path, str):
            raise CgroupError("bad saved cgroup state")
        if not isinstance(dirs, dict) or not dirs:
            raise CgroupError("bad saved cgroup state")
        for d in dirs.values():
            # Never let a tampered state file point us at files outside the cgroup fs.
            if not isinstance(d, str) or posixpath.normpath(d) != d:
                raise CgroupError("bad saved cgroup state")
            if not d.startswith(CGROUP_ROOT + "/"):
                raise CgroupError("bad saved cgroup state")
        return cls(mode, {str(k): str(v) for k, v in dirs.items()}, path)

    def _unique_dirs(self) -> list[str]:
        return list(dict.fromkeys(self.dirs.values()))

    def _dir(self, controller: str) -> str:
        if self.mode == "v2":
            return self.dirs[""]
        d = self.dirs.get(controller)
        if d is None:
            raise CgroupError(f"cgroup controller {controller!r} is not mounted on this host")
        return d

    def _procs_dir(self) -> str:
        if self.mode == "v2":
            return self.dirs[""]
        for c in ("pids", "freezer", "memory", "cpu", "devices", "name=systemd", ""):
            if c in self.dirs:
                return self.dirs[c]
        return self._unique_dirs()[0]

    # --- lifecycle ---------------------------------------------------------------

    def create(self) -> None:
        """Make the directories (and parents) in every hierarchy."""
        try:
            for controller, d in sorted(self.dirs.items()):
                if controller == "cpuset":
                    _make_cpuset(d)
                elif controller == "" and self.mode == "v2":
                    _make_v2(d)
                else:
                    os.makedirs(d, exist_ok=True)
        except OSError as e:
            raise CgroupError(f"cannot create cgroup {self.path}: {e}") from None

    def add_pid(self, pid: int) -> None:
        """Move a process into the cgroup in every hierarchy."""
        for d in self._unique_dirs():
            try:
                write_file(posixpath.join(d, "cgroup.procs"), str(pid))
            except OSError as e:
                raise CgroupError(f"cannot add pid {pid} to {d}: {e}") from None

    def set_resources(self, resources: dict[str, Any] | None) -> None:
        """Apply an OCI ``linux.resources`` object."""
        self.write_plan(plan_resources(resources, self.mode))

    def write_plan(self, writes: list[Write]) -> None:
        """Write planned values. A write the kernel refuses only because of another
        value still to come (memory below memsw, quota vs period) is retried once
        after the others."""
        retry: list[tuple[Write, OSError]] = []
        for w in writes:
            err = self._write_one(w)
            if err is not None:
                retry.append((w, err))
        for w, _ in retry:
            err = self._write_one(w)
            if err is not None:
                raise CgroupError(f"cannot set {w[1]} to {w[2]!r}: {err.strerror}") from None

    def _write_one(self, w: Write) -> OSError | None:
        controller, name, value = w
        if name == DEVICE_PROGRAM:
            self._attach_device_program(value)
            return None
        path = posixpath.join(self._dir(controller), name)
        if not os.path.exists(path):
            if value in ("-1", "max"):
                return None  # "unlimited" where the knob does not exist: nothing to do
            raise CgroupError(f"cannot set {name}: not supported by this kernel or cgroup")
        try:
            write_file(path, value)
        except OSError as e:
            if e.errno in (errno.EINVAL, errno.EBUSY, errno.EPERM):
                return e
            raise CgroupError(f"cannot set {name} to {value!r}: {e.strerror}") from None
        return None

    def _attach_device_program(self, lines: str) -> None:
        from dockyard.linux import devices_bpf  # only v2 hosts with device rules

        rules = [devices_bpf.parse_rule(line) for line in lines.splitlines()]
        try:
            devices_bpf.attach_device_program(self._dir(""), devices_bpf.device_program(rules))
        except OSError as e:
            raise CgroupError(f"cannot attach the device program: {e.strerror}") from None

    def pids(self) -> list[int]:
        """Every process in the cgroup and its descendants."""
        out: list[int] = []
        top = self._procs_dir()
        if not os.path.isdir(top):
            return out
        for d, _, _ in os.walk(top):
            with suppress(FileNotFoundError):
                out.extend(int(x) for x in _read(posixpath.join(d, "cgroup.procs")).split())
        return sorted(set(out))

    # --- freezing ----------------------------------------------------------------

    def _freezer(self) -> tuple[str, bool]:
        if self.mode == "v2":
            return self.dirs[""], True
        d = self.dirs.get("freezer")
        if d is None:
            raise CgroupError("the freezer cgroup controller is not mounted on this host")
        return d, False

    def freeze(self) -> None:
        self._set_frozen(True)

    def thaw(self) -> None:
        self._set_frozen(False)

    def frozen(self) -> bool:
        d, v2 = self._freezer()
        if v2:
            return _read_kv(posixpath.join(d, "cgroup.events")).get("frozen") == 1
        return _read(posixpath.join(d, "freezer.state")).strip() == "FROZEN"

    def _set_frozen(self, frozen: bool) -> None:
        d, v2 = self._freezer()
        deadline = time.monotonic() + _FREEZE_TIMEOUT_S
        delay = 0.001
        while True:
            # v1 can get stuck in FREEZING when a task is mid-fork; writing again
            # nudges it, as runc does.
            if v2:
                write_file(posixpath.join(d, "cgroup.freeze"), "1" if frozen else "0")
            else:
                write_file(posixpath.join(d, "freezer.state"), "FROZEN" if frozen else "THAWED")
            if self.frozen() == frozen:
                return
            if time.monotonic() > deadline:
                what = "freeze" if frozen else "thaw"
                raise CgroupError(f"cannot {what} cgroup {self.path}: timed out")
            time.sleep(delay)
            delay = min(delay * 2, 0.05)

    # --- usage -------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Usage figures: {"cpu": {"usage_ns", "user_ns", "system_ns", "percpu_ns"},
        "memory": {"usage", "max_usage", "limit", "stat"}, "pids": {"current", "limit"}};
        a limit is None when unlimited, a figure the host lacks is absent or None."""
        if self.mode == "v2":
            return self._stats_v2()
        return self._stats_v1()

    def _stats_v1(self) -> dict[str, Any]:
        cpu: dict[str, Any] = {}
        d = self.dirs.get("cpuacct")
        if d:
            cpu["usage_ns"] = _read_int(posixpath.join(d, "cpuacct.usage"))
            percpu = _maybe(posixpath.join(d, "cpuacct.usage_percpu"))
            cpu["percpu_ns"] = [int(x) for x in percpu.split()] if percpu else []
            ticks = _read_kv(posixpath.join(d, "cpuacct.stat"))
            cpu["user_ns"] = ticks.get("user", 0) * _NS_PER_TICK
            cpu["system_ns"] = ticks.get("system", 0) * _NS_PER_TICK
        mem: dict[str, Any] = {}
        d = self.dirs.get("memory")
        if d:
            mem["usage"] = _read_int(posixpath.join(d, "memory.usage_in_bytes"))
            mem["max_usage"] = _read_int(posixpath.join(d, "memory.max_usage_in_bytes"))
            limit = _read_int(posixpath.join(d, "memory.limit_in_bytes"))
            # v1 spells "unlimited" as the largest page-aligned signed 64-bit number.
            mem["limit"] = None if limit is None or limit >= 1 << 62 else limit
            mem["stat"] = _read_kv(posixpath.join(d, "memory.stat"))
        pids: dict[str, Any] = {}
        d = self.dirs.get("pids")
        if d:
            pids["current"] = _read_int(posixpath.join(d, "pids.current"))
            pids["limit"] = _read_int(posixpath.join(d, "pids.max"))
        return {"cpu": cpu, "memory": mem, "pids": pids}

    def _stats_v2(self) -> dict[str, Any]:
        d = self.dirs[""]
        st = _read_kv(posixpath.join(d, "cpu.stat"))
        cpu = {
            "usage_ns": st.get("usage_usec", 0) * 1000,
            "user_ns": st.get("user_usec", 0) * 1000,
            "system_ns": st.get("system_usec", 0) * 1000,
            "percpu_ns": [],
        }
        mem = {
            "usage": _read_int(posixpath.join(d, "memory.current")),
            "max_usage": _read_int(posixpath.join(d, "memory.peak")),
            "limit": _read_int(posixpath.join(d, "memory.max")),
            "stat": _read_kv(posixpath.join(d, "memory.stat")),
        }
        pids = {
            "current": _read_int(posixpath.join(d, "pids.current")),
            "limit": _read_int(posixpath.join(d, "pids.max")),
        }
        return {"cpu": cpu, "memory": mem, "pids": pids}

    # --- the end -----------------------------------------------------------------

    def kill_all(self, sig: int = _SIGKILL) -> None:
        """Signal every process in the cgroup, with no chance to escape by forking."""
        if self.mode == "v2" and sig == _SIGKILL:
            kill_file = posixpath.join(self.dirs[""], "cgroup.kill")
            if os.path.exists(kill_file):
                write_file(kill_file, "1")
                return
        try:
            # Frozen, nobody can fork a new process between the listing and the signal.
            # A cgroup that was already frozen (a paused container) stays frozen.
            must_freeze = not self.frozen()
        except (CgroupError, OSError):
            must_freeze = False  # no freezer here: signal as best we can
        if must_freeze:
            self.freeze()
        try:
            for pid in self.pids():
                with suppress(ProcessLookupError):
                    os.kill(pid, sig)
        finally:
            if must_freeze:
                self.thaw()

    def destroy(self) -> None:
        """Remove the directories in every hierarchy, children first, waiting a little
        for exiting tasks. Parents (like /dockyard) stay, as other containers share them."""
        deadline = time.monotonic() + _RMDIR_TIMEOUT_S
        left: list[str] = []
        for top in self._unique_dirs():
            left += _rmtree_cgroup(top, deadline)
        if left:
            raise CgroupError(f"cannot remove cgroup {self.path}: busy: {', '.join(left)}")


def _make_cpuset(d: str) -> None:
    """A new v1 cpuset starts with empty cpus/mems, and no task may join it until
    they are set: copy them down from the parent at every new level."""
    missing: list[str] = []
    cur = d
    while not os.path.isdir(cur):
        missing.append(cur)
        cur = posixpath.dirname(cur)
    for path in reversed(missing):
        with suppress(FileExistsError):
            os.mkdir(path)
    # Also fix existing levels left empty by someone else.
    chain: list[str] = []
    cur = d
    while os.path.exists(posixpath.join(posixpath.dirname(cur), "cpuset.cpus")):
        chain.append(cur)
        cur = posixpath.dirname(cur)
    for path in reversed(chain):
        parent = posixpath.dirname(path)
        for name in ("cpuset.cpus", "cpuset.mems"):
            if not _read(posixpath.join(path, name)).strip():
                write_file(posixpath.join(path, name), _read(posixpath.join(parent, name)).strip())


def _v2_root(d: str) -> str:
    """The mount point of the v2 hierarchy holding ``d``: its highest ancestor that
    is still a cgroup (has cgroup.controllers)."""
    root = d
    while True:
        parent = posixpath.dirname(root)
        if parent == root or not os.path.exists(posixpath.join(parent, "cgroup.controllers")):
            return root
        root = parent


def _make_v2(d: str) -> None:
    """Make the directory and enable the wanted controllers in each ancestor's
    cgroup.subtree_control, so the new cgroup gets their interface files."""
    cur = _v2_root(posixpath.dirname(d))
    for part in posixpath.relpath(d, cur).split("/"):
        avail = _maybe(posixpath.join(cur, "cgroup.controllers")).split()
        enabled = _maybe(posixpath.join(cur, "cgroup.subtree_control")).split()
        want = [c for c in avail if c in V2_CONTROLLERS and c not in enabled]
        if want:
            control = posixpath.join(cur, "cgroup.subtree_control")
            try:
                write_file(control, " ".join("+" + c for c in want))
            except OSError:
                for c in want:  # one by one: EBUSY when processes live at this level
                    with suppress(OSError):
                        write_file(control, "+" + c)
        cur = posixpath.join(cur, part)
        with suppress(FileExistsError):
            os.mkdir(cur)


def _rmtree_cgroup(top: str, deadline: float) -> list[str]:
    """rmdir ``top`` and its sub-cgroups, leaves first; the paths still busy."""
    # Most cgroups are empty leaves by now: one rmdir, no listing of the cgroupfs directory
    # (dozens of files each). Sub-cgroups or tasks still leaving make it EBUSY.
    try:
        os.rmdir(top)
        return []
    except FileNotFoundError:
        return []
    except NotADirectoryError:
        return []
    except OSError:
        pass  # (busy or refused: the walk below retries, children first, and reports)
    subdirs = [root for root, _, _ in os.walk(top)]
    busy: list[str] = []
    for d in sorted(subdirs, key=lambda p: p.count("/"), reverse=True):
        delay = 0.001
        while True:
            try:
                os.rmdir(d)
                break
            except FileNotFoundError:
                break
            except OSError as e:
                if e.errno != errno.EBUSY or time.monotonic() > deadline:
                    busy.append(d)
                    break
                time.sleep(delay)
                delay = min(delay * 2, 0.05)
    return busy


def _maybe(path: str) -> str:
    try:
        return _read(path)
    except OSError:
        return ""


def _read_int(path: str) -> int | None:
    text = _maybe(path).strip()
    if not text or text == "max":
        return None
    try:
        return int(text)
    except ValueError:
        return None


def _read_kv(path: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in _maybe(path).splitlines():
        key, _, value = line.partition(" ")
        with suppress(ValueError):
            out[key] = int(value)
    return out
