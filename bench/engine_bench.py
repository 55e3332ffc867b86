"""dockyard's engine against Docker's: `run --rm busybox true`, memory per idle container,
daemon idle memory.

    .venv/bin/python bench/engine_bench.py [--runs N] [--idle N] [--runtime PATH]

Both daemons run side by side in temporary roots: our dockyardd, and Debian's dockerd
(`--bridge=none --iptables=false`, its own data root, exec root and socket, with its own
containerd). Both get the same busybox image (bootstrapped by dockyard, `docker load`ed into
Docker). Runs are interleaved so both see the same machine load. Memory is PSS (shared
pages split between their users), from /proc/PID/smaps_rollup:

- per idle container: (daemon delta + monitors + their launcher) for dockyard against
  (dockerd delta + containerd delta + shims) for Docker, with N `sleep` containers; the
  containers' own processes are not counted on either side;
- daemon idle: dockyardd and its monitor launcher (with the launcher's waiting fork), which
  the daemon starts at once, against dockerd + containerd, with no container.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchlib import wait_socket

REPO = Path(__file__).resolve().parent.parent
BIN = REPO / ".venv" / "bin"


def pss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def pids_matching(text: str) -> list[int]:
    """Processes whose command line mentions ``text`` (our temporary roots)."""
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmd:
            out.append(int(d.name))
    return out


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


class Side:
    """One engine: how to start it, run its CLI, and find its processes."""

    def __init__(self, name: str, base: Path) -> None:
        self.name = name
        self.base = base
        self.sock = str(base / "api.sock")
        self.proc: subprocess.Popen[bytes] | None = None

    def cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
        raise NotImplementedError

    def overhead_pids(self) -> list[int]:
        """Daemon-side processes (daemon, monitors / containerd, shims)."""
        raise NotImplementedError

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Dockyard(Side):
    def __init__(self, base: Path, runtime: str | None) -> None:
        super().__init__("dockyard", base)
        self.runtime = runtime

    def start(self) -> None:
        cmd = [
            str(BIN / "dockyardd"),
            "--data-root",
            str(self.base / "data"),
            "--exec-root",
            str(self.base / "exec"),
            "-H",
            f"unix://{self.sock}",
        ]
        if self.runtime:
            cmd += ["--runtime", self.runtime]
        log = open(self.base / "daemon.log", "ab")  # noqa: SIM115 - lives with the daemon
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=log, start_new_session=True)
        wait_socket(self.sock, self.proc)

    def env(self) -> dict[str, str]:
        env = dict(os.environ, DOCKYARD_HOST=f"unix://{self.sock}")
        env.pop("DOCKER_HOST", None)
        return env

    def cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [str(BIN / "dockyard"), *args], capture_output=True, env=self.env(), timeout=timeout
        )

    def bootstrap(self) -> None:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(self.sock)
        s.sendall(
            b"POST /images/bootstrap?name=busybox HTTP/1.1\r\nHost: d\r\n"
            b"Content-Length: 0\r\nConnection: close\r\n\r\n"
        )
        reply = b""
        while chunk := s.recv(65536):
            reply += chunk
        s.close()
        if not reply.startswith(b"HTTP/1.1 201"):
            raise RuntimeError(f"bootstrap failed: {reply[:300]!r}")

    def overhead_pids(self) -> list[int]:
        assert self.proc is not None
        monitors = self.base / "exec" / "monitors"
        # The launcher, its waiting fork (the next monitor) and every monitor: all of them
        # share pages, and each one's share counts (their command lines name the directory).
        pids = {self.proc.pid, *pids_matching(str(monitors))}
        lock = monitors / "monitor-launcher.lock"
        with contextlib.suppress(OSError, ValueError):
            pids.add(int(lock.read_text().strip()))
        for f in monitors.glob("*/monitor.pid"):
            with contextlib.suppress(OSError, ValueError):
                pids.add(int(f.read_text().strip()))
        return sorted(pids)


class Docker(Side):
    def __init__(self, base: Path) -> None:
        super().__init__("docker", base)

    def start(self) -> None:
        cmd = [
            "dockerd",
            "--data-root",
            str(self.base / "data"),
            "--exec-root",
            str(self.base / "exec"),
            "-H",
            f"unix://{self.sock}",
            "--pidfile",
            str(self.base / "dockerd.pid"),
            "--bridge=none",
            "--iptables=false",
            "--ip6tables=false",
            "--ip-masq=false",
            "--storage-driver=overlay2",
        ]
        log = open(self.base / "daemon.log", "ab")  # noqa: SIM115 - lives with the daemon
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=log, start_new_session=True)
        wait_socket(self.sock, self.proc)

    def cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
        env = dict(
            os.environ, DOCKER_HOST=f"unix://{self.sock}", DOCKER_CONFIG=str(self.base / "cli")
        )
        return subprocess.run(["docker", *args], capture_output=True, env=env, timeout=timeout)

    def overhead_pids(self) -> list[int]:
        assert self.proc is not None
        root = str(self.base)
        return [self.proc.pid] + [
            p for p in pids_matching(root) if p != self.proc.pid and ("containerd" in cmdline(p))
        ]


def overhead(side: Side) -> int:
    return sum(pss_kib(p) for p in side.overhead_pids())


def time_runs(sides: list[Side], runs: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {s.name: [] for s in sides}
    for s in sides:  # one warm-up each (page cache, lazy imports)
        s.cli(*_run_args(s))
    for _ in range(runs):
        for s in sides:
            t0 = time.perf_counter()
            r = s.cli(*_run_args(s))
            dt = time.perf_counter() - t0
            if r.returncode != 0:
                raise RuntimeError(f"{s.name} run failed: {r.stderr.decode()[-500:]}")
            times[s.name].append(dt)
    return times


def _run_args(s: Side) -> list[str]:
    return ["run", "--rm", "--network", "none", "busybox", "true"]


def idle_containers(side: Side, n: int) -> float:
    """PSS growth of the daemon side per idle container (KiB)."""
    time.sleep(1)
    before = overhead(side)
    for i in range(n):
        r = side.cli(
            "run", "-d", "--network", "none", "--name", f"idle{i}", "busybox", "sleep", "100000"
        )
        if r.returncode != 0:
            raise RuntimeError(f"{side.name}: {r.stderr.decode()[-300:]}")
    time.sleep(2)
    after = overhead(side)
    return (after - before) / n


def remove_all(side: Side, n: int) -> None:
    names = [f"idle{i}" for i in range(n)]
    side.cli("rm", "-f", *names, timeout=300)


def cleanup(base: Path, sides: list[Side]) -> None:
    for s in sides:
        s.stop()
    for pid in pids_matching(str(base)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    time.sleep(0.5)
    for line in reversed(Path("/proc/self/mounts").read_text().splitlines()):
        target = line.split()[1]
        if target.startswith(str(base) + "/"):
            subprocess.run(["umount", "-l", target], capture_output=True)
    shutil.rmtree(base, ignore_errors=True)


def main(argv: list[str]) -> dict[str, Any]:
    p = argparse.ArgumentParser(prog="engine_bench")
    p.add_argument("--runs", type=int, default=15)
    p.add_argument("--idle", type=int, default=50)
    p.add_argument("--runtime", default=None, help="OCI runtime for dockyardd")
    args = p.parse_args(argv)
    if os.geteuid() != 0:
        print("engine_bench: needs root, skipped")
        return {"skipped": "needs root"}
    base = Path(tempfile.mkdtemp(prefix="dyb-", dir="/tmp"))
    dy = Dockyard(base / "dy", args.runtime)
    dk = Docker(base / "dk")
    for side in (dy, dk):
        side.base.mkdir()
    sides: list[Side] = [dy]
    out: dict[str, Any] = {}
    try:
        dy.start()
        dy.bootstrap()
        time.sleep(1)
        out["dockyardd_idle_pss_kib"] = overhead(dy)
        if shutil.which("dockerd") and shutil.which("docker"):
            dk.start()
            tar = base / "busybox.tar"
            r = dy.cli("save", "-o", str(tar), "busybox")
            if r.returncode != 0:
                raise RuntimeError(f"dockyard save: {r.stderr.decode()}")
            r = dk.cli("load", "-i", str(tar))
            if r.returncode != 0:
                raise RuntimeError(f"docker load: {r.stderr.decode()}")
            time.sleep(1)
            out["docker_idle_pss_kib"] = overhead(dk)
            sides.append(dk)
        else:
            out["docker"] = "dockerd is not installed: no comparison"
        times = time_runs(sides, args.runs)
        for name, ts in times.items():
            out[f"{name}_run_median_s"] = round(statistics.median(ts), 4)
        for s in sides:
            out[f"{s.name}_per_idle_container_kib"] = round(idle_containers(s, args.idle), 1)
            remove_all(s, args.idle)
        if dk in sides:
            out["run_ratio"] = round(out["dockyard_run_median_s"] / out["docker_run_median_s"], 3)
            out["idle_container_ratio"] = round(
                out["dockyard_per_idle_container_kib"] / out["docker_per_idle_container_kib"], 3
            )
            out["daemon_idle_ratio"] = round(
                out["dockyardd_idle_pss_kib"] / out["docker_idle_pss_kib"], 3
            )
    finally:
        cleanup(base, [dy, dk])
    print(f"{'figure':36} value")
    for k, v in out.items():
        print(f"{k:36} {v}")
    return out


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:]), indent=2))
