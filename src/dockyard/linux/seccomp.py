"""The OCI seccomp section, compiled and loaded with libseccomp (through ctypes).

``compile_filter`` validates the whole section and compiles it to a BPF program
up front (libseccomp builds it, optionally cached on disk), so the runtime
reports a bad profile before it forks; the init process then only calls
``load()``, one seccomp(2) system call. libseccomp is opened on first use,
never at import.

Syscall names: a name libseccomp resolves is used (libseccomp itself skips it on
architectures that lack it). A name libseccomp does not know — newer than its
table — is skipped, as runc does, but only if it is a real Linux syscall name
(``seccomp_names.SYSCALL_NAMES``); anything else raises SeccompError. Invalid
actions, operators, architectures and flags raise SeccompError too. The filter
never sets no_new_privs itself (the runtime does that, when the config asks):
without it, loading needs CAP_SYS_ADMIN.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
from typing import Any

from dockyard.linux.libc import libc
from dockyard.linux.seccomp_plan import (
    ACTIONS,
    ARCHES,
    FLAGS,
    KNOWN_FLAGS,
    OPERATORS,
    FilterPlan,
    SeccompError,
    plan_filter,
)

__all__ = ["SeccompError", "SeccompFilter", "compile_filter", "features"]

_NR_SCMP_ERROR = -1
_EEXIST = 17
_SECCOMP_SET_MODE_FILTER = 1
# Private function objects (libc["name"] makes a new one): argtypes set elsewhere on
# the shared handle's libc.prctl never change how these are called.
_prctl_fn = libc["prctl"]
_prctl_fn.restype = ctypes.c_int
_prctl_fn.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
_syscall3_fn = libc["syscall"]
_syscall3_fn.restype = ctypes.c_long
_syscall3_fn.argtypes = [ctypes.c_long, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_void_p]
_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2
_SYS_SECCOMP = {"x86_64": 317, "aarch64": 277, "riscv64": 277, "s390x": 348, "ppc64le": 358}


class _ArgCmp(ctypes.Structure):
    _fields_ = (
        ("arg", ctypes.c_uint),
        ("op", ctypes.c_int),
        ("datum_a", ctypes.c_uint64),
        ("datum_b", ctypes.c_uint64),
    )


_lib: ctypes.CDLL | None = None


def preload() -> None:
    """Load libseccomp now, for processes that fork runtime commands (SeccompError if absent)."""
    _libseccomp()


def _libseccomp() -> ctypes.CDLL:
    """Open libseccomp.so.2 once, declaring the prototypes we call."""
    global _lib
    if _lib is not None:
        return _lib
    try:
        lib = ctypes.CDLL("libseccomp.so.2")
    except OSError as e:
        raise SeccompError(f"seccomp: cannot load libseccomp.so.2: {e}") from None
    ctx, u32, c_int = ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int
    protos: dict[str, tuple[Any, list[Any]]] = {
        "seccomp_init": (ctx, [u32]),
        "seccomp_release": (None, [ctx]),
        "seccomp_arch_resolve_name": (u32, [ctypes.c_char_p]),
        "seccomp_arch_add": (c_int, [ctx, u32]),
        "seccomp_syscall_resolve_name": (c_int, [ctypes.c_char_p]),
        "seccomp_rule_add_array": (
            c_int,
            [ctx, u32, c_int, ctypes.c_uint, ctypes.POINTER(_ArgCmp)],
        ),
        "seccomp_version": (ctypes.c_void_p, []),
        "seccomp_export_bpf": (c_int, [ctx, c_int]),
    }
    for name, (restype, argtypes) in protos.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes
    _lib = lib
    return lib


def _check(ret: int, what: str) -> None:
    # libseccomp returns -errno rather than setting errno.
    if ret < 0:
        raise SeccompError(f"seccomp: {what}: {os.strerror(-ret)}")


class _SockFprog(ctypes.Structure):
    _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.c_char_p))


class SeccompFilter:
    """A compiled filter, held as the BPF program libseccomp generated for this
    machine. ``load()`` installs it with one seccomp(2) call — no libseccomp work is
    left for the (forked) container init — on the calling thread, or on all threads
    with SECCOMP_FILTER_FLAG_TSYNC."""

    def __init__(self, bpf: bytes, kernel_flags: int, skipped: list[str]) -> None:
        self._bpf: bytes | None = bpf
        self.kernel_flags = kernel_flags
        #: names skipped because this libseccomp does not know them (see module doc)
        self.skipped = skipped

    def export_bpf(self) -> bytes:
        """The BPF program (an array of 8-byte struct sock_filter)."""
        if self._bpf is None:
            raise SeccompError("seccomp: filter already released")
        return self._bpf

    def load(self) -> None:
        bpf = self.export_bpf()
        prog = _SockFprog(len(bpf) // 8, bpf)
        nr = _SYS_SECCOMP.get(os.uname().machine)
        if self.kernel_flags == 0:
            # prctl(PR_SET_SECCOMP) is the same as seccomp(2) without flags, on every arch.
            ret = int(
                _prctl_fn(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.addressof(prog), 0, 0)
            )
        elif nr is None:
            raise SeccompError(
                f"seccomp: filter flags need seccomp(2), unknown on {os.uname().machine}"
            )
        else:
            ret = int(
                _syscall3_fn(
                    nr, _SECCOMP_SET_MODE_FILTER, self.kernel_flags, ctypes.addressof(prog)
                )
            )
        if ret < 0:
            err = ctypes.get_errno()
            hint = " (needs no_new_privs or CAP_SYS_ADMIN)" if err == errno.EACCES else ""
            raise SeccompError(f"seccomp: load filter: {os.strerror(err)}{hint}")
        if ret > 0:  # TSYNC: the id of a thread that could not be synchronised
            raise SeccompError(f"seccomp: load filter: thread {ret} could not be synchronised")

    def close(self) -> None:
        self._bpf = None

    def __enter__(self) -> SeccompFilter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _resolve(lib: ctypes.CDLL, name: str) -> int | None:
    """libseccomp's number for ``name`` (maybe a negative pseudo-number for a call the
    native arch lacks); None for a real syscall this libseccomp does not know."""
    nr = int(lib.seccomp_syscall_resolve_name(name.encode()))
    if nr != _NR_SCMP_ERROR:
        return nr
    from dockyard.linux.seccomp_names import SYSCALL_NAMES  # only on this rare path

    if name in SYSCALL_NAMES:
        return None
    raise SeccompError(f"seccomp: unknown syscall {name!r}")


def _generate(plan: FilterPlan) -> tuple[bytes, list[str]]:
    """Build the filter with libseccomp and export its BPF program."""
    lib = _libseccomp()
    ctx = lib.seccomp_init(plan.default_action)
    if not ctx:
        raise SeccompError("seccomp: seccomp_init failed (bad default action?)")
    skipped: list[str] = []
    try:
        for arch in plan.arches:
            token = int(lib.seccomp_arch_resolve_name(arch.encode()))
            if token == 0:
                raise SeccompError(f"seccomp: architecture {arch} unknown to libseccomp")
            ret = int(lib.seccomp_arch_add(ctx, token))
            if ret != -_EEXIST:  # the native arch is already there
                _check(ret, f"add architecture {arch}")
        numbers: dict[str, int | None] = {}
        for rule in plan.rules:
            if rule.name not in numbers:
                numbers[rule.name] = _resolve(lib, rule.name)
            nr = numbers[rule.name]
            if nr is None:
                if rule.name not in skipped:
                    skipped.append(rule.name)
                continue
            conds = (_ArgCmp * max(1, len(rule.conditions)))(
                *(_ArgCmp(*c) for c in rule.conditions)
            )
            ret = int(lib.seccomp_rule_add_array(ctx, rule.action, nr, len(rule.conditions), conds))
            _check(ret, f"add rule for {rule.name}")
        fd = os.memfd_create("dockyard-seccomp", os.MFD_CLOEXEC)
        try:
            _check(lib.seccomp_export_bpf(ctx, fd), "export BPF")
            bpf = os.pread(fd, os.lseek(fd, 0, os.SEEK_CUR), 0)
        finally:
            os.close(fd)
    finally:
        lib.seccomp_release(ctx)
    return bpf, skipped


def _cache_key(section: dict[str, Any]) -> str:
    import hashlib
    import json

    lib = _libseccomp()
    ver = ctypes.cast(lib.seccomp_version(), ctypes.POINTER(ctypes.c_uint * 3)).contents
    tag = f"dockyard-seccomp-1 {os.uname().machine} libseccomp {tuple(ver)}\n"
    body = json.dumps(section, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256((tag + body).encode()).hexdigest()


def compile_filter(section: dict[str, Any], cache_dir: str | None = None) -> SeccompFilter:
    """Validate an OCI ``linux.seccomp`` section and compile it to BPF.

    With ``cache_dir``, a program compiled before for the same section (same
    libseccomp, same machine) is reused from ``cache_dir/<sha256>.bpf``, which
    saves libseccomp's work on every container start with the same profile.
    """
    plan = plan_filter(section)
    flags = plan.flags
    path = None
    if cache_dir is not None:
        path = os.path.join(cache_dir, _cache_key(section) + ".bpf")
        with contextlib.suppress(OSError):
            with open(path, "rb") as f:
                bpf = f.read()
            if bpf and len(bpf) % 8 == 0:
                return SeccompFilter(bpf, flags, [])
    bpf, skipped = _generate(plan)
    if path is not None:
        with contextlib.suppress(OSError):
            os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
            tmp = f"{path}.{os.getpid()}.tmp"
            with open(tmp, "wb") as f:
                f.write(bpf)
            os.replace(tmp, path)  # atomic: a reader sees the old file or the whole new one
    return SeccompFilter(bpf, flags, skipped)


def features() -> dict[str, Any]:
    """The ``linux.seccomp`` object of the runtime-spec features document."""
    try:
        lib = _libseccomp()
    except SeccompError:
        return {"enabled": False}
    archs = sorted(a for a, n in ARCHES.items() if lib.seccomp_arch_resolve_name(n.encode()))
    return {
        "enabled": True,
        "actions": sorted(ACTIONS),
        "operators": sorted(OPERATORS),
        "archs": archs,
        "knownFlags": list(KNOWN_FLAGS),
        "supportedFlags": list(FLAGS),
    }
