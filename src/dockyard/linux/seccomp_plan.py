"""Validate an OCI ``linux.seccomp`` section into a plain plan (pure, no libseccomp).

The plan holds libseccomp's numeric encodings (actions, comparison operators),
architecture names as libseccomp spells them, the kernel's filter flags and one
rule per (syscall name, argument conditions) — so the runtime can report every
mistake before it forks.
"""

from __future__ import annotations

import errno
from typing import Any, NamedTuple

__all__ = [
    "ACTIONS",
    "ARCHES",
    "FLAGS",
    "KNOWN_FLAGS",
    "OPERATORS",
    "FilterPlan",
    "RulePlan",
    "SeccompError",
    "action_value",
    "plan_filter",
]


class SeccompError(Exception):
    """A seccomp section that cannot be turned into a filter, or a filter that failed."""


# libseccomp's action encodings (seccomp.h); ERRNO and TRACE carry a 16-bit datum.
_ACT_KILL_PROCESS = 0x80000000
_ACT_KILL_THREAD = 0x00000000
_ACT_TRAP = 0x00030000
_ACT_ERRNO = 0x00050000
_ACT_TRACE = 0x7FF00000
_ACT_LOG = 0x7FFC0000
_ACT_ALLOW = 0x7FFF0000
_ACT_NOTIFY = 0x7FC00000

ACTIONS: dict[str, int] = {
    "SCMP_ACT_KILL": _ACT_KILL_THREAD,
    "SCMP_ACT_KILL_PROCESS": _ACT_KILL_PROCESS,
    "SCMP_ACT_KILL_THREAD": _ACT_KILL_THREAD,
    "SCMP_ACT_TRAP": _ACT_TRAP,
    "SCMP_ACT_ERRNO": _ACT_ERRNO,
    "SCMP_ACT_TRACE": _ACT_TRACE,
    "SCMP_ACT_ALLOW": _ACT_ALLOW,
    "SCMP_ACT_LOG": _ACT_LOG,
}
# Known to the OCI spec but refused here: user notification needs a listener
# process (listenerPath) that this runtime does not drive.
_UNSUPPORTED_ACTIONS = {"SCMP_ACT_NOTIFY": _ACT_NOTIFY}

# enum scmp_compare
OPERATORS: dict[str, int] = {
    "SCMP_CMP_NE": 1,
    "SCMP_CMP_LT": 2,
    "SCMP_CMP_LE": 3,
    "SCMP_CMP_EQ": 4,
    "SCMP_CMP_GE": 5,
    "SCMP_CMP_GT": 6,
    "SCMP_CMP_MASKED_EQ": 7,
}

# OCI architecture name -> libseccomp's name for seccomp_arch_resolve_name.
ARCHES: dict[str, str] = {
    f"SCMP_ARCH_{n.upper()}": n
    for n in (
        "x86", "x86_64", "x32", "arm", "aarch64", "mips", "mips64", "mips64n32",
        "mipsel", "mipsel64", "mipsel64n32", "ppc", "ppc64", "ppc64le", "s390",
        "s390x", "parisc", "parisc64", "riscv64",
    )
}  # fmt: skip

