"""The same commands through `dockyard` and the real `docker` client, against one dockerd:
outputs and exit codes must match."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from .conftest import Daemon  # type: ignore[import-not-found]

pytestmark = [pytest.mark.root, pytest.mark.compat]

if shutil.which("docker") is None:
    pytest.skip("the docker client is not installed", allow_module_level=True)


def both(d: Daemon, *args: str) -> tuple[subprocess.CompletedProcess[bytes], ...]:
    return d.cli(*args), d.docker(*args)


def _normalize(text: bytes) -> str:
    # Only the program's own name differs in usage lines.
    return text.decode().replace("docker", "dockyard")


@pytest.mark.parametrize(
    "args",
    [
        ("ps", "-a", "--format", "{{.Names}} {{.Image}} {{.Command}} {{.State}}"),
        ("ps", "-a", "--no-trunc", "--format", "{{.ID}}|{{.Labels}}|{{.Mounts}}"),
        ("images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}} {{.Size}}"),
        ("images", "-q"),
        ("volume", "ls"),
        ("volume", "ls", "--format", "{{json .}}"),
        ("inspect", "--format", "{{.Config.Cmd}} {{json .Config.Cmd}}", "cmp-fixed"),
        ("inspect", "--format", "{{range .Config.Env}}[{{.}}]{{end}}", "cmp-fixed"),
        ("inspect", "cmp-fixed"),
        ("image", "inspect", "busybox"),
        ("top", "cmp-fixed", "-o", "pid,comm"),
        ("diff", "cmp-fixed"),
        ("port", "cmp-fixed"),
        ("logs", "cmp-fixed"),
        ("history", "busybox"),
        ("history", "-H=false", "busybox"),
        ("history", "--no-trunc", "busybox"),
        ("images", "--digests"),
        ("images", "-a", "--no-trunc"),
        ("system", "df"),
        ("images", "--format", "table {{.Repository}}\t{{.Tag}}\t{{.Size}}"),
        ("ps", "-a", "--format", 'table {{.Names}}\t{{.Label "a"}}\t{{.Command}}'),
        ("volume", "inspect", "-f", "{{.Name}} {{.Driver}} {{.Scope}}", "cmp-vol"),
    ],
)
def test_same_output_as_docker(dockerd_daemon: Daemon, args: tuple[str, ...]) -> None:
    d = dockerd_daemon
    if "cmp-fixed" not in d.cli("ps", "-a", "--format", "{{.Names}}").stdout.decode().split():
        started = d.cli(
            "run",
            "-d",
            "--name",
            "cmp-fixed",
            "-e",
            "X=1",
            "-l",
            "a=b",
            "busybox",
            "sh",
            "-c",
            "echo ready >&2; mkdir /made && exec sleep 600",
        )
        assert started.returncode == 0
        d.cli("volume", "create", "cmp-vol")
    ours, theirs = both(d, *args)
    assert ours.returncode == theirs.returncode
    assert _normalize(ours.stdout) == _normalize(theirs.stdout)
    assert _normalize(ours.stderr) == _normalize(theirs.stderr)


def test_ps_table_matches(dockerd_daemon: Daemon) -> None:
    ours, theirs = both(dockerd_daemon, "ps", "-a")

    # CREATED/STATUS age by the time the second command runs; compare the other columns.
    def cells(text: bytes) -> list[str]:
        return [re.sub(r"\s{3,}.*\s{3,}", " ... ", line) for line in text.decode().splitlines()]

    assert ours.returncode == theirs.returncode == 0
    assert cells(ours.stdout)[0] == cells(theirs.stdout)[0]
    assert len(ours.stdout.splitlines()) == len(theirs.stdout.splitlines())


@pytest.mark.parametrize(
    "args",
    [
        ("run", "--rm", "busybox", "sh", "-c", "exit 3"),
        ("run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2"),
        ("run", "--rm", "busybox", "nosuchcommand"),
        ("run", "--foo", "busybox"),
        ("run", "--cpus", "x", "busybox"),
        ("run", "--rm=maybe", "busybox"),
        ("run", "-e"),
        ("rm", "nosuchcontainer"),
        ("stop", "nosuchcontainer"),
        ("volume", "rm", "nosuchvolume"),
        ("exec", "nosuchcontainer", "true"),
        ("inspect", "nosuchobject"),
        ("image", "inspect", "nosuchimage"),
        ("volume", "inspect", "nosuchvolume"),
        ("inspect", "busybox", "nosuchobject"),
        ("ps", "--bogus"),
        ("ps", "-x"),
        ("rename", "onlyone"),
        ("ps", "extra"),
        ("run", "--rm", "-a", "stderr", "busybox", "sh", "-c", "echo out; echo err >&2"),
        ("run", "--rm", "-a", "stdout", "busybox", "sh", "-c", "echo out; echo err >&2"),
        ("images", "--format", "{{nosuch .}}"),
        ("logs",),
        ("start", "nosuchcontainer"),
        ("run", "-it", "busybox", "true"),
        ("tag", "nosuchimage", "x"),
        ("rmi", "nosuchimage"),
        ("run", "--rm", "-e", "A=1", "busybox", "sh", "-c", "echo $A; exit 42"),
    ],
)
def test_same_exit_codes_and_messages(dockerd_daemon: Daemon, args: tuple[str, ...]) -> None:
    ours, theirs = both(dockerd_daemon, *args)
    assert ours.returncode == theirs.returncode, (ours.stderr, theirs.stderr)
    assert ours.stdout == theirs.stdout
    first_ours = _normalize(ours.stderr).splitlines()[:1]
    first_theirs = _normalize(theirs.stderr).splitlines()[:1]
    assert first_ours == first_theirs


def test_cleanup_fixed_container(dockerd_daemon: Daemon) -> None:
    dockerd_daemon.cli("rm", "-f", "cmp-fixed")
    dockerd_daemon.cli("volume", "rm", "cmp-vol")
