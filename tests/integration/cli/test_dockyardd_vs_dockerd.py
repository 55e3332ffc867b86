"""The real `docker` client against Debian's dockerd and against dockyardd, side by side:
what a daemon records at create, what it refuses (at create, update, rename, cp, volume
create, on a stopped container) and how a process that cannot start fails must match."""

from __future__ import annotations

import json
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import Daemon  # type: ignore[import-not-found]

pytestmark = [pytest.mark.root, pytest.mark.compat]

if shutil.which("docker") is None:
    pytest.skip("the docker client is not installed", allow_module_level=True)

RECORDED = (
    "{{json .Config.Volumes}} {{.HostConfig.Memory}} "
    "{{.HostConfig.MemorySwap}} {{json .HostConfig.MemorySwappiness}} "
    "{{json .HostConfig.PidsLimit}} {{.HostConfig.IpcMode}} {{.HostConfig.CgroupnsMode}} "
    "{{.HostConfig.KernelMemory}} {{.HostConfig.KernelMemoryTCP}} {{json .Mounts}}"
)
MEMSW = "/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes"


@pytest.fixture
def pair(dockerd_daemon: Daemon, dockyardd_daemon: Daemon) -> Iterator[tuple[Daemon, Daemon]]:
    """Both daemons, each with an image whose config sets variables, and no leftovers."""
    for d in (dockerd_daemon, dockyardd_daemon):
        if d.docker("image", "inspect", "rec-env").returncode != 0:
            d.docker("rm", "-f", "rec-src")
            made = d.docker("create", "--name", "rec-src", "busybox", "true")
            assert made.returncode == 0, made.stderr
            done = d.docker("commit", "-c", "ENV B=2 C=3", "rec-src", "rec-env")
            assert done.returncode == 0, done.stderr
            d.docker("rm", "rec-src")
    if dockerd_daemon.docker("image", "inspect", "rec-busybox").returncode != 0:
        # The same image on both (dockerd's own busybox has other /etc files).
        assert dockyardd_daemon.docker("tag", "busybox", "rec-busybox").returncode == 0
        saved = dockyardd_daemon.docker("save", "rec-busybox")
        assert saved.returncode == 0, saved.stderr
        loaded = dockerd_daemon.docker("load", input=saved.stdout)
        assert loaded.returncode == 0, loaded.stderr
    yield dockerd_daemon, dockyardd_daemon
    for d in (dockerd_daemon, dockyardd_daemon):
        d.docker("rm", "-f", "rec-a", "rec-b")


def _same(pair: tuple[Daemon, Daemon], *args: str) -> list[str]:
    """Run the docker client with ``args`` against both: same exit code, same output
    (the container id in a message stands for itself)."""
    got = []
    for d in pair:
        r = d.docker(*args)
        ids = d.docker("ps", "-aq", "--no-trunc").stdout.decode().split()
        text = r.stdout.decode() + r.stderr.decode()
        for cid in ids:
            text = text.replace(cid, "<id>")
        got.append(f"{r.returncode}: {text}")
    assert got[0] == got[1]
    return got


def test_create_records_what_dockerd_records(pair: tuple[Daemon, Daemon]) -> None:
    args = ["--memory", "64m", "--tmpfs", "/run", "-e", "C=9", "-e", "A=1", "rec-env", "true"]
    for d in pair:
        made = d.docker("create", "--name", "rec-a", *args)
        assert made.returncode == 0, made.stderr
    shown = _same(pair, "inspect", "--format", RECORDED, "rec-a")
    assert shown[0] == "0: null 67108864 134217728 null null private host 0 0 []\n"
    for d in pair:
        # The request's variables first, then the image's others (the images differ: ours
        # sets PATH). (The request's own order is not compared: dockerd with the docker
        # client 28 now and then records -e C=9 -e A=1 as A=1, C=9.)
        env = json.loads(d.docker("inspect", "--format", "{{json .Config.Env}}", "rec-a").stdout)
        image_env = d.docker("image", "inspect", "--format", "{{json .Config.Env}}", "rec-env")
        others = [e for e in json.loads(image_env.stdout) if e != "C=3"]
        assert sorted(env[:2]) == ["A=1", "C=9"] and env[2:] == others, (d.kind, env)
        assert "B=2" in others
    for d in pair:
        # dockerd's masked paths are a subset of ours (we mask what later Dockers added).
        got = d.docker("inspect", "--format", "{{json .HostConfig.MaskedPaths}}", "rec-a")
        assert "/proc/kcore" in got.stdout.decode()
        runtime = d.docker("info", "--format", "{{.DefaultRuntime}}").stdout.decode().strip()
        recorded = d.docker("inspect", "--format", "{{.HostConfig.Runtime}}", "rec-a")
        assert recorded.stdout.decode().strip() == runtime != ""
    for d in pair:
        made = d.docker("create", "--name", "rec-b", "--privileged", "busybox", "true")
        assert made.returncode == 0, made.stderr
    _same(pair, "inspect", "--format", "{{json .HostConfig.MaskedPaths}}", "rec-b")


