"""The cgroup v2 device program, run by a small eBPF interpreter (pure)."""

from __future__ import annotations

import itertools
import struct

import pytest

from dockyard.linux.devices_bpf import DeviceRule, device_program, parse_rule

TYPES = {"b": 1, "c": 2}
ACC = {"m": 1, "r": 2, "w": 4}


def run(prog: bytes, dev_type: int, access: int, major: int, minor: int) -> int:
    """Interpret the opcodes device_program emits, over struct bpf_cgroup_dev_ctx."""
    ctx = struct.pack("<III", (access << 16) | dev_type, major, minor)
    regs = [0] * 11
    pc, steps = 0, 0
    mask = (1 << 64) - 1
    while True:
        steps += 1
        assert steps < 10_000, "runaway program"
        code, regbyte, off, imm = struct.unpack_from("<BBhi", prog, pc * 8)
        dst, src = regbyte & 0xF, regbyte >> 4
        pc += 1
        if code == 0x61:
            assert src == 1, "loads only from the context (r1)"
            regs[dst] = struct.unpack_from("<I", ctx, off)[0]
        elif code == 0x57:
            regs[dst] &= imm & mask
        elif code == 0x77:
            regs[dst] >>= imm
        elif code == 0xBF:
            regs[dst] = regs[src]
        elif code == 0xB7:
            regs[dst] = imm & mask
        elif code == 0x55:
            if regs[dst] != imm & mask:
                pc += off
        elif code == 0x15:
            if regs[dst] == imm & mask:
                pc += off
        elif code == 0x95:
            return regs[0]
        else:
            raise AssertionError(f"unexpected opcode {code:#x}")


def reference(rules: list[DeviceRule], kind: str, access: str, major: int, minor: int) -> int:
    """Last matching rule wins; an allow must grant all asked, a deny refuse any."""
    for allow, rkind, rmaj, rmin, racc in reversed(rules):
        if rkind != "a" and rkind != kind:
            continue
        if (rmaj is not None and rmaj != major) or (rmin is not None and rmin != minor):
            continue
        if allow and set(access) <= set(racc):
            return 1
        if not allow and set(access) & set(racc):
            return 0
    return 0


DOCKER = [
    "deny a *:* rwm", "allow c *:* m", "allow b *:* m", "allow c 1:3 rwm", "allow c 1:5 rwm",
    "allow c 1:7 rwm", "allow c 5:0 rwm", "allow c 5:1 rwm", "allow c 1:8 rwm",
    "allow c 1:9 rwm", "allow c 5:2 rwm", "allow c 136:* rwm", "allow c 10:200 rwm",
]  # fmt: skip


@pytest.mark.parametrize(
    "lines",
    [
        DOCKER,
        ["allow a *:* rwm", "deny c 1:3 w", "deny b 8:* rw"],
        ["deny a *:* rwm", "allow c 1:3 r", "deny c 1:3 r", "allow c 1:5 rw"],
        [],
    ],
)
def test_program_matches_reference(lines: list[str]) -> None:
    rules = [parse_rule(line) for line in lines]
    prog = device_program(rules)
    assert len(prog) % 8 == 0
    accesses = ["".join(c) for n in (1, 2, 3) for c in itertools.combinations("mrw", n)]
    for kind, access, major, minor in itertools.product(
        "bc", accesses, (1, 5, 8, 10, 136), (0, 3, 5, 9, 200)
    ):
        acc = sum(ACC[c] for c in access)
        got = run(prog, TYPES[kind], acc, major, minor)
        assert got == reference(rules, kind, access, major, minor), (kind, access, major, minor)


def test_docker_rules_spot_checks() -> None:
    prog = device_program([parse_rule(line) for line in DOCKER])
    assert run(prog, TYPES["c"], ACC["r"] | ACC["w"], 1, 3) == 1  # /dev/null
    assert run(prog, TYPES["c"], ACC["m"], 250, 7) == 1  # mknod of anything
    assert run(prog, TYPES["c"], ACC["r"], 250, 7) == 0  # but not opening it
    assert run(prog, TYPES["b"], ACC["r"], 8, 0) == 0  # no disks
    assert run(prog, TYPES["c"], ACC["w"], 136, 4) == 1  # any pty


def test_parse_rule() -> None:
    assert parse_rule("allow c 1:3 rwm") == (True, "c", 1, 3, "rwm")
    assert parse_rule("deny a *:* rwm") == (False, "a", None, None, "rwm")
    assert parse_rule("allow c 136:* rw") == (True, "c", 136, None, "rw")
