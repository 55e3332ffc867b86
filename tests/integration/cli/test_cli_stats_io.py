"""`stats`' NET I/O and BLOCK I/O, through `dockyard` and the API, against dockerd and
dockyardd: the same keys, the same counters, the same columns."""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import Daemon  # type: ignore[import-not-found]

pytestmark = pytest.mark.root

MiB = 1 << 20


class _Unix(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=30)
        self.unix_path = path

    def connect(self) -> None:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(30)
        s.connect(self.unix_path)
        self.sock = s


def api_stats(d: Daemon, name: str) -> dict[str, Any]:
    conn = _Unix(d.sock)
    try:
        conn.request("GET", f"/v1.41/containers/{name}/stats?stream=false")
        r = conn.getresponse()
        body = r.read()
        assert r.status == 200, body
        out: dict[str, Any] = json.loads(body)
        return out
    finally:
        conn.close()


def ok(proc: subprocess.CompletedProcess[bytes]) -> str:
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout.decode()


def pid_of(d: Daemon, name: str) -> int:
    return int(ok(d.cli("inspect", "-f", "{{.State.Pid}}", name)))


@pytest.fixture
def container(daemon: Daemon, name: str) -> Iterator[str]:
    yield name
    daemon.cli("rm", "-f", name)


def test_no_interfaces_of_its_own_no_networks_key(daemon: Daemon, container: str) -> None:
    ok(daemon.cli("run", "-d", "--name", container, "--network", "none", "busybox", "sleep", "300"))
    s = api_stats(daemon, container)
    assert "networks" not in s
    blk = s["blkio_stats"]
    assert "io_service_bytes_recursive" in blk and "io_serviced_recursive" in blk
    row = ok(daemon.cli("stats", "--no-stream", "--format", "{{.NetIO}}", container))
    assert row == "0B / 0B\n"


def test_host_network_reports_no_networks(daemon: Daemon, container: str) -> None:
    ok(daemon.cli("run", "-d", "--name", container, "--network", "host", "busybox", "sleep", "300"))
    assert "networks" not in api_stats(daemon, container)


def test_blkio_shape_matches_docker(
    dockerd_daemon: Daemon, dockyardd_daemon: Daemon, name: str
) -> None:
    shapes = []
    for d in (dockerd_daemon, dockyardd_daemon):
        ok(d.cli("run", "-d", "--name", name, "--network", "none", "busybox", "sleep", "300"))
        try:
            blk = api_stats(d, name)["blkio_stats"]
        finally:
            d.cli("rm", "-f", name)
        shapes.append({k: type(v).__name__ for k, v in blk.items()})
    assert shapes[0] == shapes[1]


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


def test_interfaces_in_the_containers_netns(dockyardd_daemon: Daemon, name: str) -> None:
    """An interface in the container's namespace is counted, lo is not. (dockerd reports only
    the interfaces its own network driver made, so this is dockyardd's alone.)"""
    busybox = shutil.which("busybox")
    if shutil.which("ip") is None or busybox is None:
        pytest.skip("needs iproute2 and busybox (for ping) on the host")
    d = dockyardd_daemon
    ok(d.cli("run", "-d", "--name", name, "--network", "none", "busybox", "sleep", "300"))
    tag = uuid.uuid4().hex[:6]
    ns, outer, inner = f"dyst-{tag}", f"dyo{tag}", f"dyi{tag}"
    try:
        _ip("netns", "add", ns)
        _ip("link", "add", outer, "netns", ns, "type", "veth", "peer", "name", inner)
        _ip("link", "set", inner, "netns", str(pid_of(d, name)))
        _ip("-n", ns, "addr", "add", "10.213.7.1/30", "dev", outer)
        _ip("-n", ns, "link", "set", outer, "up")
        enter = ["nsenter", "-t", str(pid_of(d, name)), "-n", "ip"]
        subprocess.run([*enter, "addr", "add", "10.213.7.2/30", "dev", inner], check=True)
        subprocess.run([*enter, "link", "set", inner, "up"], check=True)
        ping = subprocess.run(
            ["ip", "netns", "exec", ns, busybox, "ping", "-c", "3", "-W", "2", "10.213.7.2"],
            capture_output=True,
            timeout=30,
        )
        assert ping.returncode == 0, ping.stdout + ping.stderr
        nets = api_stats(d, name)["networks"]
        assert set(nets) == {inner}
        counters = nets[inner]
        assert set(counters) == {
            "rx_bytes", "rx_packets", "rx_errors", "rx_dropped",
            "tx_bytes", "tx_packets", "tx_errors", "tx_dropped",
        }  # fmt: skip
        # three echo requests in, three replies out (98 bytes each on the wire)
        assert counters["rx_packets"] >= 3 and counters["tx_packets"] >= 3
        assert counters["rx_bytes"] >= 3 * 98 and counters["tx_bytes"] >= 3 * 98
        row = ok(d.cli("stats", "--no-stream", "--format", "{{.NetIO}}", name)).strip()
        assert re.fullmatch(r"\d+(\.\d+)?[kM]?B / \d+(\.\d+)?[kM]?B", row), row
        assert row != "0B / 0B"
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)
        d.cli("rm", "-f", name)


