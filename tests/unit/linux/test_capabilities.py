"""Capability names, parsing and /proc status parsing (pure)."""

from __future__ import annotations

import pytest

from dockyard.linux import capabilities as caps

STATUS = """Name:\tcat
Umask:\t0022
State:\tR (running)
CapInh:\t0000000000000000
CapPrm:\t000001ffffffffff
CapEff:\t000001ffffffffff
CapBnd:\t00000000a80425fb
CapAmb:\t0000000000000400
NoNewPrivs:\t0
"""


def test_table_is_complete_and_dense() -> None:
    assert sorted(caps.CAP_NAMES.values()) == list(range(41))
    assert caps.CAP_NAMES["CAP_CHECKPOINT_RESTORE"] == 40
    assert caps.cap_name(21) == "CAP_SYS_ADMIN"
    assert caps.cap_name(63) == "CAP_63"


def test_parse_forms() -> None:
    assert caps.parse_caps(["CAP_CHOWN", "net_raw", "Kill"]) == (1 << 0) | (1 << 13) | (1 << 5)
    assert caps.parse_caps([]) == 0
    assert caps.parse_caps(["ALL"]) == (1 << 41) - 1
    assert caps.parse_caps(["all", "CAP_KILL"]) == (1 << 41) - 1


def test_unknown_capability() -> None:
    with pytest.raises(caps.UnknownCapability, match=r"^unknown capability: CAP_FOO$"):
        caps.parse_caps(["CAP_CHOWN", "foo"])
    with pytest.raises(caps.UnknownCapability, match="CAP_NOPE"):
        caps.parse_caps(["CAP_NOPE"])


def test_names_round_trip() -> None:
    names = ["CAP_AUDIT_WRITE", "CAP_CHOWN", "CAP_SETFCAP", "CAP_BPF"]
    mask = caps.parse_caps(names)
    assert caps.caps_to_names(mask) == ["CAP_CHOWN", "CAP_AUDIT_WRITE", "CAP_SETFCAP", "CAP_BPF"]


def test_parse_proc_status() -> None:
    got = caps.parse_proc_status_caps(STATUS)
    assert got == {
        "CapInh": 0,
        "CapPrm": 0x1FFFFFFFFFF,
        "CapEff": 0x1FFFFFFFFFF,
        "CapBnd": 0xA80425FB,
        "CapAmb": 0x400,
    }


def test_parse_proc_status_rejects_garbage() -> None:
    with pytest.raises(caps.CapabilityError, match="CapEff"):
        caps.parse_proc_status_caps("CapInh:\t0\nCapPrm:\t0\nCapBnd:\t0\n")
    with pytest.raises(caps.CapabilityError, match="bad CapPrm"):
        caps.parse_proc_status_caps(STATUS.replace("000001ffffffffff", "zz", 1))


def test_read_self() -> None:
    got = caps.read_proc_caps()
    assert set(got) == {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"}
    assert got["CapEff"] & ~got["CapPrm"] == 0
    assert 36 <= caps.last_cap() <= 63