def test_memory_update_keeps_the_swap_limit_or_is_refused(pair: tuple[Daemon, Daemon]) -> None:
    for d in pair:
        made = d.docker("run", "-d", "--name", "rec-a", "--memory", "64m", "busybox", "sleep", "60")
        assert made.returncode == 0, made.stderr
    refused = _same(pair, "update", "--memory", "256m", "rec-a")
    assert refused[0].startswith("1: ") and "memoryswap" in refused[0]
    _same(pair, "update", "--memory", "100m", "rec-a")
    shown = _same(
        pair, "inspect", "--format", "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}}", "rec-a"
    )
    assert shown[0] == "0: 104857600 134217728\n"
    shown = _same(pair, "exec", "rec-a", "sh", "-c", f"cat {MEMSW} 2>/dev/null || echo none")
    assert shown[0] in ("0: 134217728\n", "0: none\n")
    _same(pair, "update", "--memory", "200m", "--memory-swap", "300m", "rec-a")
    shown = _same(
        pair, "inspect", "--format", "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}}", "rec-a"
    )
    assert shown[0] == "0: 209715200 314572800\n"


@pytest.mark.parametrize(
    ("flags", "code"),
    [
        (("--cpuset-cpus", "64"), 125),
        (("--cpuset-cpus", "0-x"), 125),
        (("--cpuset-mems", "9"), 125),
        (("--device", "/dev/nonexist"), 127),  # (the client's code, from the daemon's words)
        (("--device", "/etc/passwd"), 125),
    ],
)
def test_host_resources_that_do_not_exist(
    pair: tuple[Daemon, Daemon], flags: tuple[str, ...], code: int
) -> None:
    theirs, ours = (d.docker("run", "--rm", *flags, "busybox", "true") for d in pair)
    assert (theirs.returncode, ours.returncode) == (code, code)
    said = [_core(r.stderr.decode()) for r in (theirs, ours)]
    assert said[1] in said[0]  # (dockerd wraps some of them in runc's words)


def test_refusals_at_create(pair: tuple[Daemon, Daemon]) -> None:
    got = _same(pair, "create", "--name", "rec-a", "-h", "x", "--uts", "host", "busybox", "true")
    assert got[0].startswith("1: ") and "conflicting options: hostname and the UTS mode" in got[0]
    got = _same(pair, "create", "--name", "rec-a", "--runtime", "nosuch", "busybox", "true")
    assert got[0].startswith("1: ") and "Unknown runtime specified nosuch" in got[0]
    assert _same(pair, "ps", "-aq", "--filter", "name=rec-a") == ["0: ", "0: "]


def test_hosts_uts_namespace_and_a_private_cgroup_namespace(pair: tuple[Daemon, Daemon]) -> None:
    got = _same(pair, "run", "--rm", "--uts", "host", "busybox", "hostname")
    assert got[0] == f"0: {socket.gethostname()}\n"
    got = _same(pair, "run", "--rm", "--cgroupns", "private", "busybox", "cat", "/proc/self/cgroup")
    lines = got[0].removeprefix("0: ").split()
    assert lines and all(line.endswith(":/") for line in lines)


