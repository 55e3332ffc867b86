"""Network and block I/O counters: /proc/net/dev, v1 blkio files and v2 io.stat (pure)."""

from __future__ import annotations

import os
from pathlib import Path

from dockyard.engine import iostats

# /proc/net/dev's layout, with its columns' padding squeezed.
NET_DEV = """Inter-|   Receive                                  |  Transmit
 face |bytes packets errs drop fifo frame compressed multicast|bytes packets errs drop fifo
    lo: 840 10 0 0 0 0 0 0 840 10 0 0 0 0 0 0
  eth0: 1296 16 1 2 0 0 0 0 1110 13 3 4 0 0 0 0
"""


def test_net_dev_without_lo() -> None:
    assert iostats.parse_net_dev(NET_DEV) == {
        "eth0": {
            "rx_bytes": 1296,
            "rx_packets": 16,
            "rx_errors": 1,
            "rx_dropped": 2,
            "tx_bytes": 1110,
            "tx_packets": 13,
            "tx_errors": 3,
            "tx_dropped": 4,
        }
    }
    assert iostats.parse_net_dev(NET_DEV.replace("eth0", "lo2").replace("1296", "x")) == {}


BLKIO = """254:0 Read 8388608
254:0 Write 4096
254:0 Sync 8392704
254:0 Async 0
254:0 Discard 0
254:0 Total 8392704
Total 8392704
"""


def test_blkio_v1_entries() -> None:
    got = iostats.parse_blkio_v1(BLKIO)
    assert [(e["major"], e["minor"], e["op"], e["value"]) for e in got] == [
        (254, 0, "Read", 8388608),
        (254, 0, "Write", 4096),
        (254, 0, "Sync", 8392704),
        (254, 0, "Async", 0),
        (254, 0, "Discard", 0),
        (254, 0, "Total", 8392704),
    ]
    assert iostats.parse_blkio_v1("Total 0\n") == []


def test_io_stat_v2() -> None:
    text = "8:0 rbytes=90112 wbytes=4096 rios=12 wios=1 dbytes=0 dios=0\n259:1 rbytes=7\n"
    assert iostats.parse_io_stat(text) == [
        {"major": 8, "minor": 0, "op": "read", "value": 90112},
        {"major": 8, "minor": 0, "op": "write", "value": 4096},
        {"major": 259, "minor": 1, "op": "read", "value": 7},
        {"major": 259, "minor": 1, "op": "write", "value": 0},
    ]


def test_blkio_shapes(tmp_path: Path) -> None:
    (tmp_path / "blkio.throttle.io_service_bytes_recursive").write_text(BLKIO)
    (tmp_path / "blkio.throttle.io_serviced").write_text("254:0 Read 2\nTotal 2\n")
    v1 = iostats.blkio_v1(tmp_path)
    assert set(v1) == set(iostats.BLKIO_KEYS)
    assert len(v1["io_service_bytes_recursive"]) == 6
    assert v1["io_serviced_recursive"] == [{"major": 254, "minor": 0, "op": "Read", "value": 2}]
    assert v1["sectors_recursive"] == []  # Docker sends empty lists on v1
    (tmp_path / "io.stat").write_text("8:0 rbytes=1 wbytes=2\n")
    v2 = iostats.blkio_v2(tmp_path)
    assert [e["value"] for e in v2["io_service_bytes_recursive"]] == [1, 2]
    assert v2["io_serviced_recursive"] is None  # and null on v2


def test_no_networks_in_the_hosts_namespace() -> None:
    assert iostats.networks(os.getpid()) == {}
