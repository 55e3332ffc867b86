"""The OCI seccomp section, compiled and loaded with libseccomp (through ctypes).

``compile_filter`` validates the whole section and builds the libseccomp context
up front, so the runtime reports a bad profile before it forks; the init process
then only calls ``load()``. libseccomp is opened on first use, never at import.

Syscall names: a name libseccomp resolves is used (libseccomp itself skips it on
architectures that lack it). A name libseccomp does not know — newer than its
table — is skipped, as runc does, but only if it is a real Linux syscall name
(``seccomp_names.SYSCALL_NAMES``); anything else raises SeccompError. Invalid
actions, operators, architectures and flags raise SeccompError too. The filter
never sets no_new_privs itself (the runtime does that, when the config asks).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
from typing import Any

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
_ATTR_CTL_NNP = 3
_EEXIST = 17


class _ArgCmp(ctypes.Structure):
    _fields_ = (
        ("arg", ctypes.c_uint),
        ("op", ctypes.c_int),
        ("datum_a", ctypes.c_uint64),
        ("datum_b", ctypes.c_uint64),
    )


_lib: ctypes.CDLL | None = None


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
        "seccomp_attr_set": (c_int, [ctx, c_int, u32]),
        "seccomp_load": (c_int, [ctx]),
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


class SeccompFilter:
    """A compiled filter: ``load()`` installs it on the calling thread (or all threads
    with SECCOMP_FILTER_FLAG_TSYNC); ``export_bpf()`` gives the BPF program."""

    def __init__(self, ctx: int, plan: FilterPlan, skipped: list[str]) -> None:
        self._ctx: int | None = ctx
        self.plan = plan
        #: names skipped because this libseccomp does not know them (see module doc)
        self.skipped = skipped

    def _handle(self) -> int:
        if self._ctx is None:
            raise SeccompError("seccomp: filter already released")
        return self._ctx

    def load(self) -> None:
        _check(_libseccomp().seccomp_load(self._handle()), "load filter")

    def export_bpf(self) -> bytes:
        fd = os.memfd_create("dockyard-seccomp", os.MFD_CLOEXEC)
        try:
            _check(_libseccomp().seccomp_export_bpf(self._handle(), fd), "export BPF")
            size = os.lseek(fd, 0, os.SEEK_CUR)
            return os.pread(fd, size, 0)
        finally:
            os.close(fd)

    def close(self) -> None:
        if self._ctx is not None:
            _libseccomp().seccomp_release(self._ctx)
            self._ctx = None

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()

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


def compile_filter(section: dict[str, Any]) -> SeccompFilter:
    """Validate an OCI ``linux.seccomp`` section and build its libseccomp filter."""
    plan = plan_filter(section)
    lib = _libseccomp()
    ctx = lib.seccomp_init(plan.default_action)
    if not ctx:
        raise SeccompError("seccomp: seccomp_init failed (bad default action?)")
    filt = SeccompFilter(ctx, plan, [])
    try:
        _check(lib.seccomp_attr_set(ctx, _ATTR_CTL_NNP, 0), "clear no_new_privs attribute")
        for attr, value in plan.attrs:
            _check(lib.seccomp_attr_set(ctx, attr, value), f"set attribute {attr}")
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
                if rule.name not in filt.skipped:
                    filt.skipped.append(rule.name)
                continue
            conds = (_ArgCmp * max(1, len(rule.conditions)))(
                *(_ArgCmp(*c) for c in rule.conditions)
            )
            ret = int(lib.seccomp_rule_add_array(ctx, rule.action, nr, len(rule.conditions), conds))
            _check(ret, f"add rule for {rule.name}")
    except BaseException:
        filt.close()
        raise
    return filt


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