def _core(output: str) -> str:
    """The daemon's own words in the client's error output."""
    lines = [x for x in output.splitlines() if x and not x.startswith("Run 'docker")]
    assert len(lines) == 1, lines  # one line, no "Error waiting for container" after it
    return lines[0].removeprefix("docker: ").removeprefix("Error response from daemon: ")


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("run", "--rm", "busybox", "nosuchcmd"), 127),
        (("run", "--rm", "busybox", "/nonexist"), 127),
        (("run", "--rm", "busybox", "/etc/passwd"), 126),
        (("run", "--rm", "busybox", "/etc"), 126),
        (("exec", "rec-a", "nosuchcmd"), 126),
        (("exec", "rec-a", "/etc"), 126),
        (("exec", "-u", "nosuchuser", "rec-a", "id"), 126),
        (("exec", "-w", "/nonexist", "rec-a", "pwd"), 126),
        (("exec", "-d", "-w", "/nonexist", "rec-a", "pwd"), 1),
    ],
)
def test_a_process_that_cannot_start(
    pair: tuple[Daemon, Daemon], args: tuple[str, ...], code: int
) -> None:
    """Docker's exit codes, and our message is the one runc gives inside dockerd's."""
    for d in pair:
        made = d.docker("run", "-d", "--name", "rec-a", "busybox", "sleep", "60")
        assert made.returncode == 0, made.stderr
    theirs, ours = (d.docker(*args) for d in pair)
    assert (theirs.returncode, ours.returncode) == (code, code)
    # (An attached exec's error comes in its output stream: dockerd's on stdout.)
    said = [_core((r.stdout + r.stderr).decode()) for r in (theirs, ours)]
    assert said[1] in said[0]
    # An exec does not make its working directory; a container's start does.
    for d in pair:
        assert d.docker("exec", "rec-a", "test", "-e", "/nonexist").returncode == 1
    got = _same(pair, "run", "--rm", "-w", "/made/here", "busybox", "pwd")
    assert got[0] == "0: /made/here\n"
    got = _same(pair, "run", "--rm", "-w", "/bin", "busybox", "./echo", "relative")
    assert got[0] == "0: relative\n"


@pytest.mark.parametrize(
    "who",
    [
        ("-u", "nobody"),
        ("-u", "root"),
        ("-u", "nobody:10"),
        ("-u", "1000"),
        ("-u", "nobody", "--group-add", "10"),
    ],
)
def test_users_and_their_groups(pair: tuple[Daemon, Daemon], who: tuple[str, ...]) -> None:
    got = _same(pair, "run", "--rm", *who, "rec-busybox", "id")
    assert got[0].startswith("0: uid=")
    for d in pair:
        made = d.docker(
            "run", "-d", "--name", "rec-a", "--group-add", "10", "rec-busybox", "sleep", "60"
        )
        assert made.returncode == 0, made.stderr
    got = _same(pair, "exec", *who[:2], "rec-a", "id")
    assert got[0].startswith("0: uid=")


@pytest.mark.parametrize(
    "args",
    [
        ("ps", "-a", "--filter", "bogus=1"),
        ("ps", "-a", "--filter", "is-task=maybe"),
        ("ps", "-a", "--format", "{{.Names}}", "--filter", "is-task=false", "-f", "name=rec-a"),
        ("images", "-q", "--filter", "dangling=maybe"),
        ("volume", "ls", "-q", "--filter", "dangling=maybe"),
        ("logs", "--tail", "abc", "rec-a"),
        ("logs", "--tail", "1", "rec-a"),
    ],
)
def test_filters_and_tail_values(pair: tuple[Daemon, Daemon], args: tuple[str, ...]) -> None:
    for d in pair:
        made = d.docker("run", "--name", "rec-a", "busybox", "sh", "-c", "echo one; echo two")
        assert made.returncode == 0, made.stderr
    got = _same(pair, *args)
    assert got[0] != "0: "


