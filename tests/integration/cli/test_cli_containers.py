"""`dockyard` against real daemons: run, exit codes, detached lifecycle, stdin, TTY, cp."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import termios
import time
from pathlib import Path

import pytest

from .conftest import DOCKYARD, Daemon  # type: ignore[import-not-found]

pytestmark = pytest.mark.root


def out(proc: subprocess.CompletedProcess[bytes]) -> str:
    return proc.stdout.decode()


def err(proc: subprocess.CompletedProcess[bytes]) -> str:
    return proc.stderr.decode()


def test_run_rm_echo_prints_and_removes(daemon: Daemon, name: str) -> None:
    proc = daemon.cli("run", "--rm", "--name", name, "busybox", "echo", "hello", "world")
    assert proc.returncode == 0, err(proc)
    assert out(proc) == "hello world\n"
    listed = daemon.cli("ps", "-a", "--format", "{{.Names}}")
    assert name not in out(listed).split()


def test_exit_codes(daemon: Daemon) -> None:
    assert daemon.cli("run", "--rm", "busybox", "sh", "-c", "exit 3").returncode == 3
    missing = daemon.cli("run", "--rm", "busybox", "nosuchcommand")
    assert missing.returncode == 127, err(missing)
    assert err(missing).startswith("dockyard: Error response from daemon: ")
    unknown = daemon.cli("run", "--foo", "busybox")
    assert unknown.returncode == 125
    assert err(unknown).splitlines()[0] == "unknown flag: --foo"
    bad = daemon.cli("run", "--memory", "12q", "busybox", "true")
    assert bad.returncode == 125
    assert 'invalid argument "12q" for "-m, --memory" flag' in err(bad)


def test_options_after_image_belong_to_the_container(daemon: Daemon) -> None:
    proc = daemon.cli("run", "--rm", "busybox", "ls", "-l", "/bin/sh")
    assert proc.returncode == 0, err(proc)
    assert "/bin/sh -> busybox" in out(proc)


def test_stdout_and_stderr_stay_separate(daemon: Daemon) -> None:
    proc = daemon.cli("run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2")
    assert proc.returncode == 0
    assert out(proc) == "out\n"
    assert err(proc) == "err\n"


def test_env_workdir_user_flags(daemon: Daemon) -> None:
    proc = daemon.cli(
        "run",
        "--rm",
        "-e",
        "A=b",
        "--env=C=d",
        "-w",
        "/tmp",
        "-u",
        "65534",
        "busybox",
        "sh",
        "-c",
        'echo "$A $C $(pwd) $(id -u)"',
    )
    assert proc.returncode == 0, err(proc)
    assert out(proc) == "b d /tmp 65534\n"


def test_stdin_is_piped_with_i(daemon: Daemon) -> None:
    proc = daemon.cli("run", "-i", "--rm", "busybox", "cat", input=b"hi\nthere\n")
    assert proc.returncode == 0, err(proc)
    assert out(proc) == "hi\nthere\n"


def test_detached_lifecycle(daemon: Daemon, name: str) -> None:
    started = daemon.cli(
        "run",
        "-d",
        "--name",
        name,
        "busybox",
        "sh",
        "-c",
        "echo started; echo oops >&2; exec sleep 300",
    )
    assert started.returncode == 0, err(started)
    cid = out(started).strip()
    assert re.fullmatch(r"[0-9a-f]{64}", cid)
    try:
        deadline = time.monotonic() + 10
        while "started" not in out(daemon.cli("logs", name)) and time.monotonic() < deadline:
            time.sleep(0.1)
        logs = daemon.cli("logs", name)
        assert out(logs) == "started\n"
        assert err(logs) == "oops\n"
        ran = daemon.cli("exec", name, "sh", "-c", "echo in-$HOSTNAME; exit 7")
        assert ran.returncode == 7
        assert out(ran) == f"in-{cid[:12]}\n"
        listed = daemon.cli("ps", "--format", "{{.ID}} {{.Names}} {{.State}}")
        assert f"{cid[:12]} {name} running" in out(listed).splitlines()
        table = out(daemon.cli("ps")).splitlines()
        assert table[0].split() == [
            "CONTAINER",
            "ID",
            "IMAGE",
            "COMMAND",
            "CREATED",
            "STATUS",
            "PORTS",
            "NAMES",
        ]
        assert any(line.startswith(cid[:12]) and line.endswith(name) for line in table[1:])
        status = daemon.cli("inspect", "--format", "{{.State.Status}} {{.Config.Image}}", name)
        assert out(status) == "running busybox\n"
        assert out(daemon.cli("ps", "-q")).split().count(cid[:12]) == 1
        stopped = daemon.cli("stop", "-t", "1", name)
        assert (stopped.returncode, out(stopped)) == (0, f"{name}\n")
        status = daemon.cli("inspect", "--format", "{{.State.Status}}", name)
        assert out(status) == "exited\n"
    finally:
        removed = daemon.cli("rm", "-f", name)
    assert (removed.returncode, out(removed)) == (0, f"{name}\n")
    gone = daemon.cli("rm", name)
    assert gone.returncode == 1
    assert err(gone).startswith("Error response from daemon: ")


def test_rm_running_needs_force(daemon: Daemon, name: str) -> None:
    assert daemon.cli("run", "-d", "--name", name, "busybox", "sleep", "300").returncode == 0
    try:
        refused = daemon.cli("rm", name)
        assert refused.returncode == 1
        assert err(refused).startswith("Error response from daemon: ")
    finally:
        assert daemon.cli("rm", "-f", name).returncode == 0


def _pty_run(
    args: list[str],
    env: dict[str, str],
    send: list[tuple[float, bytes | tuple[int, int]]],
    timeout: float = 30,
) -> tuple[bytes, int]:
    """Run the CLI on a pty of 30x100; after each delay write the bytes, or resize the
    terminal to (rows, cols) (the kernel then sends SIGWINCH); collect the output."""
    pid, fd = pty.fork()
    if pid == 0:  # child: exec at once (no Python-level work in the forked process)
        os.execve(DOCKYARD, [DOCKYARD, *args], env)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    output = b""
    start = time.monotonic()
    pending = list(send)
    status = None
    while time.monotonic() - start < timeout:
        if pending and time.monotonic() - start >= pending[0][0]:
            action = pending.pop(0)[1]
            if isinstance(action, bytes):
                os.write(fd, action)
            else:
                rows, cols = action
                fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        ready, _, _ = select.select([fd], [], [], 0.05)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                chunk = b""
            output += chunk
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
    else:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        raise AssertionError(f"timed out; output so far {output!r}")
    os.close(fd)
    assert status is not None
    return output, os.waitstatus_to_exitcode(status)


def test_tty_gives_a_terminal_of_the_local_size(daemon: Daemon) -> None:
    output, code = _pty_run(
        ["run", "-it", "--rm", "busybox", "sh", "-c", "tty; sleep 1; stty size; exit 5"],
        daemon.env(),
        send=[],
    )
    assert code == 5, output
    assert b"/dev/pts/" in output
    assert b"30 100" in output


def test_interactive_tty_shell_and_detach_keys(daemon: Daemon, name: str) -> None:
    try:
        output, code = _pty_run(
            ["run", "-it", "--name", name, "busybox", "sh"],
            daemon.env(),
            send=[
                (1.5, b"echo $((6*7))\r"),
                (2.0, (40, 120)),
                (3.0, b"stty size\r"),
                (4.0, b"\x10\x11"),
            ],
        )
        assert code == 0, output
        assert b"42" in output
        assert b"40 120" in output  # SIGWINCH became a resize of the container's terminal
        state = daemon.cli("inspect", "--format", "{{.State.Running}}", name)
        assert out(state) == "true\n"
    finally:
        daemon.cli("rm", "-f", name)


def test_cp_both_directions(daemon: Daemon, name: str, tmp_path: Path) -> None:
    assert daemon.cli("run", "-d", "--name", name, "busybox", "sleep", "300").returncode == 0
    try:
        (tmp_path / "file.txt").write_text("payload\n")
        (tmp_path / "tree" / "sub").mkdir(parents=True)
        (tmp_path / "tree" / "sub" / "leaf").write_text("leaf\n")
        assert daemon.cli("cp", str(tmp_path / "file.txt"), f"{name}:/tmp/").returncode == 0
        assert daemon.cli("cp", str(tmp_path / "tree"), f"{name}:/tmp/renamed").returncode == 0
        shown = daemon.cli("exec", name, "sh", "-c", "cat /tmp/file.txt /tmp/renamed/sub/leaf")
        assert out(shown) == "payload\nleaf\n"
        back = tmp_path / "back"
        back.mkdir()
        assert daemon.cli("cp", f"{name}:/tmp/file.txt", str(back)).returncode == 0
        assert daemon.cli("cp", f"{name}:/tmp/renamed", str(back / "again")).returncode == 0
        assert (back / "file.txt").read_text() == "payload\n"
        assert (back / "again" / "sub" / "leaf").read_text() == "leaf\n"
        missing = daemon.cli("cp", f"{name}:/nonexistent", str(back))
        assert missing.returncode == 1
        assert "nonexistent" in err(missing)
    finally:
        daemon.cli("rm", "-f", name)


def test_lifecycle_verbs(daemon: Daemon, name: str) -> None:
    assert daemon.cli("create", "--name", name, "busybox", "sleep", "300").returncode == 0
    try:
        state = "{{.State.Status}}"
        assert daemon.cli("inspect", "-f", state, name).stdout == b"created\n"
        assert daemon.cli("start", name).stdout == f"{name}\n".encode()
        assert daemon.cli("pause", name).returncode == 0
        assert daemon.cli("inspect", "-f", state, name).stdout == b"paused\n"
        assert daemon.cli("unpause", name).returncode == 0
        assert daemon.cli("inspect", "-f", state, name).stdout == b"running\n"
        updated = daemon.cli(
            "update", "--memory", "64m", "--memory-swap", "128m", "--pids-limit", "50", name
        )
        assert (updated.returncode, updated.stdout) == (0, f"{name}\n".encode()), updated.stderr
        limits = daemon.cli(
            "inspect", "-f", "{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}}", name
        )
        assert limits.stdout == b"67108864 50\n"
        top = daemon.cli("top", name).stdout.decode().splitlines()
        assert top[0].split()[:2] == ["UID", "PID"] and "sleep 300" in top[1]
        # (dockerd 20.10 without a bridge cannot rename after a restart: rename first.)
        assert daemon.cli("rename", name, name + "-2").returncode == 0
        assert daemon.cli("restart", "-t", "1", name + "-2").returncode == 0
        assert daemon.cli("inspect", "-f", state, name + "-2").stdout == b"running\n"
        assert daemon.cli("kill", name + "-2").stdout == f"{name}-2\n".encode()
        waited = daemon.cli("wait", name + "-2")
        assert waited.stdout == b"137\n"
        assert daemon.cli("inspect", "-f", "{{.State.ExitCode}}", name + "-2").stdout == b"137\n"
    finally:
        daemon.cli("rm", "-f", name)
        daemon.cli("rm", "-f", name + "-2")


def test_stats_no_stream_diff_export(daemon: Daemon, name: str, tmp_path: Path) -> None:
    assert (
        daemon.cli(
            "run", "-d", "--name", name, "busybox", "sh", "-c", "touch /made; exec sleep 300"
        ).returncode
        == 0
    )
    try:
        stats = daemon.cli("stats", "--no-stream", name)
        assert stats.returncode == 0, stats.stderr
        lines = stats.stdout.decode().splitlines()
        assert lines[0].startswith("CONTAINER ID   NAME ")
        assert "MEM USAGE / LIMIT" in lines[0]
        assert lines[1].split()[1] == name
        pids = daemon.cli("stats", "--no-stream", "--format", "{{.Name}}:{{.PIDs}}", name)
        assert pids.stdout.decode().strip() == f"{name}:1"
        deadline = time.monotonic() + 10
        while b"A /made" not in daemon.cli("diff", name).stdout:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        exported = tmp_path / "fs.tar"
        assert daemon.cli("export", "-o", str(exported), name).returncode == 0
        import tarfile

        with tarfile.open(exported) as tar:
            names = {m.name.lstrip("./") for m in tar.getmembers()}
        assert {"made", "bin/busybox"} <= names
    finally:
        daemon.cli("rm", "-f", name)


def test_cp_tar_streams(daemon: Daemon, name: str) -> None:
    assert daemon.cli("run", "-d", "--name", name, "busybox", "sleep", "300").returncode == 0
    try:
        import io
        import tarfile

        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            info = tarfile.TarInfo("streamed.txt")
            info.size = 3
            tar.addfile(info, io.BytesIO(b"abc"))
        put = daemon.cli("cp", "-", f"{name}:/tmp", input=buf.getvalue())
        assert put.returncode == 0, put.stderr
        got = daemon.cli("cp", f"{name}:/tmp/streamed.txt", "-")
        with tarfile.open(fileobj=io.BytesIO(got.stdout)) as tar:
            member = tar.extractfile("streamed.txt")
            assert member is not None and member.read() == b"abc"
    finally:
        daemon.cli("rm", "-f", name)


def test_signals_are_proxied_without_tty(daemon: Daemon) -> None:
    proc = subprocess.Popen(
        [
            DOCKYARD,
            "run",
            "--rm",
            "busybox",
            "sh",
            "-c",
            'trap "echo got-term; exit 9" TERM; echo ready; while :; do sleep 0.1; done',
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=daemon.env(),
        stdin=subprocess.DEVNULL,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"ready\n"
        proc.send_signal(15)
        rest, errors = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert rest == b"got-term\n", errors
    assert proc.returncode == 9


def test_start_attach_returns_the_exit_code(daemon: Daemon, name: str) -> None:
    assert (
        daemon.cli(
            "create", "--name", name, "busybox", "sh", "-c", "echo attached; exit 4"
        ).returncode
        == 0
    )
    try:
        started = daemon.cli("start", "-a", name)
        assert (started.returncode, started.stdout) == (4, b"attached\n")
    finally:
        daemon.cli("rm", "-f", name)


def test_attach_and_detach_keys(daemon: Daemon, name: str) -> None:
    assert daemon.cli("run", "-dit", "--name", name, "busybox", "sh").returncode == 0
    try:
        output, code = _pty_run(
            ["attach", "--detach-keys", "ctrl-a,x", name],
            daemon.env(),
            send=[(1.0, b"echo attached-$((1+1))\r"), (2.5, b"\x01x")],
        )
        assert code == 0, output
        assert b"attached-2" in output
        state = daemon.cli("inspect", "--format", "{{.State.Running}}", name)
        assert out(state) == "true\n"
    finally:
        daemon.cli("rm", "-f", name)


def test_exec_it_through_a_pty(daemon: Daemon, name: str) -> None:
    assert daemon.cli("run", "-d", "--name", name, "busybox", "sleep", "300").returncode == 0
    try:
        output, code = _pty_run(
            ["exec", "-it", name, "sh", "-c", "tty; sleep 1; stty size; exit 6"],
            daemon.env(),
            send=[],
        )
        assert code == 6, output
        assert b"/dev/pts/" in output and b"30 100" in output
    finally:
        daemon.cli("rm", "-f", name)


def test_ps_filters_and_limits(daemon: Daemon, name: str) -> None:
    assert daemon.cli("run", "--name", name, "-l", "cli.test=1", "busybox", "true").returncode == 0
    try:
        exited = daemon.cli(
            "ps",
            "-a",
            "--filter",
            "status=exited",
            "--filter",
            f"name={name}",
            "--format",
            "{{.Names}} {{.Status}}",
        )
        lines = out(exited).splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"{name} Exited (0) ")
        assert out(daemon.cli("ps", "--filter", f"name={name}", "-q")) == ""
        labelled = daemon.cli(
            "ps",
            "-a",
            "--filter",
            "label=cli.test=1",
            "--format",
            '{{.Names}} {{.Label "cli.test"}}',
        )
        assert out(labelled) == f"{name} 1\n"
        latest = daemon.cli("ps", "-l", "--format", "{{.Names}}")
        assert out(latest) == f"{name}\n"
        assert len(out(daemon.cli("ps", "-a", "-n", "1", "-q")).split()) == 1
    finally:
        daemon.cli("rm", "-f", name)


def test_stats_stream_prints_repeatedly(daemon: Daemon, name: str) -> None:
    assert daemon.cli("run", "-d", "--name", name, "busybox", "sleep", "300").returncode == 0
    try:
        proc = subprocess.Popen(
            [DOCKYARD, "stats", "--format", "{{.Name}}", name],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=daemon.env(),
            stdin=subprocess.DEVNULL,
        )
        time.sleep(4.5)
        proc.terminate()
        text, _ = proc.communicate(timeout=20)
        assert text.decode().splitlines().count(name) >= 2
    finally:
        daemon.cli("rm", "-f", name)


def test_cp_symlinks_as_links_or_followed(daemon: Daemon, name: str, tmp_path: Path) -> None:
    assert (
        daemon.cli(
            "run",
            "-d",
            "--name",
            name,
            "busybox",
            "sh",
            "-c",
            "echo data > /tmp/real; ln -s /tmp/real /tmp/abs; exec sleep 300",
        ).returncode
        == 0
    )
    try:
        deadline = time.monotonic() + 10
        while daemon.cli("exec", name, "test", "-L", "/tmp/abs").returncode != 0:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert daemon.cli("cp", f"{name}:/tmp/abs", str(tmp_path)).returncode == 0
        assert (tmp_path / "abs").is_symlink()
        assert str((tmp_path / "abs").readlink()) == "/tmp/real"
        followed = tmp_path / "followed"
        followed.mkdir()
        assert daemon.cli("cp", "-L", f"{name}:/tmp/abs", str(followed)).returncode == 0
        assert (followed / "abs").read_text() == "data\n"
    finally:
        daemon.cli("rm", "-f", name)


def test_binary_stdin_is_data_without_tty(daemon: Daemon) -> None:
    import hashlib

    # 2 MiB holding every byte value, ctrl-p ctrl-q (0x10 0x11) included: without a TTY,
    # stdin is data, and detach keys must not apply.
    payload = bytes(range(256)) * 8192
    piped = daemon.cli("run", "-i", "--rm", "busybox", "md5sum", input=payload, timeout=120)
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout.split()[:1] == [hashlib.md5(payload).hexdigest().encode()]


def test_large_streams_in_and_out(daemon: Daemon) -> None:
    import hashlib

    payload = b"0123456789abcdef" * 131072  # 2 MiB of text
    piped = daemon.cli("run", "-i", "--rm", "busybox", "md5sum", input=payload, timeout=120)
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout.split()[:1] == [hashlib.md5(payload).hexdigest().encode()]
    big = daemon.cli(
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "head -c 3000000 /dev/zero | tr '\\0' a; echo done >&2",
        timeout=120,
    )
    assert big.returncode == 0
    assert big.stdout == b"a" * 3_000_000
    assert big.stderr == b"done\n"


def test_create_flags_reach_the_daemon(daemon: Daemon, name: str) -> None:
    made = daemon.cli(
        "create",
        "--name",
        name,
        "--memory",
        "64m",
        "--cpus",
        "0.5",
        "--pids-limit",
        "20",
        "--read-only",
        "--cap-drop",
        "ALL",
        "--cap-add",
        "CHOWN",
        "-e",
        "X=1",
        "-l",
        "k=v",
        "--restart",
        "on-failure:2",
        "--stop-signal",
        "SIGINT",
        "--stop-timeout",
        "7",
        "-w",
        "/tmp",
        "-u",
        "65534",
        "-h",
        "boxname",
        "--tmpfs",
        "/scratch",
        "--ulimit",
        "nofile=512:1024",
        "--shm-size",
        "8m",
        "--network",
        "none",
        "busybox",
        "true",
    )
    assert made.returncode == 0, made.stderr
    try:
        fmt = (
            "{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}} {{.HostConfig.PidsLimit}} "
            "{{.HostConfig.ReadonlyRootfs}} {{json .HostConfig.CapDrop}} "
            "{{json .HostConfig.CapAdd}} {{.HostConfig.RestartPolicy.Name}}:"
            "{{.HostConfig.RestartPolicy.MaximumRetryCount}} {{.Config.StopSignal}} "
            "{{.Config.StopTimeout}} {{.Config.WorkingDir}} {{.Config.User}} "
            "{{.Config.Hostname}} {{json .HostConfig.Tmpfs}} {{.HostConfig.ShmSize}} "
            "{{.HostConfig.NetworkMode}} {{.Config.Labels.k}} "
            "{{range .HostConfig.Ulimits}}{{.Name}}={{.Soft}}:{{.Hard}}{{end}}"
        )
        shown = daemon.cli("inspect", "--format", fmt, name)
        assert shown.returncode == 0, shown.stderr
        assert shown.stdout.decode().split() == [
            "67108864",
            "500000000",
            "20",
            "true",
            '["ALL"]',
            '["CHOWN"]',
            "on-failure:2",
            "SIGINT",
            "7",
            "/tmp",
            "65534",
            "boxname",
            '{"/scratch":""}',
            "8388608",
            "none",
            "v",
            "nofile=512:1024",
        ]
        env = daemon.cli("inspect", "--format", "{{range .Config.Env}}{{println .}}{{end}}", name)
        assert "X=1" in env.stdout.decode().split()
    finally:
        daemon.cli("rm", "-f", name)
