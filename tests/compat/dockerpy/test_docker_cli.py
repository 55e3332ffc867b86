"""The real `docker` CLI against dockyardd (DOCKER_HOST=unix://…)."""

from __future__ import annotations

import json
import os
import pty
import select
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.compat, pytest.mark.root]

DOCKER = shutil.which("docker")


@pytest.fixture
def docker(daemon: Any, tmp_path: Path) -> Any:
    if DOCKER is None:
        pytest.skip("the docker CLI is not installed")
    env = dict(os.environ, DOCKER_HOST=f"unix://{daemon.sock}", DOCKER_CONFIG=str(tmp_path))

    def run(
        *args: str, input_: bytes | None = None, timeout: float = 60, check: bool = True
    ) -> subprocess.CompletedProcess[bytes]:
        r = subprocess.run(
            [DOCKER, *args], input=input_, capture_output=True, env=env, timeout=timeout
        )
        if check:
            assert r.returncode == 0, (args, r.returncode, r.stdout, r.stderr)
        return r

    run.env = env  # type: ignore[attr-defined]
    return run


def test_version_and_info(docker: Any) -> None:
    out = docker("version", "--format", "{{.Server.APIVersion}}").stdout.decode().strip()
    assert out == "1.44"
    info = json.loads(docker("info", "--format", "{{json .}}").stdout)
    assert info["ServerVersion"] and info["Images"] >= 1


def test_run_rm_exit_codes_and_streams(docker: Any) -> None:
    r = docker("run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3", check=False)
    assert r.returncode == 3
    assert r.stdout == b"out\n" and r.stderr == b"err\n"
    r = docker("run", "--rm", "-i", "busybox", "cat", input_=b"piped\n")
    assert r.stdout == b"piped\n"
    r = docker("run", "--rm", "busybox", "nosuchcmd", check=False)
    assert r.returncode == 127 and b"executable file not found" in r.stderr
    r = docker("run", "--rm", "nosuchimage", check=False)
    assert r.returncode == 125
    r = docker("run", "--rm", "-p", "80:80", "busybox", "true", check=False)
    assert r.returncode == 125 and b"bridge networking" in r.stderr
    assert docker("ps", "-aq").stdout.strip() == b""


def test_detached_exec_logs_ps_stop_rm(docker: Any) -> None:
    cid = (
        docker(
            "run",
            "-d",
            "--name",
            "cli-web",
            "busybox",
            "sh",
            "-c",
            "echo started; while true; do sleep 0.2; done",
        )
        .stdout.decode()
        .strip()
    )
    assert len(cid) == 64
    r = docker("exec", "cli-web", "sh", "-c", "echo from-exec; exit 4", check=False)
    assert r.returncode == 4 and r.stdout == b"from-exec\n"
    r = docker(
        "exec",
        "-e",
        "A=b",
        "-w",
        "/tmp",
        "-u",
        "nobody",
        "cli-web",
        "sh",
        "-c",
        "echo $A $(pwd) $(id -u)",
    )
    assert r.stdout == b"b /tmp 65534\n"
    assert docker("logs", "cli-web").stdout == b"started\n"
    ps = docker("ps", "--format", "{{.Names}} {{.Status}}").stdout.decode()
    assert "cli-web Up" in ps
    assert cid[:12] in docker("ps", "-q").stdout.decode()
    docker("stop", "-t", "1", "cli-web")
    st = json.loads(docker("inspect", "cli-web").stdout)[0]["State"]
    assert st["Status"] == "exited"
    r = docker("rm", "cli-web")
    assert r.stdout.strip() == b"cli-web"


def test_logs_follow_ends_with_the_container(docker: Any) -> None:
    docker(
        "run",
        "-d",
        "--name",
        "cli-follow",
        "busybox",
        "sh",
        "-c",
        "for i in 1 2 3; do echo n$i; sleep 0.3; done",
    )
    r = docker("logs", "-f", "cli-follow", timeout=30)
    assert r.stdout == b"n1\nn2\nn3\n"
    docker("rm", "cli-follow")


def test_rm_running_needs_force(docker: Any) -> None:
    docker("run", "-d", "--name", "cli-busy", "busybox", "sleep", "100")
    r = docker("rm", "cli-busy", check=False)
    assert r.returncode != 0 and b"cannot remove a running container" in r.stderr
    docker("rm", "-f", "cli-busy")


