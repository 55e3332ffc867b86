"""Apply capability sets in a forked child and read them back from the kernel."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from typing import Any

import pytest

from dockyard.linux import capabilities as caps

InChild = Callable[..., Any]
pytestmark = pytest.mark.root

DOCKER_DEFAULT = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
    "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
]  # fmt: skip


def test_apply_docker_defaults_and_exec_sees_them(in_child: InChild) -> None:
    mask = caps.parse_caps(DOCKER_DEFAULT)
    amb = caps.parse_caps(["CAP_NET_BIND_SERVICE"])

    def child() -> dict[str, int]:
        caps.apply_caps(mask, mask, mask, amb, amb)
        # What an exec'd program sees, read by a real program.
        out = subprocess.run(["cat", "/proc/self/status"], capture_output=True, text=True)
        return caps.parse_proc_status_caps(out.stdout)

    got = in_child(child)
    assert got["CapBnd"] == mask
    assert got["CapInh"] == amb
    assert got["CapAmb"] == amb
    # Across execve as root: P' = bounding-limited full set, E' = P'.
    assert got["CapPrm"] == mask
    assert got["CapEff"] == mask


def test_inheritable_and_ambient_empty_by_default(in_child: InChild) -> None:
    mask = caps.parse_caps(["CAP_KILL", "CAP_CHOWN"])

    def child() -> dict[str, int]:
        caps.apply_caps(mask, mask, mask, 0, 0)
        return caps.read_proc_caps()

    got = in_child(child)
    assert got == {"CapInh": 0, "CapAmb": 0, "CapBnd": mask, "CapPrm": mask, "CapEff": mask}


def test_distinct_sets_in_process(in_child: InChild) -> None:
    bnd = caps.parse_caps(["CAP_KILL", "CAP_CHOWN", "CAP_SETUID", "CAP_NET_RAW"])
    prm = caps.parse_caps(["CAP_KILL", "CAP_CHOWN", "CAP_SETUID"])
    eff = caps.parse_caps(["CAP_KILL"])
    inh = caps.parse_caps(["CAP_CHOWN", "CAP_SETUID"])
    amb = caps.parse_caps(["CAP_CHOWN"])

    def child() -> dict[str, int]:
        caps.apply_caps(bnd, eff, prm, inh, amb)
        return caps.read_proc_caps()

    got = in_child(child)
    assert got == {"CapBnd": bnd, "CapPrm": prm, "CapEff": eff, "CapInh": inh, "CapAmb": amb}


def test_ambient_outside_inheritable_is_an_error(in_child: InChild) -> None:
    mask = caps.parse_caps(["CAP_KILL"])

    def child() -> str:
        try:
            caps.apply_caps(mask, mask, mask, 0, mask)
        except caps.CapabilityError as e:
            return str(e)
        return "no error"

    assert "CAP_KILL" in in_child(child)


def test_keepcaps_setuid_and_flags(in_child: InChild) -> None:
    mask = caps.parse_caps(["CAP_KILL", "CAP_SETUID", "CAP_SETGID"])

    def child() -> list[object]:
        caps.set_dumpable(False)
        with open("/proc/self/status") as f:
            nnp_before = "NoNewPrivs:\t0" in f.read()
        caps.keep_caps_across_setuid()
        caps.set_no_new_privs()
        os.setgid(65534)
        os.setuid(65534)
        after_setuid = caps.read_proc_caps()
        caps.apply_caps(mask, mask, mask, 0, 0)
        with open("/proc/self/status") as f:
            status = f.read()
        import ctypes

        from dockyard.linux.libc import libc

        dumpable = int(libc.prctl(3, 0, 0, 0, 0))  # PR_GET_DUMPABLE
        return [
            nnp_before,
            after_setuid["CapPrm"] != 0,
            "NoNewPrivs:\t1" in status,
            caps.read_proc_caps()["CapEff"],
            dumpable,
            ctypes.sizeof(ctypes.c_int),
        ]

    nnp_before, kept, nnp, eff, dumpable, _ = in_child(child)
    assert nnp_before and kept and nnp
    assert eff == mask
    assert dumpable == 0
