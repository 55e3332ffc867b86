"""Device access control on cgroup v2: an eBPF program of type CGROUP_DEVICE.

cgroup v2 has no devices.allow/deny files; the kernel asks a BPF program attached
to the cgroup instead. ``device_program`` (pure) turns the OCI rule list into that
program, ``attach_device_program`` loads it and attaches it to a cgroup directory.

Semantics are those of the v1 list read as "last matching rule wins, default
deny": an allow rule matches when it grants every access asked (r/w/m), a deny
rule when it refuses any of them.
"""

from __future__ import annotations

import ctypes
import os
import struct

from dockyard.linux.libc import libc

__all__ = ["DeviceRule", "attach_device_program", "device_program", "parse_rule"]

# (allow, type "a"/"b"/"c", major or None for *, minor or None, access "rwm" subset)
DeviceRule = tuple[bool, str, int | None, int | None, str]

_BPF_PROG_LOAD = 5
_BPF_PROG_ATTACH = 8
_BPF_PROG_TYPE_CGROUP_DEVICE = 15
_BPF_CGROUP_DEVICE = 6
_SYS_BPF = {"x86_64": 321, "aarch64": 280, "riscv64": 280, "s390x": 351, "ppc64le": 361}

_DEV_TYPE = {"b": 1, "c": 2}  # BPF_DEVCG_DEV_BLOCK, BPF_DEVCG_DEV_CHAR
_ACC = {"m": 1, "r": 2, "w": 4}  # BPF_DEVCG_ACC_MKNOD, READ, WRITE

# eBPF opcodes
_LDX_W = 0x61  # dst = *(u32 *)(src + off)
_AND_K = 0x57
_RSH_K = 0x77
_MOV_X = 0xBF
_MOV_K = 0xB7
_JNE_K = 0x55
_JEQ_K = 0x15
_EXIT = 0x95


def _insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


def parse_rule(line: str) -> DeviceRule:
    """ "allow c 1:3 rwm" / "deny a *:* rwm" to a DeviceRule."""
    verdict, kind, numbers, access = line.split()
    major, _, minor = numbers.partition(":")
    return (
        verdict == "allow",
        kind,
        None if major == "*" else int(major),
        None if minor == "*" else int(minor),
        access,
    )


def _block(rule: DeviceRule) -> list[bytes]:
    """One rule: jump to the next block unless it matches, else return its verdict.
    Registers: r2 device type, r3 access asked, r4 major, r5 minor."""
    allow, kind, major, minor, access = rule
    acc = sum(_ACC[c] for c in access)
    ops: list[tuple[int, int, int, int, bool]] = []  # code, dst, src, imm, jumps to next
    if kind != "a":
        ops.append((_JNE_K, 2, 0, _DEV_TYPE[kind], True))
    if major is not None:
        ops.append((_JNE_K, 4, 0, major, True))
    if minor is not None:
        ops.append((_JNE_K, 5, 0, minor, True))
    ops.append((_MOV_X, 6, 3, 0, False))
    if allow:  # an access asked that the rule does not grant: not this rule
        ops += [(_AND_K, 6, 0, 7 & ~acc, False), (_JNE_K, 6, 0, 0, True)]
    else:  # none of the refused accesses asked: not this rule
        ops += [(_AND_K, 6, 0, acc, False), (_JEQ_K, 6, 0, 0, True)]
    ops += [(_MOV_K, 0, 0, 1 if allow else 0, False), (_EXIT, 0, 0, 0, False)]
    n = len(ops)
    return [
        _insn(code, dst, src, n - i - 1 if jump else 0, imm)
        for i, (code, dst, src, imm, jump) in enumerate(ops)
    ]


def device_program(rules: list[DeviceRule]) -> bytes:
    """The BPF_PROG_TYPE_CGROUP_DEVICE program for ``rules`` (last match wins)."""
    prog = [
        _insn(_LDX_W, 2, 1, 0),  # access_type
        _insn(_AND_K, 2, imm=0xFFFF),  # low half: the device type
        _insn(_LDX_W, 3, 1, 0),
        _insn(_RSH_K, 3, imm=16),  # high half: the access asked
        _insn(_LDX_W, 4, 1, 4),  # major
        _insn(_LDX_W, 5, 1, 8),  # minor
    ]
    for rule in reversed(rules):
        prog += _block(rule)
    prog += [_insn(_MOV_K, 0, imm=0), _insn(_EXIT)]  # nothing matched: deny
    return b"".join(prog)


_bpf_fn = libc["syscall"]  # a private function object: our own argtypes
_bpf_fn.restype = ctypes.c_long
_bpf_fn.argtypes = [ctypes.c_long, ctypes.c_int, ctypes.c_void_p, ctypes.c_uint]


def _bpf(cmd: int, attr: ctypes.Array[ctypes.c_char]) -> int:
    nr = _SYS_BPF.get(os.uname().machine)
    if nr is None:
        raise OSError(38, f"bpf(2) number unknown on {os.uname().machine}")
    ret = int(_bpf_fn(nr, cmd, ctypes.addressof(attr), len(attr)))
    if ret < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"bpf: {os.strerror(err)}")
    return ret


def attach_device_program(cgroup_dir: str, program: bytes) -> None:
    """Load ``program`` and attach it to the cgroup, replacing any earlier one."""
    insns = ctypes.create_string_buffer(program, len(program))
    license_ = ctypes.create_string_buffer(b"Apache-2.0")
    log = ctypes.create_string_buffer(65536)
    attr = ctypes.create_string_buffer(128)
    # union bpf_attr, BPF_PROG_LOAD: prog_type, insn_cnt, insns, license, log_level,
    # log_size, log_buf.
    struct.pack_into(
        "<IIQQIIQ", attr, 0, _BPF_PROG_TYPE_CGROUP_DEVICE, len(program) // 8,
        ctypes.addressof(insns), ctypes.addressof(license_), 1, len(log), ctypes.addressof(log),
    )  # fmt: skip
    try:
        prog_fd = _bpf(_BPF_PROG_LOAD, attr)
    except OSError as e:
        detail = log.value.decode(errors="replace").strip().splitlines()[-1:] or [""]
        raise OSError(e.errno, f"{e.strerror} {detail[0]}".strip()) from None
    try:
        cg_fd = os.open(cgroup_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            attach = ctypes.create_string_buffer(128)
            # BPF_PROG_ATTACH: target_fd, attach_bpf_fd, attach_type, attach_flags (0:
            # a single program, which a later attach replaces).
            struct.pack_into("<IIII", attach, 0, cg_fd, prog_fd, _BPF_CGROUP_DEVICE, 0)
            _bpf(_BPF_PROG_ATTACH, attach)
        finally:
            os.close(cg_fd)
    finally:
        os.close(prog_fd)
