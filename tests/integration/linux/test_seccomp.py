"""Load real filters in forked children and watch the kernel enforce them."""

from __future__ import annotations

import ctypes
import errno
import os
import signal
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dockyard.linux import seccomp
from dockyard.linux.libc import libc

pytestmark = pytest.mark.root
InChild = Callable[..., Any]

BUSYBOX = "/bin/busybox"
ADDR_NO_RANDOMIZE = 0x0040000


def personality(persona: int) -> int:
    """personality(2): the previous persona, or -errno."""
    ret = int(libc.personality(ctypes.c_ulong(persona)))
    return ret if ret != -1 else -ctypes.get_errno()


def errno_of(fn: Callable[[], object]) -> int:
    try:
        fn()
    except OSError as e:
        assert e.errno is not None
        return e.errno
    return 0


def test_deny_mkdir_in_process_and_after_exec(in_child: InChild, tmp_path: Path) -> None:
    sec = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}],
    }

    def child() -> list[Any]:
        f = seccomp.compile_filter(sec)
        os.mkdir(tmp_path / "before")
        f.load()
        in_proc = errno_of(lambda: os.mkdir(tmp_path / "after"))
        out = subprocess.run(
            [BUSYBOX, "mkdir", str(tmp_path / "exec")], capture_output=True, text=True
        )
        rmdir_ok = errno_of(lambda: os.rmdir(tmp_path / "before"))
        return [in_proc, out.returncode, out.stderr, rmdir_ok]

    in_proc, rc, stderr, rmdir_ok = in_child(child)
    assert in_proc == errno.EPERM
    assert rc != 0 and "Operation not permitted" in stderr
    assert rmdir_ok == 0
    assert not (tmp_path / "after").exists() and not (tmp_path / "exec").exists()


def test_custom_errno_and_arg_conditions(in_child: InChild) -> None:
    sec = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            {
                # Docker allows only personality queries and a few personas; here
                # anything but the 0xffffffff query fails with EINVAL.
                "names": ["personality"],
                "action": "SCMP_ACT_ERRNO",
                "errnoRet": errno.EINVAL,
                "args": [{"index": 0, "value": 0xFFFFFFFF, "op": "SCMP_CMP_NE"}],
            },
            {
                "names": ["getpriority"],
                "action": "SCMP_ACT_ERRNO",
                "errnoRet": errno.EACCES,
                "args": [{"index": 1, "value": 0x10, "valueTwo": 0x10, "op": "SCMP_CMP_MASKED_EQ"}],
            },
        ],
    }

    def child() -> list[int]:
        seccomp.compile_filter(sec).load()
        query = personality(0xFFFFFFFF)
        setp = personality(ADDR_NO_RANDOMIZE)
        # getpriority(PRIO_PROCESS, who): who with bit 4 set is refused.
        masked_hit = errno_of(lambda: os.getpriority(os.PRIO_PROCESS, 0x10 | os.getpid() << 8))
        masked_miss = errno_of(lambda: os.getpriority(os.PRIO_PROCESS, 0))
        return [query, setp, masked_hit, masked_miss]

    query, setp, masked_hit, masked_miss = in_child(child)
    assert query >= 0
    assert setp == -errno.EINVAL
    assert masked_hit == errno.EACCES
    assert masked_miss == 0


def test_conditions_on_one_arg_are_ored(in_child: InChild) -> None:
    sec = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            {
                "names": ["personality"],
                "action": "SCMP_ACT_ERRNO",
                "args": [
                    {"index": 0, "value": ADDR_NO_RANDOMIZE, "op": "SCMP_CMP_EQ"},
                    {"index": 0, "value": 0x0200000, "op": "SCMP_CMP_EQ"},
                ],
            }
        ],
    }

    def child() -> list[int]:
        seccomp.compile_filter(sec).load()
        return [personality(ADDR_NO_RANDOMIZE), personality(0x0200000), personality(0)]

    assert in_child(child)[:2] == [-errno.EPERM, -errno.EPERM]
    assert in_child(child)[2] >= 0


def test_kill_process_and_trap_deliver_sigsys(in_child: InChild) -> None:
    def run_with(action: str) -> int:
        sec = {
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["uname"], "action": action}],
        }

        def child() -> int:
            seccomp.compile_filter(sec).load()
            return subprocess.run([BUSYBOX, "uname"], capture_output=True).returncode

        return int(in_child(child))

    assert run_with("SCMP_ACT_KILL_PROCESS") == -signal.SIGSYS
    assert run_with("SCMP_ACT_TRAP") == -signal.SIGSYS
    assert run_with("SCMP_ACT_LOG") == 0


