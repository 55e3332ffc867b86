"""The last steps before execve, shared by a container's init and by `exec`.

Order follows runc: chdir inside the root (checked), rlimits, user and groups, capabilities,
no_new_privs, every unrequested fd marked close-on-exec, seccomp last.
"""

from __future__ import annotations

import os
import stat

from dockyard.linux import capabilities as caps
from dockyard.linux.libc import errno_text
from dockyard.linux.paths import mkdirall_in_root, open_in_root
from dockyard.linux.process import (
    cloexec_fds_from,
    default_signals,
    set_no_new_privs,
    set_rlimit,
)
from dockyard.linux.suppress import suppress
from dockyard.runtime.config import Process
from dockyard.runtime.errors import SetupError
from dockyard.runtime.procspec import CapSets, selinux_enabled
from dockyard.runtime.trace import mark

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def find_executable(arg0: str, env: list[str], cwd: str) -> str:
    """The program to run, checked before start as runc checks it (Go's LookPath), with
    runc's messages: Docker tells "not found" (127) from "permission denied" (126) by them.
    A relative path is taken from ``cwd``, the process's working directory."""
    if "/" in arg0:
        try:
            st = os.stat(os.path.join(cwd, arg0))
        except OSError as e:
            raise SetupError(f'exec: "{arg0}": stat {arg0}: {errno_text(e)}') from None
        if stat.S_ISDIR(st.st_mode) or not st.st_mode & 0o111:
            raise SetupError(f'exec: "{arg0}": permission denied')
        return arg0
    path = next((e[5:] for e in env if e.startswith("PATH=")), DEFAULT_PATH)
    for d in path.split(":"):
        cand = os.path.join(d or ".", arg0)
        if os.path.isfile(cand) and os.access(cand, os.X_OK):
            return cand
    raise SetupError(f'exec: "{arg0}": executable file not found in $PATH')


def enter_cwd(cwd: str, *, create: bool) -> None:
    """chdir to cwd resolved inside the (already pivoted) root; refuse anything outside it.
    A container's init creates a cwd that does not exist at all (``create``), an exec does
    not: as runc."""
    root = os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        # open_in_root refuses magic links such as /proc/self/fd/N.
        try:
            fd = open_in_root(root, cwd, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        except FileNotFoundError:
            if not create:
                raise
            fd = mkdirall_in_root(root, cwd)
    except OSError as e:
        raise SetupError(
            f'chdir to cwd ("{cwd}") set in config.json failed: {errno_text(e)}'
        ) from None
    finally:
        os.close(root)
    try:
        os.fchdir(fd)
    finally:
        os.close(fd)
    try:
        here = os.getcwd()
    except OSError:
        here = "(unreachable)"
    # A cwd reached through a leaked host fd reads "(unreachable)/..." (runc CVE-2024-21626).
    if not here.startswith("/"):
        raise SetupError(f"working directory {cwd} is outside the container root")


def apply_lsm(p: Process) -> None:
    """Ask the kernel to switch LSM context at our execve (read by the LSMs at exec)."""
    if p.apparmor_profile:
        path = "/proc/self/attr/apparmor/exec"
        if not os.path.exists(path):
            path = "/proc/self/attr/exec"
        _write_attr(path, f"exec {p.apparmor_profile}")
    # Like runc's go-selinux, a label is a no-op on a host without SELinux.
    if p.selinux_label and selinux_enabled():
        _write_attr("/proc/self/attr/exec", p.selinux_label)


def _write_attr(path: str, value: str) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, value.encode())
        finally:
            os.close(fd)
    except OSError as e:
        raise SetupError(f"cannot apply security label {value!r}: {e.strerror}") from None


def set_rlimits(p: Process) -> None:
    for res, soft, hard in p.rlimits:
        try:
            set_rlimit(res, soft, hard)
        except (OSError, ValueError) as e:
            raise SetupError(f"cannot set rlimit {res}: {e}") from None


def set_user(p: Process, setgroups_allowed: bool = True) -> None:
    try:
        if setgroups_allowed:
            os.setgroups(p.additional_gids)
        os.setresgid(p.gid, p.gid, p.gid)
        if p.uid != 0:
            caps.keep_caps_across_setuid()
        os.setresuid(p.uid, p.uid, p.uid)
    except OSError as e:
        raise SetupError(f"cannot set user {p.uid}:{p.gid}: {e.strerror or e}") from None
    if p.umask is not None:
        os.umask(p.umask)


def apply_capsets(c: CapSets | None, uid: int) -> None:
    if c is None:
        now = caps.read_proc_caps()
        keep = now["CapPrm"] if uid == 0 else 0
        c = CapSets(now["CapBnd"], keep, keep, 0, 0)
    # The kernel only lets ambient caps that are permitted and inheritable be raised; like runc,
    # the others are skipped rather than failing the container (runc's default spec asks
    # for ambient caps with an empty inheritable set).
    ambient = c.ambient & c.permitted & c.inheritable
    c = CapSets(c.bounding, c.effective, c.permitted, c.inheritable, ambient)
    try:
        caps.apply_caps(c.bounding, c.effective, c.permitted, c.inheritable, c.ambient)
    except caps.CapabilityError as e:
        raise SetupError(str(e)) from None


def exec_process(
    p: Process,
    capsets: CapSets | None,
    seccomp_filter: Any,
    preserve_fds: int,
    extra_env: list[str],
    *,
    init: bool = False,
) -> None:
    """Become the container process (its init when ``init``, else an exec'd process).
    Returns only by raising SetupError."""
    default_signals()  # before seccomp: a profile may deny rt_sigaction
    enter_cwd(p.cwd, create=init)
    set_rlimits(p)
    env = list(p.env) + extra_env
    apply_lsm(p)
    if seccomp_filter is not None and not p.no_new_privileges:
        # Without no_new_privs, loading a filter needs CAP_SYS_ADMIN in the effective set, which
        # the switch to a non-root user clears: load it before (as runc does), so the filter
        # also governs the setuid and capset calls that follow.
        seccomp_filter.load()
    set_user(p)
    apply_capsets(capsets, p.uid)
    if p.no_new_privileges:
        set_no_new_privs()
    path = find_executable(p.args[0], env, p.cwd)
    for fd in range(3, 3 + preserve_fds):
        with suppress(OSError):
            os.set_inheritable(fd, True)
    cloexec_fds_from(3 + preserve_fds)
    if seccomp_filter is not None and p.no_new_privileges:
        seccomp_filter.load()
    mark("execve")
    try:
        os.execve(path, p.args, _env_dict(env))
    except OSError as e:
        raise SetupError(f"exec {p.args[0]}: {e.strerror or e}") from None


def _env_dict(env: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in env:
        k, sep, v = item.partition("=")
        if sep:
            out[k] = v
    return out
