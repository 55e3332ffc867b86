"""Network namespaces standing in for separate machines: a switch namespace with a bridge,
and one namespace per "machine" linked to it by a veth pair, each with a 10.x address that
exists only inside these namespaces. Everything is removed by ``destroy``."""

from __future__ import annotations

import contextlib
import secrets
import subprocess
import time
from dataclasses import dataclass, field


def ip(*args: str) -> None:
    r = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30, check=False)
    if r.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {r.stderr.strip()}")


@dataclass
class Lab:
    subnet: int = field(default_factory=lambda: 200 + secrets.randbelow(50))
    tag: str = field(default_factory=lambda: secrets.token_hex(3))
    machines: dict[str, str] = field(default_factory=dict)  # name -> address
    namespaces: list[str] = field(default_factory=list)

    @property
    def switch(self) -> str:
        return f"dy{self.tag}-sw"

    def ns(self, name: str) -> str:
        return f"dy{self.tag}-{name}"

    def create(self, names: list[str]) -> Lab:
        sw = self.switch
        ip("netns", "add", sw)
        self.namespaces.append(sw)
        ip("-n", sw, "link", "add", "br0", "type", "bridge")
        ip("-n", sw, "link", "set", "br0", "up")
        for i, name in enumerate(names, start=1):
            ns = self.ns(name)
            ip("netns", "add", ns)
            self.namespaces.append(ns)
            port = f"p{i}"
            ip("-n", sw, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns)
            ip("-n", sw, "link", "set", port, "master", "br0", "up")
            addr = f"10.{self.subnet}.0.{i}"
            ip("-n", ns, "addr", "add", f"{addr}/24", "dev", "eth0")
            ip("-n", ns, "link", "set", "eth0", "up")
            ip("-n", ns, "link", "set", "lo", "up")
            self.machines[name] = addr
        return self

    @property
    def cidr(self) -> str:
        return f"10.{self.subnet}.0.0/24"

    def exec_prefix(self, name: str) -> list[str]:
        # nsenter joins only the network namespace; `ip netns exec` would also remount /sys,
        # hiding the cgroup mounts the runtime needs.
        return ["nsenter", f"--net=/run/netns/{self.ns(name)}"]

    def wait_tcp(self, from_machine: str, addr: str, port: int, python: str) -> None:
        code = f"import socket; socket.create_connection(({addr!r}, {port}), 1).close()"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            r = subprocess.run(
                [*self.exec_prefix(from_machine), python, "-c", code],
                capture_output=True,
                timeout=10,
                check=False,
            )
            if r.returncode == 0:
                return
            time.sleep(0.2)
        raise RuntimeError(f"{addr}:{port} not reachable from {from_machine}")

    def destroy(self) -> None:
        for ns in reversed(self.namespaces):
            with contextlib.suppress(RuntimeError):
                ip("netns", "del", ns)
        self.namespaces.clear()