def test_rename_refusals(pair: tuple[Daemon, Daemon]) -> None:
    for d in pair:
        for name in ("rec-a", "rec-b"):
            made = d.docker("create", "--name", name, "busybox", "true")
            assert made.returncode == 0, made.stderr
    for args in (
        ("nosuch", "x"),  # the unknown container, before the bad name
        ("rec-a", "x"),
        ("rec-a", "rec-b"),
        ("rec-a", "rec-a"),
    ):
        got = _same(pair, "rename", *args)
        assert got[0].startswith("1: Error response from daemon: ")
    assert _same(pair, "rename", "rec-a", "rec-c") == ["0: ", "0: "]
    got = _same(pair, "ps", "-a", "--format", "{{.Names}}", "--filter", "name=rec-")
    assert sorted(got[0].removeprefix("0: ").split()) == ["rec-b", "rec-c"]
    for d in pair:
        d.docker("rm", "rec-c")


def _last_layer_names(d: Daemon, image: str) -> list[str]:
    """The entries of an image's top layer, from `docker save`."""
    import io
    import tarfile

    saved = d.docker("save", image)
    assert saved.returncode == 0, saved.stderr
    with tarfile.open(fileobj=io.BytesIO(saved.stdout)) as archive:
        manifest = json.loads(archive.extractfile("manifest.json").read())  # type: ignore[union-attr]
        top = archive.extractfile(manifest[0]["Layers"][-1])
        assert top is not None
        with tarfile.open(fileobj=io.BytesIO(top.read())) as layer:
            return sorted(m.name.rstrip("/") for m in layer.getmembers())


def test_diff_and_commit_leave_out_the_containers_own_mount_points(
    pair: tuple[Daemon, Daemon], tmp_path: Path
) -> None:
    """/etc/hosts, /etc/hostname, /etc/resolv.conf are mount points the image lacks: no
    change of the container's (dockerd keeps them in its init layer). Volume mount points,
    the working directory and the process's files are."""
    for d in pair:
        made = d.docker(
            "run",
            "--name",
            "rec-a",
            "-v",
            f"{tmp_path}:/newdir",
            "--tmpfs",
            "/newtmp",
            "-w",
            "/newwd",
            "rec-busybox",
            "sh",
            "-c",
            "echo hi > /etc/motd; touch /made",
        )
        assert made.returncode == 0, made.stderr
    # (dockerd lists them in directory order, we sort by path: the same set.)
    got = [sorted(d.docker("diff", "rec-a").stdout.decode().splitlines()) for d in pair]
    assert (
        got[0]
        == got[1]
        == [
            "A /etc/motd",
            "A /made",
            "A /newdir",
            "A /newtmp",
            "A /newwd",
            "C /etc",
        ]
    )
    layers = []
    for d in pair:
        assert d.docker("commit", "rec-a", "rec-committed").returncode == 0
        layers.append(_last_layer_names(d, "rec-committed"))
        d.docker("rmi", "rec-committed")
    assert layers[0] == layers[1]
    assert "etc/hosts" not in layers[1] and "etc/motd" in layers[1]


def test_local_volume_options(pair: tuple[Daemon, Daemon], tmp_path: Path) -> None:
    """The local driver's option rules and messages, and a mount that fails at start (the
    client's exit code comes from the daemon's words)."""
    for opts in (
        ("--opt", "bogus=1"),
        ("--opt", "type=tmpfs"),
        ("--opt", "device=tmpfs"),
        ("--opt", "o=size=1m"),
    ):
        got = _same(pair, "volume", "create", *opts, "rec-vol")
        assert got[0].startswith("1: Error response from daemon: create rec-vol: ")
    missing = tmp_path / "missing"
    made = _same(
        pair,
        "volume",
        "create",
        "--opt",
        "type=none",
        "--opt",
        f"device={missing}",
        "--opt",
        "o=bind",
        "rec-vol",
    )
    assert made[0] == "0: rec-vol\n"
    try:
        runs = [d.docker("run", "--rm", "-v", "rec-vol:/x", "busybox", "true") for d in pair]
        assert [r.returncode for r in runs] == [127, 127]
        for r in runs:
            assert f"failed to mount local volume: mount {missing}:" in r.stderr.decode()
    finally:
        _same(pair, "volume", "rm", "rec-vol")


