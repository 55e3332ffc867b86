"""Per-process kernel knobs: prctl, domain name, personality, /proc/<pid>/stat facts."""

from __future__ import annotations

import ctypes
import errno
import os

from dockyard.linux.libc import check, libc

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_KEEPCAPS = 8
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38

_SYS_CLOSE_RANGE = 436
_SYS_PIDFD_SEND_SIGNAL = 424
_SYS_KEYCTL = 250
_KEYCTL_JOIN_SESSION_KEYRING = 1

# Signal numbers the runtime needs without importing `signal` (its enums cost milliseconds).
SIGKILL = 9
SIGTERM = 15
_SIGSTOP = 19
_CLOSE_RANGE_CLOEXEC = 4

# Private function objects (libc[name] makes a new one): argtypes set here never
# change how other modules call the same function through the shared handle.
_prctl = libc["prctl"]
_prctl_bare = ctypes.CDLL(None)["prctl"]  # (no use_errno: see set_child_subreaper)
_setdomainname = libc["setdomainname"]
_sethostname = libc["sethostname"]
_personality = libc["personality"]
_prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
_setdomainname.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
_sethostname.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
_personality.argtypes = [ctypes.c_ulong]


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    ret = _prctl(option, arg2, arg3, arg4, arg5)
    if ret == -1:  # (the message only when needed: a monitor's every allocation costs it)
        check(ret, f"prctl({option})")
    return int(ret)


def set_dumpable(on: bool) -> None:
    prctl(PR_SET_DUMPABLE, 1 if on else 0)


def set_no_new_privs() -> None:
    prctl(PR_SET_NO_NEW_PRIVS, 1)


def set_child_subreaper(on: bool = True) -> None:
    # A bare call first: without argtypes and errno capture, ctypes touches far fewer
    # objects (a forked monitor keeps a private copy of each page it writes); the checked
    # call runs only to report a failure.
    if _prctl_bare(PR_SET_CHILD_SUBREAPER, 1 if on else 0, 0, 0, 0) != 0:
        prctl(PR_SET_CHILD_SUBREAPER, 1 if on else 0)


RLIM_INFINITY = 0xFFFFFFFFFFFFFFFF


class _Rlimit64(ctypes.Structure):
    _fields_ = [("rlim_cur", ctypes.c_uint64), ("rlim_max", ctypes.c_uint64)]


_prlimit64 = libc["prlimit64"]
_prlimit64.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]


def set_rlimit(resource: int, soft: int, hard: int) -> None:
    """setrlimit(2) of the calling process; a negative value or one of 2**63 and up means
    unlimited. (prlimit64 through libc: the `resource` module is one more dlopen per start.)"""

    def lim(v: int) -> int:
        return RLIM_INFINITY if v < 0 or v >= 2**63 else v

    new = _Rlimit64(lim(soft), lim(hard))
    check(_prlimit64(0, resource, ctypes.addressof(new), None), f"setrlimit({resource})")


def set_parent_death_signal(sig: int) -> None:
    prctl(PR_SET_PDEATHSIG, sig)


def sethostname(name: str) -> None:
    raw = name.encode()
    check(_sethostname(raw, len(raw)), "sethostname")


def setdomainname(name: str) -> None:
    raw = name.encode()
    check(_setdomainname(raw, len(raw)), "setdomainname")


def personality(persona: int) -> None:
    check(_personality(persona), "personality")


def stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat from field 3 (state) on, or None if the process is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read().decode(errors="replace")
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    return raw[raw.rfind(")") + 2 :].split()


def start_time(pid: int) -> int | None:
    """Field 22 (start time in clock ticks since boot): with the pid it names one process."""
    fields = stat_fields(pid)
    return None if fields is None else int(fields[19])


def is_alive(pid: int, started: int | None) -> bool:
    """True if pid runs (not a zombie) and is the process that started at `started`."""
    fields = stat_fields(pid)
    if fields is None or fields[0] in ("Z", "X"):
        return False
    return started is None or int(fields[19]) == started


# rt_sigaction / rt_sigprocmask numbers; the kernel's sigaction layout is the same on both.
_SYS_SIGNAL_CALLS = {"x86_64": (13, 14), "aarch64": (134, 135)}
_SIG_SETMASK = 2
_NSIG = 64


class _KernelSigaction(ctypes.Structure):
    _fields_ = [
        ("handler", ctypes.c_ulong),  # 0 is SIG_DFL
        ("flags", ctypes.c_ulong),
        ("restorer", ctypes.c_ulong),
        ("mask", ctypes.c_uint64),
    ]


def default_signals() -> None:
    """Every signal back to its default action, none blocked: what a fresh program expects.

    SIG_IGN survives execve, and Python ignores SIGPIPE and SIGXFSZ (a container's
    `yes | head -1` would spin on EPIPE); glibc's own sigaction refuses the two signals it
    reserves (32, 33), which an ignoring parent may also have passed down. The raw
    system calls reach all of them. Errors are ignored: a signal that cannot be changed
    keeps what it had, as with runc.
    """
    calls = _SYS_SIGNAL_CALLS.get(os.uname().machine)
    if calls is None:  # other architectures: glibc's calls reach all but its own two
        import contextlib
        import signal

        for each in signal.valid_signals():
            if each not in (signal.SIGKILL, signal.SIGSTOP):
                with contextlib.suppress(OSError, ValueError):
                    signal.signal(each, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, [])
        return
    sigaction, sigprocmask = calls
    act = _KernelSigaction()
    size = ctypes.c_ulong(8)
    for sig in range(1, _NSIG + 1):
        if sig not in (SIGKILL, _SIGSTOP):
            libc.syscall(ctypes.c_long(sigaction), ctypes.c_int(sig), ctypes.byref(act), None, size)
    empty = ctypes.c_uint64(0)
    libc.syscall(
        ctypes.c_long(sigprocmask), ctypes.c_int(_SIG_SETMASK), ctypes.byref(empty), None, size
    )