def test_default_errno_with_allow_list(in_child: InChild) -> None:
    """A whitelist profile like Docker's: default ERRNO(ENOSYS), a few calls allowed."""
    allowed = [
        "read", "write", "exit", "exit_group", "execve", "brk", "mmap", "munmap", "arch_prctl",
        "set_tid_address", "rt_sigaction", "rt_sigprocmask", "getpid", "uname", "close",
        "ioctl", "prlimit64", "getuid", "geteuid", "readlink", "readlinkat", "newfstatat",
        "fstat", "getppid", "set_robust_list", "rseq", "getrandom", "mprotect", "prctl",
        "statmount",
    ]  # fmt: skip
    sec = {
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": errno.ENOSYS,
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [{"names": allowed, "action": "SCMP_ACT_ALLOW"}],
    }

    def child() -> int:
        f = seccomp.compile_filter(sec)
        rfd, wfd = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                os.close(rfd)
                os.dup2(wfd, 1)
                f.load()
                os.write(1, b"%d " % errno_of(os.getcwd))  # not allowed: ENOSYS
                os.execv(BUSYBOX, [BUSYBOX, "uname", "-s"])
            finally:
                os._exit(127)
        os.close(wfd)
        data = b""
        while chunk := os.read(rfd, 100):
            data += chunk
        os.close(rfd)
        _, status = os.waitpid(pid, 0)
        assert data == b"%d Linux\n" % errno.ENOSYS, data
        return os.waitstatus_to_exitcode(status)

    assert in_child(child) == 0


def test_tsync_applies_to_every_thread(in_child: InChild, tmp_path: Path) -> None:
    sec = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "flags": ["SECCOMP_FILTER_FLAG_TSYNC"],
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}],
    }

    def child() -> int:
        go, done = threading.Event(), threading.Event()
        result: list[int] = []

        def worker() -> None:
            go.wait(10)
            result.append(errno_of(lambda: os.mkdir(tmp_path / "from-thread")))
            done.set()

        t = threading.Thread(target=worker)
        t.start()
        seccomp.compile_filter(sec).load()
        go.set()
        done.wait(10)
        t.join(10)
        return result[0]

    assert in_child(child) == errno.EPERM
    assert not (tmp_path / "from-thread").exists()


def test_cached_program_loads_and_enforces(in_child: InChild, tmp_path: Path) -> None:
    sec = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["rmdir", "unlinkat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 18}],
    }
    cache = str(tmp_path / "cache")
    seccomp.compile_filter(sec, cache_dir=cache)  # fills the cache
    (tmp_path / "d").mkdir()

    def child() -> int:
        f = seccomp.compile_filter(sec, cache_dir=cache)  # a hit
        f.load()
        return errno_of(lambda: os.rmdir(tmp_path / "d"))

    assert in_child(child) == 18
    assert (tmp_path / "d").is_dir()


def test_load_without_privilege_is_a_clear_error(in_child: InChild) -> None:
    sec = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": []}

    def child() -> str:
        from dockyard.linux import capabilities as caps

        f = seccomp.compile_filter(sec)
        caps.apply_caps(0, 0, 0, 0, 0)  # no CAP_SYS_ADMIN, and no no_new_privs
        try:
            f.load()
        except seccomp.SeccompError as e:
            return str(e)
        return "loaded"

    assert "needs no_new_privs or CAP_SYS_ADMIN" in in_child(child)


def test_independent_of_argtypes_set_on_the_shared_libc(in_child: InChild) -> None:
    """Other modules declare argtypes on the shared handle (libc.prctl, libc.syscall);
    our calls must not depend on them."""
    sec = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["getpriority"], "action": "SCMP_ACT_ERRNO", "errnoRet": 77}],
    }

    def child() -> int:
        saved = libc.prctl.argtypes, libc.syscall.argtypes
        libc.prctl.argtypes = [ctypes.c_int] + [ctypes.c_ulong] * 4
        libc.syscall.argtypes = [ctypes.c_long] * 4
        try:
            seccomp.compile_filter(sec).load()
        finally:
            libc.prctl.argtypes, libc.syscall.argtypes = saved
        return errno_of(lambda: os.getpriority(os.PRIO_PROCESS, 0))

    assert in_child(child) == 77