def test_cp_refusals(pair: tuple[Daemon, Daemon], tmp_path: Path) -> None:
    for d in pair:
        made = d.docker("run", "-d", "--name", "rec-a", "busybox", "sleep", "60")
        assert made.returncode == 0, made.stderr
    for args in (
        ("rec-a:/nonexist", str(tmp_path / "x")),
        (str(tmp_path / "nonexist"), "rec-a:/tmp"),
        ("rec-a:/etc/passwd", str(tmp_path / "no" / "dir")),
        ("nosuch:/etc/passwd", str(tmp_path / "x")),
    ):
        got = _same(pair, "cp", *args)
        assert got[0].startswith("1: ")
    assert not (tmp_path / "x").exists()


def test_image_refusals_name_the_image_as_given(pair: tuple[Daemon, Daemon]) -> None:
    for args in (("save", "rec-nosuch"), ("rmi", "rec-nosuch"), ("history", "rec-nosuch")):
        got = _same(pair, *args)
        assert got[0].startswith("1: Error response from daemon: No such image: rec-nosuch")


def test_verbs_on_a_container_that_is_not_running(pair: tuple[Daemon, Daemon]) -> None:
    for d in pair:
        made = d.docker("create", "--name", "rec-a", "busybox", "true")
        assert made.returncode == 0, made.stderr
    for verb in (("kill",), ("pause",), ("exec", "-t"), ("top",), ("attach",)):
        args = (*verb, "rec-a", "true") if verb[0] == "exec" else (*verb, "rec-a")
        got = _same(pair, *args)
        assert got[0].startswith("1: ")
    assert _same(pair, "stop", "rec-a") == ["0: rec-a\n", "0: rec-a\n"]


def _api_get(d: Daemon, path: str, body: object = None) -> object:
    """GET ``path`` of the daemon's API (1.41) as raw JSON, or POST ``body`` to it: what
    SDKs see, not the client's re-encoding of it."""
    import http.client
    import socket as sock

    class UnixConnection(http.client.HTTPConnection):
        def connect(self) -> None:
            self.sock = sock.socket(sock.AF_UNIX, sock.SOCK_STREAM)
            self.sock.settimeout(30)
            self.sock.connect(d.sock)

    conn = UnixConnection("localhost")
    try:
        if body is None:
            conn.request("GET", "/v1.41" + path)
        else:
            headers = {"Content-Type": "application/json"}
            conn.request("POST", "/v1.41" + path, json.dumps(body), headers)
        reply = conn.getresponse()
        assert reply.status in (200, 201), reply.status
        return json.loads(reply.read())
    finally:
        conn.close()


def test_image_inspect_shows_every_config_field(pair: tuple[Daemon, Daemon]) -> None:
    """docker-py code reads attrs["Config"]["WorkingDir"]: the same fields, in the same order,
    for the same image."""
    shown = [_api_get(d, "/images/rec-busybox/json") for d in pair]
    for part in ("Config", "ContainerConfig"):
        got = [list(s[part].items()) for s in shown]  # type: ignore[index]
        assert got[0] == got[1], part


def test_sdk_views_have_dockers_fields(pair: tuple[Daemon, Daemon]) -> None:
    """A container made with a minimal body (as docker-py makes it) shows every HostConfig
    and Config field in Docker's order; info and df have Docker's keys."""
    shown = []
    for d in pair:
        made = _api_get(
            d, "/containers/create?name=rec-a", {"Image": "rec-busybox", "Cmd": ["true"]}
        )
        assert isinstance(made, dict)
        shown.append(_api_get(d, f"/containers/{made['Id']}/json"))
    for part in ("HostConfig", "Config"):
        # (Runtime is one that dockerd omits when empty; one dockerd fills it, another not.)
        keys = [[k for k in s[part] if k != "Runtime"] for s in shown]  # type: ignore[index]
        assert keys[0] == keys[1], part
    for path in ("/info", "/system/df"):
        got = [_api_get(d, path) for d in pair]
        assert set(got[0]) <= set(got[1]), set(got[0]) - set(got[1])  # type: ignore[arg-type]