def _blkio_dir(pid: int) -> Path | None:
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _hid, ctrls, rel = line.split(":", 2)
        if "blkio" in ctrls.split(","):
            return Path("/sys/fs/cgroup/blkio") / rel.lstrip("/")
    return None


def test_block_io_of_direct_reads_and_writes(daemon: Daemon, container: str) -> None:
    vol = f"{container}-v"
    ok(
        daemon.cli(
            "run", "-d", "--name", container, "-v", f"{vol}:/data", "busybox", "sleep", "300"
        )
    )
    try:
        src = ok(daemon.cli("inspect", "-f", "{{range .Mounts}}{{.Source}}{{end}}", container))
        dev = os.stat(src.strip()).st_dev
        if os.major(dev) == 0:
            pytest.skip("the volume is not on a block device (tmpfs, overlay…): no block I/O")
        blkio = _blkio_dir(pid_of(daemon, container))
        if blkio is not None:
            # cgroup v1 counts I/O in the throttle files only for devices with a limit.
            for f in ("blkio.throttle.read_bps_device", "blkio.throttle.write_bps_device"):
                (blkio / f).write_text(f"{os.major(dev)}:{os.minor(dev)} {1 << 40}\n")
        dd = "dd if=/dev/zero of=/data/f bs=1M count=8 oflag=direct"
        dd += " && dd if=/data/f of=/dev/null bs=1M iflag=direct"
        ok(daemon.cli("exec", container, "sh", "-c", dd))
        entries = api_stats(daemon, container)["blkio_stats"]["io_service_bytes_recursive"]
        read = sum(e["value"] for e in entries if e["op"][0] in "rR")
        write = sum(e["value"] for e in entries if e["op"][0] in "wW")
        assert 8 * MiB <= read < 12 * MiB and 8 * MiB <= write < 12 * MiB, entries
        mine = [e for e in entries if (e["major"], e["minor"]) == (os.major(dev), os.minor(dev))]
        assert mine, entries
        row = ok(daemon.cli("stats", "--no-stream", "--format", "{{.BlockIO}}", container))
        got = re.fullmatch(r"(\d+(?:\.\d+)?)MB / (\d+(?:\.\d+)?)MB\n", row)
        assert got is not None, row
        assert float(got[1]) >= 8.38 and float(got[2]) >= 8.38
        if shutil.which("docker"):
            theirs = daemon.docker("stats", "--no-stream", "--format", "{{.BlockIO}}", container)
            assert ok(theirs) == row  # the real client reads our JSON the same way
    finally:
        daemon.cli("rm", "-f", container)
        daemon.cli("volume", "rm", vol)


def test_stopped_container_io_matches_docker(
    dockerd_daemon: Daemon, dockyardd_daemon: Daemon, name: str
) -> None:
    got = []
    for d in (dockerd_daemon, dockyardd_daemon):
        ok(d.cli("create", "--name", name, "busybox", "true"))
        try:
            s = api_stats(d, name)
        finally:
            d.cli("rm", "-f", name)
        got.append((s["blkio_stats"], "networks" in s))
    assert got[0] == got[1]