# The kernel's SECCOMP_FILTER_FLAG_* bits: they go to seccomp(2) when the program
# is loaded, not into the program. WAIT_KILLABLE_RECV only matters with user
# notification, which this runtime does not offer.
FLAGS: dict[str, int] = {
    "SECCOMP_FILTER_FLAG_TSYNC": 1,
    "SECCOMP_FILTER_FLAG_LOG": 2,
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW": 4,
}
KNOWN_FLAGS = [*FLAGS, "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]

_MAX_ARGS = 6
_U64 = (1 << 64) - 1


# NamedTuple and a plain class rather than dataclasses: dataclasses imports inspect,
# which would cost dockyard-runc several milliseconds at every start.
class RulePlan(NamedTuple):
    """One libseccomp rule: action, syscall name and (arg, op, datum_a, datum_b) conditions."""

    action: int
    name: str
    conditions: tuple[tuple[int, int, int, int], ...] = ()


class FilterPlan:
    """The validated filter: default action, extra arches, attributes and rules."""

    def __init__(self, default_action: int) -> None:
        self.default_action = default_action
        self.arches: list[str] = []
        self.flags = 0  # SECCOMP_FILTER_FLAG_* bits for seccomp(2)
        self.rules: list[RulePlan] = []


def action_value(name: object, errno_ret: object, where: str) -> int:
    """libseccomp's encoding of an OCI action with its optional errnoRet."""
    if not isinstance(name, str):
        raise SeccompError(f"seccomp {where}: action must be a string, not {name!r}")
    if name in _UNSUPPORTED_ACTIONS:
        raise SeccompError(f"seccomp {where}: {name} is not supported by this runtime")
    base = ACTIONS.get(name)
    if base is None:
        raise SeccompError(f"seccomp {where}: unknown action {name!r}")
    if base in (_ACT_ERRNO, _ACT_TRACE):
        ret = errno.EPERM if errno_ret is None else errno_ret
        if not isinstance(ret, int) or isinstance(ret, bool) or not 0 <= ret <= 0xFFFF:
            raise SeccompError(f"seccomp {where}: bad errnoRet {errno_ret!r}")
        return base | ret
    if errno_ret is not None:
        raise SeccompError(f"seccomp {where}: errnoRet is only valid with ERRNO or TRACE")
    return base


def _u64(value: object, what: str, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= _U64:
        raise SeccompError(f"seccomp {where}: {what} must be an unsigned 64-bit integer")
    return value


def _conditions(args: object, where: str) -> list[tuple[int, int, int, int]]:
    if args is None:
        return []
    if not isinstance(args, list):
        raise SeccompError(f"seccomp {where}: args must be a list")
    out = []
    for arg in args:
        if not isinstance(arg, dict):
            raise SeccompError(f"seccomp {where}: each arg must be an object")
        index = arg.get("index")
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < _MAX_ARGS:
            raise SeccompError(f"seccomp {where}: arg index must be 0..5, not {index!r}")
        op_name = arg.get("op")
        op = OPERATORS.get(op_name) if isinstance(op_name, str) else None
        if op is None:
            raise SeccompError(f"seccomp {where}: unknown operator {op_name!r}")
        value = _u64(arg.get("value", 0), "value", where)
        value_two = _u64(arg.get("valueTwo", 0), "valueTwo", where)
        out.append((index, op, value, value_two))
    return out


def _split_conditions(
    conds: list[tuple[int, int, int, int]],
) -> list[tuple[tuple[int, int, int, int], ...]]:
    """libseccomp refuses two conditions on one argument in a rule; like runc, such
    conditions become one rule each (so they OR rather than AND)."""
    indexes = [c[0] for c in conds]
    if len(set(indexes)) == len(indexes):
        return [tuple(conds)]
    return [(c,) for c in conds]


def plan_filter(section: dict[str, Any]) -> FilterPlan:
    """Check an OCI seccomp section and return its plan; raise SeccompError naming the
    first problem. Syscall names are checked later, against libseccomp."""
    if not isinstance(section, dict):
        raise SeccompError("seccomp: section must be an object")
    if "defaultAction" not in section:
        raise SeccompError("seccomp: defaultAction is required")
    if section.get("listenerPath") or section.get("listenerMetadata"):
        raise SeccompError("seccomp: listenerPath (SCMP_ACT_NOTIFY) is not supported")
    plan = FilterPlan(
        action_value(section["defaultAction"], section.get("defaultErrnoRet"), "defaultAction")
    )
    for arch in section.get("architectures") or []:
        name = ARCHES.get(arch) if isinstance(arch, str) else None
        if name is None:
            raise SeccompError(f"seccomp: unknown architecture {arch!r}")
        if name not in plan.arches:
            plan.arches.append(name)
    for flag in section.get("flags") or []:
        if flag not in KNOWN_FLAGS:
            raise SeccompError(f"seccomp: unknown flag {flag!r}")
        if flag not in FLAGS:
            raise SeccompError(f"seccomp: flag {flag} is not supported by this runtime")
        plan.flags |= FLAGS[flag]
    syscalls = section.get("syscalls") or []
    if not isinstance(syscalls, list):
        raise SeccompError("seccomp: syscalls must be a list")
    for i, sc in enumerate(syscalls):
        if not isinstance(sc, dict):
            raise SeccompError(f"seccomp: syscalls[{i}] must be an object")
        names = sc.get("names")
        if names is None and isinstance(sc.get("name"), str):
            names = [sc["name"]]  # the pre-1.0 spelling
        if not isinstance(names, list) or not names:
            raise SeccompError(f"seccomp: syscalls[{i}] needs a non-empty names list")
        where = f"syscalls[{i}] ({', '.join(map(str, names[:3]))})"
        if "action" not in sc:
            raise SeccompError(f"seccomp {where}: action is required")
        action = action_value(sc["action"], sc.get("errnoRet"), where)
        groups = _split_conditions(_conditions(sc.get("args"), where))
        for name in names:
            if not isinstance(name, str) or not name:
                raise SeccompError(f"seccomp {where}: bad syscall name {name!r}")
            if action == plan.default_action:
                continue  # libseccomp refuses rules that repeat the default
            plan.rules.extend(RulePlan(action, name, conds) for conds in groups)
    return plan
