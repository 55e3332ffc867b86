"""Validation of OCI seccomp sections (pure) and filter compilation (no loading)."""

from __future__ import annotations

import errno
import struct
from pathlib import Path
from typing import Any

import pytest

from dockyard.linux import seccomp
from dockyard.linux.seccomp_names import SYSCALL_NAMES
from dockyard.linux.seccomp_plan import OPERATORS, RulePlan, SeccompError, plan_filter


def section(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": []}
    base.update(kw)
    return base


def test_actions_encode_errno_and_trace() -> None:
    plan = plan_filter(
        section(
            defaultAction="SCMP_ACT_ERRNO",
            defaultErrnoRet=38,
            syscalls=[
                {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
                {"names": ["ptrace"], "action": "SCMP_ACT_TRACE"},
                {"names": ["reboot"], "action": "SCMP_ACT_KILL_PROCESS"},
            ],
        )
    )
    assert plan.default_action == 0x00050000 | 38
    assert plan.rules == [
        RulePlan(0x7FFF0000, "read"),
        RulePlan(0x7FFF0000, "write"),
        RulePlan(0x00050000 | 13, "mkdir"),
        RulePlan(0x7FF00000 | errno.EPERM, "ptrace"),
        RulePlan(0x80000000, "reboot"),
    ]


def test_errno_default_is_eperm_and_rules_equal_to_default_are_dropped() -> None:
    plan = plan_filter(
        section(
            defaultAction="SCMP_ACT_ERRNO",
            syscalls=[
                {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"},
                {"names": ["rmdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 2},
            ],
        )
    )
    assert plan.default_action == 0x00050000 | errno.EPERM
    assert [r.name for r in plan.rules] == ["rmdir"]


def test_conditions_and_same_index_split() -> None:
    plan = plan_filter(
        section(
            syscalls=[
                {
                    "names": ["personality"],
                    "action": "SCMP_ACT_ERRNO",
                    "args": [{"index": 0, "value": 0xFFFFFFFF, "op": "SCMP_CMP_NE"}],
                },
                {
                    "names": ["clone"],
                    "action": "SCMP_ACT_ERRNO",
                    "args": [
                        {"index": 0, "value": 0x7E020000, "op": "SCMP_CMP_MASKED_EQ"},
                        {"index": 0, "value": 5, "valueTwo": 0, "op": "SCMP_CMP_EQ"},
                    ],
                },
                {
                    "names": ["socket"],
                    "action": "SCMP_ACT_ERRNO",
                    "args": [
                        {"index": 0, "value": 40, "op": "SCMP_CMP_EQ"},
                        {"index": 1, "value": 3, "valueTwo": 1, "op": "SCMP_CMP_MASKED_EQ"},
                    ],
                },
            ]
        )
    )
    ne, eq, masked = OPERATORS["SCMP_CMP_NE"], OPERATORS["SCMP_CMP_EQ"], 7
    assert plan.rules[0].conditions == ((0, ne, 0xFFFFFFFF, 0),)
    # Two conditions on arg 0: one rule each (OR), as runc does.
    assert [r.conditions for r in plan.rules[1:3]] == [
        ((0, masked, 0x7E020000, 0),),
        ((0, eq, 5, 0),),
    ]
    assert plan.rules[3].conditions == ((0, eq, 40, 0), (1, masked, 3, 1))


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"defaultAction": "SCMP_ACT_NOPE"}, "unknown action 'SCMP_ACT_NOPE'"),
        ({"syscalls": []}, "defaultAction is required"),
        (section(defaultAction="SCMP_ACT_ALLOW", defaultErrnoRet=1), "errnoRet is only valid"),
        (section(defaultAction="SCMP_ACT_ERRNO", defaultErrnoRet=-1), "bad errnoRet"),
        (section(architectures=["SCMP_ARCH_VAX"]), "unknown architecture 'SCMP_ARCH_VAX'"),
        (section(flags=["SECCOMP_FILTER_FLAG_BOGUS"]), "unknown flag"),
        (section(flags=["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]), "not supported"),
        (section(listenerPath="/run/x.sock"), "listenerPath"),
        (section(syscalls=[{"names": ["a"], "action": "SCMP_ACT_NOTIFY"}]), "NOTIFY"),
        (section(syscalls=[{"names": [], "action": "SCMP_ACT_ALLOW"}]), "names"),
        (section(syscalls=[{"names": ["mkdir"]}]), "(mkdir): action is required"),
        (
            section(
                syscalls=[
                    {"names": ["mkdir"], "action": "SCMP_ACT_KILL", "errnoRet": 1},
                ]
            ),
            "errnoRet is only valid",
        ),
        (
            section(
                syscalls=[
                    {
                        "names": ["kill"],
                        "action": "SCMP_ACT_ERRNO",
                        "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_SORTA"}],
                    }
                ]
            ),
            "unknown operator 'SCMP_CMP_SORTA'",
        ),
        (
            section(
                syscalls=[
                    {
                        "names": ["kill"],
                        "action": "SCMP_ACT_ERRNO",
                        "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}],
                    }
                ]
            ),
            "arg index must be 0..5",
        ),
        (
            section(
                syscalls=[
                    {
                        "names": ["kill"],
                        "action": "SCMP_ACT_ERRNO",
                        "args": [{"index": 0, "value": 1 << 64, "op": "SCMP_CMP_EQ"}],
                    }
                ]
            ),
            "value must be an unsigned 64-bit integer",
        ),
    ],
)
def test_bad_sections(bad: dict[str, Any], message: str) -> None:
    with pytest.raises(SeccompError) as info:
        plan_filter(bad)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_unknown_syscall_name_is_an_error_naming_it() -> None:
    bad = section(syscalls=[{"names": ["read", "mkdri"], "action": "SCMP_ACT_ERRNO"}])
    with pytest.raises(seccomp.SeccompError, match="unknown syscall 'mkdri'"):
        seccomp.compile_filter(bad)


def test_names_of_other_arches_and_newer_kernels_compile() -> None:
    names = [
        "socketcall", "_llseek", "_newselect", "recv", "send", "fstatat64", "ugetrlimit",
        "arm_fadvise64_64", "breakpoint", "set_tls", "s390_runtime_instr", "riscv_flush_icache",
        "clone3", "openat2", "fchmodat2", "statmount", "listmount", "mseal", "file_setattr",
    ]  # fmt: skip
    assert set(names) <= SYSCALL_NAMES
    sec = section(
        defaultAction="SCMP_ACT_ERRNO",
        architectures=["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        syscalls=[{"names": names, "action": "SCMP_ACT_ALLOW"}],
    )
    with seccomp.compile_filter(sec) as f:
        # What this libseccomp lacks is skipped, never an error.
        assert set(f.skipped) <= set(names)
        assert "socketcall" not in f.skipped
        bpf = f.export_bpf()
    assert bpf and len(bpf) % 8 == 0  # struct sock_filter is 8 bytes


def test_export_bpf_reflects_rules() -> None:
    def bpf(sec: dict[str, Any]) -> bytes:
        with seccomp.compile_filter(sec) as f:
            return f.export_bpf()

    empty = bpf(section())
    one = bpf(section(syscalls=[{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]))
    assert len(one) > len(empty)
    # The program must return ERRNO|EPERM somewhere: BPF_RET|BPF_K with that constant.
    insns = [struct.unpack("=HBBI", one[i : i + 8]) for i in range(0, len(one), 8)]
    assert (0x06, 0x00050000 | errno.EPERM) in {(code, k) for code, _, _, k in insns}


def test_features_document() -> None:
    feats = seccomp.features()
    assert feats["enabled"] is True
    assert "SCMP_ACT_ERRNO" in feats["actions"] and "SCMP_ACT_NOTIFY" not in feats["actions"]
    assert set(feats["operators"]) == set(OPERATORS)
    assert "SCMP_ARCH_X86_64" in feats["archs"] and "SCMP_ARCH_AARCH64" in feats["archs"]
    assert "SECCOMP_FILTER_FLAG_TSYNC" in feats["supportedFlags"]
    assert set(feats["supportedFlags"]) <= set(feats["knownFlags"])


def test_released_filter_refuses_use() -> None:
    f = seccomp.compile_filter(section())
    f.close()
    with pytest.raises(SeccompError, match="released"):
        f.load()


def test_cache_reuses_the_compiled_program(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sec = section(syscalls=[{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}])
    first = seccomp.compile_filter(sec, cache_dir=str(tmp_path))
    files = list(tmp_path.iterdir())
    assert len(files) == 1 and files[0].read_bytes() == first.export_bpf()

    def boom(plan: object) -> None:
        raise AssertionError("libseccomp was called on a cache hit")

    monkeypatch.setattr(seccomp, "_generate", boom)
    again = seccomp.compile_filter(sec, cache_dir=str(tmp_path))
    assert again.export_bpf() == first.export_bpf()
    # Validation still runs on a hit.
    with pytest.raises(SeccompError, match="unknown action"):
        seccomp.compile_filter({**sec, "defaultAction": "SCMP_ACT_NO"}, cache_dir=str(tmp_path))
    # A different section is a miss.
    with pytest.raises(AssertionError, match="cache hit"):
        seccomp.compile_filter(section(), cache_dir=str(tmp_path))


def test_corrupt_cache_entry_is_rebuilt(tmp_path: Path) -> None:
    sec = section(syscalls=[{"names": ["rmdir"], "action": "SCMP_ACT_ERRNO"}])
    good = seccomp.compile_filter(sec, cache_dir=str(tmp_path)).export_bpf()
    (entry,) = tmp_path.iterdir()
    entry.write_bytes(b"short")
    assert seccomp.compile_filter(sec, cache_dir=str(tmp_path)).export_bpf() == good
    assert entry.read_bytes() == good


def test_flags_become_kernel_bits() -> None:
    plan = plan_filter(
        section(flags=["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"])
    )
    assert plan.flags == 1 | 4
    f = seccomp.compile_filter(section(flags=["SECCOMP_FILTER_FLAG_LOG"]))
    assert f.kernel_flags == 2