def close_fds_from(first: int) -> None:
    """Close every fd >= first (close_range(2), or a loop on old kernels)."""
    _close_range(first, None)


def close_fds_except(first: int, keep: list[int]) -> None:
    """Close every fd >= first but those in ``keep``."""
    start = first
    for fd in sorted(k for k in keep if k >= first):
        if fd > start:
            _close_range(start, fd - 1)
        start = fd + 1
    close_fds_from(start)


def _close_range(first: int, last: int | None) -> None:
    """Close fds first..last (None: to the end)."""
    ret = libc.syscall(
        ctypes.c_long(_SYS_CLOSE_RANGE),
        ctypes.c_uint(first),
        ctypes.c_uint(0xFFFFFFFF if last is None else last),
        ctypes.c_uint(0),
    )
    if ret != 0:
        os.closerange(first, os.sysconf("SC_OPEN_MAX") if last is None else last + 1)


def cloexec_fds_from(first: int) -> None:
    """Mark every fd >= first close-on-exec (close_range CLOSE_RANGE_CLOEXEC), else close them."""
    ret = libc.syscall(
        ctypes.c_long(_SYS_CLOSE_RANGE),
        ctypes.c_uint(first),
        ctypes.c_uint(0xFFFFFFFF),
        ctypes.c_uint(_CLOSE_RANGE_CLOEXEC),
    )
    if ret != 0:
        close_fds_from(first)


_SYS_CLONE3 = 435  # the same number on every architecture
CLONE_INTO_CGROUP = 0x200000000
_SIGCHLD = 17


class _CloneArgs(ctypes.Structure):
    _fields_ = [  # struct clone_args (linux/sched.h), CLONE_ARGS_SIZE_VER2
        (name, ctypes.c_uint64)
        for name in (
            "flags", "pidfd", "child_tid", "parent_tid", "exit_signal", "stack",
            "stack_size", "tls", "set_tid", "set_tid_size", "cgroup",
        )
    ]  # fmt: skip


# Through a PyDLL handle the GIL stays held across the call, so the child returns from the
# syscall holding it, exactly as after os.fork().
_clone3 = ctypes.PyDLL("libc.so.6", use_errno=True)["syscall"]
_clone3.restype = ctypes.c_long
_clone3.argtypes = [ctypes.c_long, ctypes.c_void_p, ctypes.c_size_t]


def clone_process(flags: int = 0, cgroup_fd: int = -1) -> int:
    """fork() through clone3(2): with extra clone flags (CLONE_NEW* namespaces the child
    is born in) and, given a cgroup v2 directory fd, CLONE_INTO_CGROUP: the child is born
    in that cgroup. (Moving a process through cgroup.procs later makes the writer wait
    for an RCU grace period, the kernel's threadgroup lock: often 10 ms or more.)

    Only for single-threaded callers that hold no lock: unlike os.fork() no at-fork
    handlers run. Returns 0 in the child and its pid in the parent, like fork(); OSError
    when the kernel (before 5.7) or a seccomp profile refuses clone3, or the fd is not
    a v2 cgroup, and then no child exists. DOCKYARD_NO_CLONE3=1 makes it always refuse.
    """
    if os.environ.get("DOCKYARD_NO_CLONE3") == "1":
        # Tests (and hosts whose seccomp profile misbehaves) take the fork fallbacks.
        raise OSError(errno.ENOSYS, "clone3: disabled by DOCKYARD_NO_CLONE3")
    if cgroup_fd >= 0:
        flags |= CLONE_INTO_CGROUP
    args = _CloneArgs(flags=flags, exit_signal=_SIGCHLD, cgroup=max(cgroup_fd, 0))
    ret = int(_clone3(_SYS_CLONE3, ctypes.addressof(args), ctypes.sizeof(args)))
    return check(ret, f"clone3({flags:#x})")


def fork_into_cgroup(cgroup_fd: int) -> int:
    """fork(), with the child born in the cgroup v2 directory cgroup_fd (see clone_process)."""
    return clone_process(0, cgroup_fd)


def pidfd_send_signal(pidfd: int, sig: int) -> None:
    """Signal the process a pidfd pins (never a recycled pid)."""
    ret = libc.syscall(
        ctypes.c_long(_SYS_PIDFD_SEND_SIGNAL),
        ctypes.c_int(pidfd),
        ctypes.c_int(sig),
        None,
        ctypes.c_uint(0),
    )
    check(int(ret), "pidfd_send_signal")


def join_session_keyring(name: str) -> None:
    """Join (creating it) a new session keyring, so the container can't see the host's keys."""
    ret = libc.syscall(
        ctypes.c_long(_SYS_KEYCTL),
        ctypes.c_int(_KEYCTL_JOIN_SESSION_KEYRING),
        ctypes.c_char_p(name.encode()),
    )
    check(int(ret), "keyctl(JOIN_SESSION_KEYRING)")
