"""`exec`: start another process in a running container, joining all of its namespaces and
its cgroup, under the same capability / no_new_privs / seccomp rules as the init."""

from __future__ import annotations

import os

from dockyard.linux import namespaces as ns
from dockyard.linux.process import is_alive, set_child_subreaper, set_dumpable
from dockyard.oci import fastjson
from dockyard.runtime import state as st_mod
from dockyard.runtime.config import Process, parse_process
from dockyard.runtime.create import (
    _report_and_exit,
    connect_console,
    join_namespaces,
    write_pid_file,
)
from dockyard.runtime.errors import ConfigError, SetupError, StateError
from dockyard.runtime.finalize import exec_process
from dockyard.runtime.procspec import check_lsm, compile_seccomp, parse_capsets
from dockyard.runtime.record import record
from dockyard.runtime.sync import Sync

TYPE_CHECKING = False
if TYPE_CHECKING:
    import socket
    from typing import Any


@record
class ExecOptions:
    root: str
    cid: str
    process_file: str | None = None
    args: list[str] = []  # noqa: RUF012 (@record copies it)
    tty: bool = False
    cwd: str | None = None
    env: list[str] = []  # noqa: RUF012 (@record copies it)
    user: str | None = None
    additional_gids: list[int] = []  # noqa: RUF012 (@record copies it)
    caps: list[str] = []  # noqa: RUF012 (@record copies it)
    no_new_privs: bool = False
    detach: bool = False
    pid_file: str | None = None
    console_socket: str | None = None
    preserve_fds: int = 0
    console_sock: socket.socket | None = None


def build_process(base: dict[str, Any] | None, o: ExecOptions) -> Process:
    """The process to run: --process JSON, else the container's process with overrides."""
    if o.process_file:
        try:
            if o.process_file == "-":
                import sys

                raw = fastjson.loads(sys.stdin.read())
            else:
                with open(o.process_file, "rb") as f:
                    raw = fastjson.loads(f.read())
        except (OSError, ValueError) as e:
            raise ConfigError(f"cannot read process file {o.process_file}: {e}") from None
        if not isinstance(raw, dict):
            raise ConfigError("process file must hold a JSON object")
        return parse_process(raw, "process")
    if not o.args:
        raise ConfigError("exec: no command given (args or --process)")
    b = dict(base or {})
    b["args"] = o.args
    b["terminal"] = o.tty
    if o.cwd:
        b["cwd"] = o.cwd
    env = list(b.get("env") or [])
    for item in o.env:
        key = item.partition("=")[0] + "="
        env = [x for x in env if not x.startswith(key)] + [item]
    b["env"] = env
    user = dict(b.get("user") or {})
    if o.user:
        uid, _, gid = o.user.partition(":")
        try:
            user["uid"] = int(uid)
            user["gid"] = int(gid) if gid else user.get("gid", 0)
        except ValueError:
            raise ConfigError(f"--user {o.user!r} must be uid[:gid]") from None
    if o.additional_gids:
        user["additionalGids"] = o.additional_gids
    b["user"] = user
    if o.caps:
        c = {k: list(v) for k, v in (b.get("capabilities") or {}).items()}
        for name in o.caps:
            for k in ("bounding", "effective", "permitted"):
                if name not in c.setdefault(k, []):
                    c[k].append(name)
        b["capabilities"] = c
    if o.no_new_privs:
        b["noNewPrivileges"] = True
    b.pop("consoleSize", None)
    return parse_process(b, "process")


def execute(o: ExecOptions) -> int:
    """Start the process; returns its pid (the caller waits unless --detach)."""
    st = st_mod.load(o.root, o.cid)
    status = st_mod.status(o.root, st)
    if status not in ("running", "created"):
        raise StateError(f"cannot exec in a container that is {status}")
    proc = build_process(st.config.get("process"), o)
    if proc.terminal and not (o.console_socket or o.console_sock):
        raise ConfigError("a terminal was requested but no --console-socket was given")
    capsets = parse_capsets(proc)
    check_lsm(proc)
    if proc.terminal:
        import dockyard.linux.terminal  # noqa: F401  (the child can't import once in the mount ns)
    linux = st.config.get("linux") or {}
    filt = compile_seccomp(linux.get("seccomp"), o.root)
    kinds = [n.get("type") for n in linux.get("namespaces") or []]
    pidfd = os.pidfd_open(st.pid)
    fds: dict[str, int] = {}
    console = None
    try:
        for kind in kinds:
            if kind in ns.NAMESPACES:
                fds[kind] = os.open(
                    f"/proc/{st.pid}/ns/{ns.NAMESPACES[kind][1]}", os.O_RDONLY | os.O_CLOEXEC
                )
        # With the pidfd held, a live start time proves these ns files are the container's.
        if not is_alive(st.pid, st.pid_start):
            raise StateError("container not running")
        if o.console_socket:
            console = connect_console(o.console_socket)
        elif o.console_sock is not None:
            console = o.console_sock
        cg = None
        if st.has_cgroup:
            from dockyard.runtime.cgroup import open_cgroup

            cg = open_cgroup(st.cgroups_path, st.id, st.systemd_cgroup)
        pid = _spawn(proc, capsets, filt, fds, console, cg, o, in_userns="user" in fds)
    finally:
        os.close(pidfd)
        for fd in fds.values():
            os.close(fd)
        if console is not None:
            console.close()
    if o.pid_file:
        write_pid_file(o.pid_file, pid)
    return pid


def _spawn(
    proc: Process,
    capsets: Any,
    filt: Any,
    fds: dict[str, int],
    console: socket.socket | None,
    cg: Any,
    o: ExecOptions,
    in_userns: bool,
) -> int:
    parent, child = Sync.pair()
    if not o.detach:
        set_child_subreaper()
    stage1 = os.fork()
    if stage1 == 0:
        parent.close()
        try:
            set_dumpable(False)  # before setns: see create._stage1
            if cg is not None:
                cg.add_pid(os.getpid())
            join_namespaces(fds)
            pid = os.fork()
            if pid == 0:
                try:
                    _final(proc, capsets, filt, console, o, child)
                except BaseException as e:
                    _report_and_exit(child, e)
            child.send("pid", pid=pid)
        except BaseException as e:
            _report_and_exit(child, e)
        os._exit(0)
    child.close()
    try:
        pid = int(parent.expect("pid")["pid"])
        os.waitpid(stage1, 0)
        # The socket is close-on-exec: EOF means execve succeeded, a message means it failed.
        try:
            parent.recv_or_eof()
        except SetupError:
            if not o.detach:
                os.waitpid(pid, 0)
            raise
    finally:
        parent.close()
    return pid


def _final(
    proc: Process,
    capsets: Any,
    filt: Any,
    console: socket.socket | None,
    o: ExecOptions,
    sync: Sync,
) -> None:
    if proc.terminal and console is not None:
        from dockyard.linux.terminal import make_controlling, open_pty, pty_number, send_fd

        os.setsid()
        master, slave = open_pty("/dev/ptmx")
        try:
            os.fchown(slave, proc.uid, -1)
            send_fd(console, master, f"/dev/pts/{pty_number(master)}")
        finally:
            os.close(master)
        for fd in (0, 1, 2):
            os.dup2(slave, fd)
        os.close(slave)
        make_controlling(0)
        console.close()
    exec_process(proc, capsets, filt, o.preserve_fds, [])
