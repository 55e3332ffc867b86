"""The verbs that act on an existing container: start, kill, delete, pause, resume, update, ps."""

from __future__ import annotations

import errno
import os
import select
import sys
import time

from dockyard.linux.process import SIGKILL, is_alive, pidfd_send_signal
from dockyard.linux.suppress import suppress
from dockyard.runtime import state as st_mod
from dockyard.runtime.config import _hooks
from dockyard.runtime.errors import ContainerNotFound, StateError, UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def parse_signal(text: str) -> int:
    """ "KILL", "SIGKILL", "9", "RTMIN+2" -> a signal number."""
    import signal

    names = {
        s.name.removeprefix("SIG"): int(s) for s in signal.Signals if not s.name.startswith("SIG_")
    }
    t = text.strip().upper()
    if t.isdigit():
        n = int(t)
        if 0 < n < 65:
            return n
    else:
        t = t.removeprefix("SIG")
        if t in names:
            return names[t]
        if t.startswith("RTMIN") or t.startswith("RTMAX"):
            base = signal.SIGRTMIN if t.startswith("RTMIN") else signal.SIGRTMAX
            off = t[5:]
            try:
                n = base + int(off) if off else base
            except ValueError:
                n = 0
            if signal.SIGRTMIN <= n <= signal.SIGRTMAX:
                return int(n)
    raise UsageError(f"unknown signal {text!r}")


def _cgroup(st: st_mod.State) -> Any:
    if not st.has_cgroup:
        return None
    from dockyard.runtime.cgroup import open_cgroup

    return open_cgroup(st.cgroups_path, st.id, st.systemd_cgroup)


def start(root: str, cid: str, st: st_mod.State | None = None) -> None:
    """Start a created container (st: its state when the caller has it in hand)."""
    if st is None:
        st = st_mod.load(root, cid)
    status = st_mod.status(root, st)
    if status != "created":
        raise StateError(f"cannot start a container that is {status}")
    fifo = st_mod.fifo_path(root, cid)
    try:
        # Non-blocking: succeeds only while the init holds the read end, i.e. is waiting.
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as e:
        if e.errno == errno.ENXIO:
            raise StateError("the container's init exited before it was started") from None
        raise
    try:
        os.write(fd, b"0")
    finally:
        os.close(fd)
    os.unlink(fifo)
    hooks = _hooks(st.config.get("hooks")).get("poststart", [])
    if hooks:
        try:
            from dockyard.runtime.hooks import run_hooks

            run_hooks(hooks, st_mod.hook_state(st, "running"), "poststart")
        except Exception as e:
            print(f"dockyard-runc: warning: {e}", file=sys.stderr)


def send_signal(pid: int, started: int | None, sig: int) -> None:
    """Signal exactly the process that started at `started`, never a recycled pid."""
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        raise StateError("container not running") from None
    try:
        # The pidfd pins the process: checked after opening, the start time can't change.
        if not is_alive(pid, started):
            raise StateError("container not running")
        pidfd_send_signal(pidfd, sig)
    finally:
        os.close(pidfd)


def kill(root: str, cid: str, sig: int, all_: bool = False) -> None:
    st = st_mod.load(root, cid)
    status = st_mod.status(root, st)
    cg = _cgroup(st)
    if all_ and cg is not None:
        if status == "paused":
            cg.kill_all(sig)
            cg.thaw()
            return
        cg.kill_all(sig)
        return
    if status == "stopped":
        raise StateError("container not running")
    send_signal(st.pid, st.pid_start, sig)


def _wait_gone(pid: int, started: int | None, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        while is_alive(pid, started):
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            select.select([pidfd], [], [], min(left, 0.1))
    finally:
        os.close(pidfd)
    return True


def delete(
    root: str, cid: str, force: bool, st: st_mod.State | None = None, cg: Any = None
) -> None:
    """Remove a container (st and cg: its state and Cgroup when the caller has them)."""
    try:
        if st is None:
            st = st_mod.load(root, cid)
    except ContainerNotFound:
        d = st_mod.container_dir(root, cid)
        if os.path.isdir(d):
            from dockyard.runtime.create import remove_state_dir

            remove_state_dir(root, cid)  # a create that crashed half-way
            return
        if force:
            return
        raise
    status = st_mod.status(root, st)
    if status in ("running", "paused") and not force:
        raise StateError(f"cannot delete container {cid} that is not stopped: {status}")
    if cg is None:
        cg = _cgroup(st)
    if status != "stopped":
        if cg is not None:
            try:
                cg.kill_all(SIGKILL)
                if status == "paused":
                    cg.thaw()
            except Exception:
                pass
        with suppress(StateError):
            send_signal(st.pid, st.pid_start, SIGKILL)
        if not _wait_gone(st.pid, st.pid_start, 10.0):
            raise StateError(f"container {cid} did not die after SIGKILL")
    if cg is not None:
        _destroy_cgroup(cg)
    from dockyard.runtime.create import remove_state_dir

    remove_state_dir(root, cid)
    hooks = _hooks(st.config.get("hooks")).get("poststop", [])
    if hooks:
        try:
            from dockyard.runtime.hooks import run_hooks

            run_hooks(hooks, st_mod.hook_state(st, "stopped"), "poststop")
        except Exception as e:
            print(f"dockyard-runc: warning: {e}", file=sys.stderr)


def _destroy_cgroup(cg: Any) -> None:
    # Processes that were just killed may take a moment to leave the cgroup.
    for _ in range(100):
        try:
            cg.destroy()
            return
        except OSError:
            with suppress(Exception):
                cg.kill_all(SIGKILL)
            time.sleep(0.01)
    cg.destroy()


def pause(root: str, cid: str) -> None:
    st = st_mod.load(root, cid)
    status = st_mod.status(root, st)
    if status not in ("running", "created"):
        raise StateError(f"cannot pause a container that is {status}")
    cg = _cgroup(st)
    if cg is None:
        raise StateError("container has no cgroup to freeze")
    cg.freeze()
    st.paused = True
    st_mod.save(root, st)


def resume(root: str, cid: str) -> None:
    st = st_mod.load(root, cid)
    status = st_mod.status(root, st)
    if status != "paused":
        raise StateError(f"cannot resume a container that is {status}")
    cg = _cgroup(st)
    if cg is None:
        raise StateError("container has no cgroup to thaw")
    cg.thaw()
    st.paused = False
    st_mod.save(root, st)


def pids(root: str, cid: str) -> list[int]:
    st = st_mod.load(root, cid)
    cg = _cgroup(st)
    if cg is None:
        return [st.pid] if st_mod.status(root, st) != "stopped" else []
    return sorted(int(p) for p in cg.pids())


def update(root: str, cid: str, resources: dict[str, Any]) -> None:
    st = st_mod.load(root, cid)
    if st_mod.status(root, st) == "stopped":
        raise StateError("cannot update a stopped container")
    cg = _cgroup(st)
    if cg is None:
        raise StateError("container has no cgroup")
    linux = st.config.setdefault("linux", {})
    merged = _merge(linux.get("resources") or {}, resources)
    cg.set_resources(resources)
    linux["resources"] = merged
    st_mod.save(root, st)


def _merge(base: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in new.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out