def test_images_commit_save_load_cp(docker: Any, tmp_path: Path) -> None:
    assert b"busybox" in docker("images").stdout
    docker("run", "--name", "cli-commit", "busybox", "sh", "-c", "echo made > /made")
    docker("commit", "cli-commit", "cli-made:v1")
    assert docker("run", "--rm", "cli-made:v1", "cat", "/made").stdout == b"made\n"
    tar = tmp_path / "img.tar"
    docker("save", "-o", str(tar), "cli-made:v1")
    docker("create", "--name", "cli-user", "cli-made:v1")
    r = docker("rmi", "cli-made:v1", check=False)
    assert r.returncode == 1 and b"must force" in r.stderr
    docker("rm", "cli-user", "cli-commit")
    docker("rmi", "cli-made:v1")
    assert b"Loaded image: cli-made:v1" in docker("load", "-i", str(tar)).stdout
    src = tmp_path / "in.txt"
    src.write_text("copied in\n")
    docker("create", "--name", "cli-cp", "busybox", "cat", "/in.txt")
    docker("cp", str(src), "cli-cp:/in.txt")
    docker("start", "-a", "cli-cp")
    assert docker("logs", "cli-cp").stdout == b"copied in\n"
    docker("cp", "cli-cp:/in.txt", str(tmp_path / "out.txt"))
    assert (tmp_path / "out.txt").read_text() == "copied in\n"
    docker("rm", "cli-cp")
    docker("rmi", "cli-made:v1")


def test_volumes(docker: Any) -> None:
    docker("volume", "create", "cli-vol")
    assert b"cli-vol" in docker("volume", "ls").stdout
    docker("run", "--rm", "-v", "cli-vol:/v", "busybox", "sh", "-c", "echo x > /v/f")
    assert docker("run", "--rm", "-v", "cli-vol:/v", "busybox", "cat", "/v/f").stdout == b"x\n"
    assert json.loads(docker("volume", "inspect", "cli-vol").stdout)[0]["Driver"] == "local"
    docker("volume", "rm", "cli-vol")
    r = docker("volume", "inspect", "cli-vol", check=False)
    assert r.returncode != 0


def test_run_it_through_a_pty(docker: Any) -> None:
    pid, fd = pty.fork()
    if pid == 0:  # child: exec the CLI on the pty
        os.execvpe(DOCKER, [DOCKER, "run", "-it", "--rm", "busybox", "sh"], docker.env)
    out = b""

    def read_until(token: bytes, timeout: float = 20) -> None:
        nonlocal out
        end = time.monotonic() + timeout
        while token not in out and time.monotonic() < end:
            r, _, _ = select.select([fd], [], [], 0.5)
            if r:
                try:
                    out += os.read(fd, 4096)
                except OSError:
                    return

    try:
        read_until(b"# ")
        os.write(fd, b"echo $((6*7)); tty\n")
        read_until(b"/dev/pts/")
        os.write(fd, b"exit 5\n")
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(fd)
    assert b"42" in out and b"/dev/pts/" in out
    assert os.waitstatus_to_exitcode(status) == 5


def test_attach_detach_keys_leave_the_container_running(docker: Any) -> None:
    docker("run", "-dit", "--name", "cli-detach", "busybox", "sh")
    pid, fd = pty.fork()
    if pid == 0:
        os.execvpe(DOCKER, [DOCKER, "attach", "cli-detach"], docker.env)
    try:
        time.sleep(1.5)
        os.write(fd, b"echo mark$((1+1))\n")
        out = b""
        end = time.monotonic() + 15
        while b"mark2" not in out and time.monotonic() < end:
            r, _, _ = select.select([fd], [], [], 0.5)
            if r:
                out += os.read(fd, 4096)
        os.write(fd, b"\x10\x11")  # ctrl-p ctrl-q
        end = time.monotonic() + 15
        while time.monotonic() < end:
            r, _, _ = select.select([fd], [], [], 0.5)
            if r:
                try:
                    out += os.read(fd, 4096)
                except OSError:
                    break
        os.waitpid(pid, 0)
    finally:
        os.close(fd)
    assert b"mark2" in out
    # The CLI reports the detach ("read escape sequence", exit 1), the container goes on.
    assert b"read escape sequence" in out, out
    st = json.loads(docker("inspect", "cli-detach").stdout)[0]["State"]
    assert st["Running"]
    docker("rm", "-f", "cli-detach")
