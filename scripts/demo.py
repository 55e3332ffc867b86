"""`make demo`: the main job, from a bare machine, on the embedded busybox base.

Part 1 — the OCI runtime: a bundle made from the host's static busybox runs under
`dockyard-runc` with a hostname, a memory limit and a read-only root, and shows that it is
isolated (its own PID 1, its own hostname, its own mounts).

Part 2 — the engine: `dockyard` starts its daemon on demand, makes the busybox base image, runs
a container detached with limits, shows its logs, an exec and its stats, commits its changes
as a new image and runs that.

Part 3 — the hub: `dockyard-hub` starts on 127.0.0.1:5000, a user is registered, the image
committed in part 2 is pushed to the user's namespace, pulled into a second daemon with its own
data root, and run there: create on one machine, run on any other.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
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
    cli("image", "bootstrap", "busybox")  # the first command starts the daemon, and says so
    subprocess.run([DOCKYARD, "rm", "-f", "demo-ticker"], capture_output=True)  # earlier demos
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


HUB = "127.0.0.1:5000"
HUB_USER, HUB_PASSWORD = "demo", "demo-password"


def hub_answers() -> bool:
    try:
        with urllib.request.urlopen(f"http://{HUB}/v2/", timeout=2):
            return True
    except urllib.error.HTTPError:
        return True  # 401: it is up and asks for a token
    except OSError:
        return False


def start_hub() -> None:
    data = Path(os.environ.get("DOCKYARD_HUB_DATA", "/var/lib/dockyard-hub"))
    data.mkdir(parents=True, exist_ok=True)
    if not hub_answers():
        log = (data / "hub.log").open("ab")
        print(f"$ dockyard-hub serve --listen {HUB} --data {data} &   (log: {data / 'hub.log'})")
        subprocess.Popen(
            [str(BIN / "dockyard-hub"), "serve", "--listen", HUB, "--data", str(data)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while not hub_answers():
            if time.monotonic() > deadline:
                raise SystemExit(f"demo: the hub did not answer on {HUB}; see {data / 'hub.log'}")
            time.sleep(0.2)
    hub = [str(BIN / "dockyard-hub"), "user"]
    print(f"$ dockyard-hub user add {HUB_USER} --password-stdin")
    added = subprocess.run(
        [*hub, "add", HUB_USER, "--password-stdin", "--data", str(data)],
        input=HUB_PASSWORD,
        text=True,
        capture_output=True,
    )
    if added.returncode != 0:  # already registered by an earlier demo: reset the password
        subprocess.run(
            [*hub, "passwd", HUB_USER, "--password-stdin", "--data", str(data)],
            input=HUB_PASSWORD,
            text=True,
            check=True,
        )


def start_second_daemon(work: Path) -> tuple[subprocess.Popen[bytes], str]:
    sock = f"unix://{work}/m2/run/dockyard.sock"
    args = [
        str(BIN / "dockyardd"),
        "--data-root",
        f"{work}/m2/data",
        "--exec-root",
        f"{work}/m2/run",
        "-H",
        sock,
    ]
    print("$ " + " ".join(["dockyardd", *args[1:]]) + " &   # a second 'machine'")
    daemon = subprocess.Popen(
        args,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=(work / "m2.log").open("wb"),
    )
    deadline = time.monotonic() + 30
    # (No on-demand start while it comes up: that one would serve the default data root.)
    quiet = dict(os.environ, DOCKYARD_NO_AUTOSTART="1")
    probe = [DOCKYARD, "-H", sock, "version"]
    while subprocess.run(probe, capture_output=True, env=quiet).returncode:
        if time.monotonic() > deadline or daemon.poll() is not None:
            raise SystemExit(f"demo: the second daemon did not start; see {work / 'm2.log'}")
        time.sleep(0.2)
    return daemon, sock


def hub_demo(work: Path) -> None:
    say("Part 3: the hub — push from this daemon, pull and run on a second one")
    start_hub()
    os.environ["DOCKER_CONFIG"] = str(work / "docker-config")
    image = f"{HUB}/{HUB_USER}/greeter:1"
    print(f"$ echo $PASSWORD | dockyard login -u {HUB_USER} --password-stdin {HUB}")
    subprocess.run(
        [DOCKYARD, "login", "-u", HUB_USER, "--password-stdin", HUB],
        input=HUB_PASSWORD.encode(),
        check=True,
    )
    cli("tag", "demo/greeter:1", image)
    cli("push", image)
    daemon, sock = start_second_daemon(work)
    try:
        cli("-H", sock, "pull", image)
        cli("-H", sock, "run", "--rm", image, "cat", "/greeting")
        ids = {
            where: subprocess.run(
                [DOCKYARD, *h, "image", "inspect", "--format", "{{.Id}}", image],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
            for where, h in (("here", []), ("second daemon", ["-H", sock]))
        }
        print(f"image id here: {ids['here']}\nimage id there: {ids['second daemon']}")
        if len(set(ids.values())) != 1:
            raise SystemExit("demo: the pulled image differs from the pushed one")
    finally:
        daemon.terminate()
        daemon.wait(timeout=30)
    print(
        f"\nThe hub is at http://{HUB}/ (user {HUB_USER!r}, password {HUB_PASSWORD!r}).\n"
        "Try next:\n"
        f"  dockyard run -it --rm busybox sh\n"
        f"  dockyard search {HUB}/greeter\n"
        f"  DOCKER_HOST=unix:///run/dockyard/dockyard.sock docker ps -a\n"
        f"  skopeo inspect --tls-verify=false docker://{image}"
    )


def main() -> int:
    if os.geteuid() != 0:
        print("demo: run as root (containers need namespaces, mounts and cgroups)", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="dockyard-demo-") as tmp:
        runtime_demo(Path(tmp))
        engine_demo()
        hub_demo(Path(tmp))
    print("\nThe daemon keeps running: `dockyard daemon status`, `dockyard daemon stop`.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
