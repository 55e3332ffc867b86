"""Daemon on demand and `dockyard daemon status|stop`, plus streaming verbs (logs -f,
events, exec -i) against real daemons."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from .conftest import DOCKYARD, Daemon, kill_leftovers  # type: ignore[import-not-found]

pytestmark = pytest.mark.root


def test_daemon_starts_on_demand_and_stops(dockyardd_daemon: Daemon) -> None:
    # dockyardd_daemon only proves dockyardd works here; this test starts its own.
    base = Path(tempfile.mkdtemp(prefix="cli-auto-", dir="/tmp"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKYARD", "DOCKER_"))}
    env.update(
        DOCKYARD_HOST=f"unix://{base}/d.sock",
        DOCKYARD_EXEC_ROOT=str(base / "exec"),
        DOCKYARD_ROOT=str(base / "data"),
    )

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [DOCKYARD, *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )

    pid = 0
    try:
        first = cli("version", "--format", "{{.Server.ApiVersion}}")
        assert first.returncode == 0, first.stderr
        assert first.stderr == f"Starting dockyardd (log: {base}/exec/dockyardd.log)\n"
        assert first.stdout.strip().startswith("1.")
        second = cli("ps", "-q")
        assert (second.returncode, second.stderr) == (0, "")  # no second start
        status = cli("daemon", "status")
        assert status.returncode == 0, status.stderr
        match = re.search(r"running \(pid: (\d+), socket: unix://", status.stdout)
        assert match, status.stdout
        pid = int(match.group(1))
        assert Path(f"/proc/{pid}").exists()
        stopped = cli("daemon", "stop")
        assert stopped.returncode == 0, stopped.stderr
        assert stopped.stdout == f"dockyardd stopped (pid {pid})\n"
        after = cli("daemon", "status")
        assert after.returncode == 3
        assert "not running" in after.stdout
    finally:
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        kill_leftovers(base)
        subprocess.run(["rm", "-rf", str(base)], check=False)


def test_stale_socket_file_still_starts_the_daemon(dockyardd_daemon: Daemon) -> None:
    """A socket file left by a daemon killed with the machine refuses connections: the CLI
    starts the daemon as if it were absent."""
    import socket

    base = Path(tempfile.mkdtemp(prefix="cli-stale-", dir="/tmp"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKYARD", "DOCKER_"))}
    env.update(
        DOCKYARD_HOST=f"unix://{base}/d.sock",
        DOCKYARD_EXEC_ROOT=str(base / "exec"),
        DOCKYARD_ROOT=str(base / "data"),
    )
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as dead:
        dead.bind(str(base / "d.sock"))  # bound, never listening, closed: a stale file
    try:
        first = subprocess.run(
            [DOCKYARD, "ps", "-q"], capture_output=True, text=True, env=env, timeout=60
        )
        assert first.returncode == 0, first.stderr
        assert first.stderr.startswith("Starting dockyardd")
        stopped = subprocess.run(
            [DOCKYARD, "daemon", "stop"], capture_output=True, text=True, env=env, timeout=60
        )
        assert stopped.returncode == 0, stopped.stderr
    finally:
        kill_leftovers(base)
        subprocess.run(["rm", "-rf", str(base)], check=False)


def test_demo_flow_from_a_bare_root(dockyardd_daemon: Daemon) -> None:
    """The issue's main job through the CLI alone: daemon on demand, base image, a limited
    detached container, logs, exec, stats, commit, and the committed image runs."""
    base = Path(tempfile.mkdtemp(prefix="cli-demo-", dir="/tmp"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKYARD", "DOCKER_"))}
    env.update(
        DOCKYARD_HOST=f"unix://{base}/d.sock",
        DOCKYARD_EXEC_ROOT=str(base / "exec"),
        DOCKYARD_ROOT=str(base / "data"),
    )

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [DOCKYARD, *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )
        assert proc.returncode == 0, (args, proc.stderr)
        return proc

    try:
        made = cli("image", "bootstrap", "busybox")
        assert made.stderr.startswith("Starting dockyardd (log: ")
        cli(
            "run",
            "-d",
            "--name",
            "web",
            "--memory",
            "64m",
            "--cpus",
            "0.5",
            "--pids-limit",
            "50",
            "busybox",
            "sh",
            "-c",
            "while true; do echo tick; sleep 0.2; done",
        )
        deadline = time.monotonic() + 20
        while "tick" not in cli("logs", "--tail", "1", "web").stdout:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert (
            cli("exec", "web", "sh", "-c", "echo hello > /greeting; cat /greeting").stdout
            == "hello\n"
        )
        stats = cli("stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}}", "web")
        assert re.fullmatch(r"web \S+ / 64MiB\n", stats.stdout), stats.stdout
        assert cli("commit", "web", "demo:1").stdout.startswith("sha256:")
        assert cli("run", "--rm", "demo:1", "cat", "/greeting").stdout == "hello\n"
        cli("rm", "-f", "web")
    finally:
        subprocess.run(
            [DOCKYARD, "daemon", "stop"], env=env, capture_output=True, timeout=60, check=False
        )
        kill_leftovers(base)
        for line in reversed(Path("/proc/self/mounts").read_text().splitlines()):
            target = line.split()[1]
            if target.startswith(str(base) + "/"):
                subprocess.run(["umount", "-l", target], capture_output=True, check=False)
        subprocess.run(["rm", "-rf", str(base)], check=False)


def test_no_autostart_for_docker_host(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKYARD", "DOCKER_"))}
    env["DOCKER_HOST"] = f"unix://{tmp_path}/other.sock"
    proc = subprocess.run(
        [DOCKYARD, "ps"],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 1
    assert "Starting dockyardd" not in proc.stderr
    assert proc.stderr.startswith("Cannot connect to the dockyard daemon at unix://")
    assert not (tmp_path / "other.sock").exists()


def test_logs_follow_streams_until_exit(daemon: Daemon, name: str) -> None:
    started = daemon.cli(
        "run",
        "-d",
        "--name",
        name,
        "busybox",
        "sh",
        "-c",
        "for i in 1 2 3; do echo line$i; sleep 0.3; done",
    )
    assert started.returncode == 0
    try:
        begin = time.monotonic()
        followed = daemon.cli("logs", "-f", name, timeout=30)
        assert followed.returncode == 0
        assert followed.stdout == b"line1\nline2\nline3\n"
        assert time.monotonic() - begin < 20
        tail = daemon.cli("logs", "--tail", "1", name)
        assert tail.stdout == b"line3\n"
        stamped = daemon.cli("logs", "-t", name).stdout.decode().splitlines()
        assert all(
            re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z line\d$", s) for s in stamped
        ), stamped
    finally:
        daemon.cli("rm", "-f", name)


def test_events_between_times(daemon: Daemon, name: str) -> None:
    assert daemon.cli("run", "--name", name, "busybox", "true").returncode == 0
    try:
        events = daemon.cli(
            "events", "--since", "2m", "--until", "0s", "--filter", f"container={name}", timeout=30
        )
        assert events.returncode == 0, events.stderr
        lines = events.stdout.decode().splitlines()
        actions = [line.split()[2] for line in lines]
        # (`run` attaches before it starts: both daemons say so.)
        assert actions[:4] == ["create", "attach", "start", "die"], actions
        assert all(f"name={name}" in line for line in lines)
        formatted = daemon.cli(
            "events",
            "--since",
            "2m",
            "--until",
            "0s",
            "--filter",
            f"container={name}",
            "--format",
            "{{.Type}} {{.Action}}",
        )
        assert "container start" in formatted.stdout.decode().splitlines()
    finally:
        daemon.cli("rm", "-f", name)


def test_exec_with_stdin_and_detached(daemon: Daemon, name: str) -> None:
    assert daemon.cli("run", "-d", "--name", name, "busybox", "sleep", "300").returncode == 0
    try:
        piped = daemon.cli(
            "exec", "-i", name, "sh", "-c", "cat > /tmp/in; wc -c < /tmp/in", input=b"12345"
        )
        assert piped.returncode == 0, piped.stderr
        assert piped.stdout.strip() == b"5"
        assert daemon.cli("exec", "-d", name, "touch", "/tmp/bg").returncode == 0
        deadline = time.monotonic() + 10
        while daemon.cli("exec", name, "test", "-e", "/tmp/bg").returncode != 0:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        env = daemon.cli(
            "exec",
            "-e",
            "V=x",
            "-w",
            "/tmp",
            "-u",
            "65534",
            name,
            "sh",
            "-c",
            'echo "$V $(pwd) $(id -u)"',
        )
        assert env.stdout == b"x /tmp 65534\n"
    finally:
        daemon.cli("rm", "-f", name)


def test_missing_image_reports_and_fails_125(daemon: Daemon) -> None:
    # A registry on loopback port 9 (nothing listens): the pull attempt never leaves the host.
    ref = "127.0.0.1:9/cli-missing:1"
    proc = daemon.cli("run", "--rm", ref, "true")
    assert proc.returncode == 125
    lines = proc.stderr.decode().splitlines()
    assert lines[0] == f"Unable to find image '{ref}' locally"
    assert lines[1].startswith("dockyard: Error response from daemon: ")
    never = daemon.cli("run", "--rm", "--pull", "never", ref, "true")
    assert never.returncode == 125
    assert "Unable to find image" not in never.stderr.decode()


def test_container_and_image_prune(daemon: Daemon, name: str) -> None:
    assert daemon.cli("create", "--name", name, "busybox", "true").returncode == 0
    pruned = daemon.cli("container", "prune", "-f")
    assert pruned.returncode == 0, pruned.stderr
    text = pruned.stdout.decode()
    assert text.startswith("Deleted Containers:\n")
    assert text.rstrip().splitlines()[-1].startswith("Total reclaimed space: ")
    assert name not in daemon.cli("ps", "-a", "--format", "{{.Names}}").stdout.decode()
    images = daemon.cli("image", "prune", "-f")
    assert images.returncode == 0
    assert images.stdout.decode().rstrip().splitlines()[-1].startswith("Total reclaimed space")


@pytest.mark.parametrize(
    "args",
    [
        ("pull", "busybox"),
        ("push", "busybox"),
        ("search", "busybox"),
        ("login", "-u", "a", "-p", "b", "127.0.0.1:5000"),
    ],
)
def test_registry_verbs_reach_the_daemon(dockyardd_daemon: Daemon, args: tuple[str, ...]) -> None:
    # Only against dockyardd: dockerd would try to reach Docker Hub.
    proc = dockyardd_daemon.cli(*args)
    assert proc.returncode == 1
    # `login -p` first warns, as docker does, that a password on the command line is insecure.
    lines = [
        line
        for line in proc.stderr.decode().splitlines()
        if line and not line.startswith("WARNING!")
    ]
    assert len(lines) == 1 and lines[0].startswith("Error response from daemon: ")
