"""`make demo`: the main job, from a bare machine, on the embedded busybox base.

Part 1 — the OCI runtime: a bundle made from the host's static busybox runs under
`dockyard-runc` with a hostname, a memory limit and a read-only root, and shows that it is
isolated (its own PID 1, its own hostname, its own mounts).

Part 2 — the engine: `dockyard` starts its daemon on demand, makes the busybox base image, runs
a container detached with limits, shows its logs, an exec and its stats, commits its changes
as a new image and runs that.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
RUNC = str(BIN / "dockyard-runc")
BUSYBOX = Path("/bin/busybox")


def say(text: str) -> None:
    print(f"\n\033[1m==> {text}\033[0m", flush=True)


def make_rootfs(dest: Path) -> None:
    for d in ("bin", "dev", "proc", "sys", "etc", "tmp", "root"):
        (dest / d).mkdir(parents=True, exist_ok=True)
    shutil.copy2(BUSYBOX, dest / "bin" / "busybox")
    applets = subprocess.run(
        [str(BUSYBOX), "--list"], check=True, capture_output=True, text=True
    ).stdout.split()
    for name in applets:
        if name != "busybox":
            (dest / "bin" / name).symlink_to("busybox")
    (dest / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (dest / "etc" / "group").write_text("root:x:0:\n")


def runtime_demo(work: Path) -> None:
    say("Part 1: dockyard-runc runs a bundle made from the host's static busybox")
    bundle = work / "bundle"
    make_rootfs(bundle / "rootfs")
    subprocess.run([RUNC, "spec", "--bundle", str(bundle)], check=True)
    config = json.loads((bundle / "config.json").read_text())
    config["hostname"] = "dockyard-demo"
    config["root"] = {"path": "rootfs", "readonly": True}
    config["process"]["terminal"] = False
    script = (
        'echo "my pid: $$ (PID 1 is: $(cat /proc/1/comm))"; '
        'echo "hostname: $(hostname)"; '
        'echo "processes I can see:"; ps -o pid,comm; '
        'echo "memory limit: $(cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null '
        '|| cat /sys/fs/cgroup/memory.max) bytes"; '
        'touch /should-fail 2>/dev/null && echo "root is writable!" || echo "root is read-only"; '
        'echo "my mounts:"; cat /proc/self/mounts'
    )
    config["process"]["args"] = ["/bin/sh", "-c", script]
    config["linux"].setdefault("resources", {})["memory"] = {"limit": 64 * 1024 * 1024}
    (bundle / "config.json").write_text(json.dumps(config, indent=2))
    print(f"$ dockyard-runc run --bundle {bundle} demo   # hostname, 64 MiB, read-only root")
    cid = f"demo-{os.getpid()}"
    rc = subprocess.run([RUNC, "run", "--bundle", str(bundle), cid]).returncode
    if rc != 0:
        raise SystemExit(f"demo: the container exited with {rc}")
    print(f"host hostname for comparison: {os.uname().nodename}")


DOCKYARD = str(BIN / "dockyard")
TICKER = "i=0; while true; do echo tick $i; i=$((i+1)); sleep 1; done"


def cli(*args: str, check: bool = True) -> int:
    print("$ dockyard " + " ".join(args), flush=True)
    rc = subprocess.run([DOCKYARD, *args]).returncode
    if check and rc != 0:
        raise SystemExit(f"demo: `dockyard {' '.join(args)}` exited with {rc}")
    return rc


def engine_demo() -> None:
    say("Part 2: the engine — daemon on demand, base image, a detached container with limits")
    subprocess.run([DOCKYARD, "rm", "-f", "demo-ticker"], capture_output=True)
    cli("image", "bootstrap", "busybox")
    cli("images")
    cli(
        "run",
        "-d",
        "--name",
        "demo-ticker",
        "--memory",
        "64m",
        "--cpus",
        "0.5",
        "--pids-limit",
        "64",
        "busybox",
        "sh",
        "-c",
        TICKER,
    )
    time.sleep(2.5)
    cli("ps")
    cli("logs", "--tail", "3", "demo-ticker")
    cli(
        "exec",
        "demo-ticker",
        "sh",
        "-c",
        'echo "inside: hostname=$(hostname) pid1=$(cat /proc/1/comm)"; '
        "echo hello from a committed image > /greeting",
    )
    cli("stats", "--no-stream", "demo-ticker")
    say("Commit the container's changes as a new image, and run it")
    cli("commit", "demo-ticker", "demo/greeter:1")
    cli("rm", "-f", "demo-ticker")
    cli("run", "--rm", "demo/greeter:1", "cat", "/greeting")


def main() -> int:
    if os.geteuid() != 0:
        print("demo: run as root (containers need namespaces, mounts and cgroups)", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="dockyard-demo-") as tmp:
        runtime_demo(Path(tmp))
    engine_demo()
    print("\nThe daemon keeps running: `dockyard daemon status`, `dockyard daemon stop`.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
