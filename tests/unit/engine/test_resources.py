"""top's ps filtering, cgroup stat parsing and update's resources (pure parts)."""

from __future__ import annotations

import pytest

from dockyard.engine.errors import InvalidParameter
from dockyard.engine.resources import parse_cpuacct_stat, parse_ps, resources_from_update

PS = """UID          PID    PPID  C STIME TTY          TIME CMD
root           1       0  0 10:00 ?        00:00:01 /sbin/init
root         500       1  0 10:01 ?        00:00:00 sleep 1000
root         501     500  0 10:01 ?        00:00:00 sh -c echo a b c
"""


def test_parse_ps_keeps_container_pids_and_command_spaces() -> None:
    top = parse_ps(PS, {500, 501})
    assert top["Titles"] == ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
    assert [p[1] for p in top["Processes"]] == ["500", "501"]
    assert top["Processes"][1][-1] == "sh -c echo a b c"


def test_parse_ps_without_pid_column() -> None:
    with pytest.raises(InvalidParameter, match="PID"):
        parse_ps("USER COMMAND\nroot x\n", {1})


def test_cpuacct_stat() -> None:
    assert parse_cpuacct_stat("user 10\nsystem 5\n", 100) == (100_000_000, 50_000_000)


def test_update_resources() -> None:
    res = resources_from_update(
        {"Memory": 64 << 20, "NanoCpus": 1_500_000_000, "PidsLimit": 10, "CpusetCpus": "0"}
    )
    assert res == {
        "memory": {"limit": 64 << 20},
        "cpu": {"period": 100_000, "quota": 150_000, "cpus": "0"},
        "pids": {"limit": 10},
    }
    assert resources_from_update({}) == {}
    with pytest.raises(InvalidParameter, match="6MB"):
        resources_from_update({"Memory": 1000})
