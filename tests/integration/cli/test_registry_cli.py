"""The registry verbs through the `dockyard` CLI against a real hub and a real dockyardd
started with the registry flags (--default-registry, --insecure-registry), with the real
`docker` client's output beside ours where both can speak to the same daemon."""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dockyard_tests_root  # type: ignore[import-not-found]
import pytest

pytestmark = [pytest.mark.root, pytest.mark.timeout(300)]

HERE = Path(__file__).resolve()
VENV_BIN = Path(sys.executable).parent
DOCKYARD = str(VENV_BIN / "dockyard")
DOCKYARDD = str(VENV_BIN / "dockyardd")
DOCKER = shutil.which("docker")
ALICE_PW = "alice-secret-1"
BOSS_PW = "boss-secret-12"


hubtools = dockyard_tests_root.load_test_module(
    "dockyard_hub_test_tools", HERE.parents[1] / "hub" / "hubtools.py"
)
support = dockyard_tests_root.load_api_support()


@dataclass
class Setup:
    base: Path
    hub: str  # host:port
    sock: str
    proc: subprocess.Popen[bytes]

    def env(self, config: str = "cfg") -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("DOCKER", "DOCKYARD")) and k != "HOME"
        }
        env.update(
            HOME=str(self.base / "home"),
            DOCKER_CONFIG=str(self.base / config),
            DOCKYARD_HOST=f"unix://{self.sock}",
            DOCKER_HOST=f"unix://{self.sock}",
            DOCKYARD_NO_AUTOSTART="1",
        )
        return env

    def cli(
        self, *args: str, stdin: str | None = None, config: str = "cfg", timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [DOCKYARD, *args],
            input=stdin,
            stdin=None if stdin is not None else subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self.env(config),
        )

    def docker(
        self, *args: str, stdin: str | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        assert DOCKER is not None
        return subprocess.run(
            [DOCKER, *args],
            input=stdin,
            stdin=None if stdin is not None else subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self.env("docker-cfg"),
        )


def _wait_ping(proc: subprocess.Popen[bytes], sock: str, log: Path) -> None:
    client = support.Client(sock)
    end = time.monotonic() + 30
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"dockyardd exited: {log.read_text()[-2000:]}")
        try:
            if client.get("/_ping", timeout=2).status == 200:
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError("dockyardd did not answer /_ping")


@pytest.fixture(scope="module")
def setup() -> Iterator[Setup]:
    if os.geteuid() != 0:
        pytest.skip("needs root: dockyardd runs containers")
    base = Path(tempfile.mkdtemp(prefix="dyreg-", dir="/tmp"))
    (base / "home").mkdir()
    hub = hubtools.HubProcess(base / "hub")
    (base / "hub").mkdir()
    hubtools.add_user(hub.data, "alice", ALICE_PW)
    hubtools.add_user(hub.data, "boss", BOSS_PW, admin=True)
    hub.start()
    sock = str(base / "d.sock")
    log = base / "daemon.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [
                DOCKYARDD,
                "--data-root",
                str(base / "data"),
                "--exec-root",
                str(base / "exec"),
                "-H",
                f"unix://{sock}",
                "--runtime",
                support.runtime_for_tests(),
                "--default-registry",
                hub.host,
                "--insecure-registry",
                "192.0.2.0/24",
                "--insecure-registry",
                "registry.invalid:5000",
            ],
            stdout=out,
            stderr=out,
            env={k: v for k, v in os.environ.items() if not k.startswith("DOCKYARD_")},
            start_new_session=True,
        )
    try:
        _wait_ping(proc, sock, log)
        s = Setup(base, hub.host, sock, proc)
        r = s.cli("image", "bootstrap", "busybox")
        assert r.returncode == 0, r.stderr
        yield s
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        hub.stop()
        shutil.rmtree(base, ignore_errors=True)


def test_login_push_pull_run_logout(setup: Setup) -> None:
    ref = f"{setup.hub}/alice/bb:1"
    bad = setup.cli("login", "-u", "alice", "--password-stdin", setup.hub, stdin="wrong-pass\n")
    assert bad.returncode == 1
    assert bad.stderr.startswith("Error response from daemon: ")
    assert not (setup.base / "cfg" / "config.json").exists()

    ok = setup.cli("login", "-u", "alice", "--password-stdin", setup.hub, stdin=ALICE_PW + "\n")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout == "Login Succeeded\n"
    config = setup.base / "cfg" / "config.json"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert setup.hub in json.loads(config.read_text())["auths"]

    assert setup.cli("tag", "busybox", ref).returncode == 0
    pushed = setup.cli("push", ref)
    assert pushed.returncode == 0, pushed.stderr
    lines = pushed.stdout.splitlines()
    assert lines[0] == f"The push refers to repository [{setup.hub}/alice/bb]"
    assert lines[-1].startswith("1: digest: sha256:") and " size: " in lines[-1]
    digest = lines[-1].split()[2]

    assert setup.cli("rmi", ref).returncode == 0
    pulled = setup.cli("pull", ref)
    assert pulled.returncode == 0, pulled.stderr
    assert pulled.stdout.splitlines()[0] == "1: Pulling from alice/bb"
    assert f"Digest: {digest}" in pulled.stdout.splitlines()
    assert pulled.stdout.endswith(f"\n{ref}\n")

    # Without credentials the same push is refused: the stored ones were what got it in.
    anonymous = setup.cli("push", ref, config="anonymous")
    assert anonymous.returncode == 1
    assert "authentication required" in anonymous.stderr

    ran = setup.cli("run", "--rm", ref, "echo", "from the hub")
    assert (ran.returncode, ran.stdout) == (0, "from the hub\n"), ran.stderr

    # Missing locally: `run` pulls it first, progress on stderr, the output on stdout.
    assert setup.cli("rmi", ref).returncode == 0
    auto = setup.cli("run", "--rm", ref, "echo", "auto-pulled")
    assert auto.returncode == 0, auto.stderr
    assert auto.stdout == "auto-pulled\n"
    assert auto.stderr.startswith(
        f"Unable to find image '{ref}' locally\n1: Pulling from alice/bb\n"
    )
    assert f"Digest: {digest}\n" in auto.stderr

    out = setup.cli("logout", setup.hub)
    assert out.stdout == f"Removing login credentials for {setup.hub}\n"
    assert setup.hub not in json.loads(config.read_text()).get("auths", {})
    assert setup.cli("logout", setup.hub).stdout == f"Not logged in to {setup.hub}\n"

    # Logged out, a push into alice's namespace is refused, in the stream, exit 1.
    denied = setup.cli("push", ref)
    assert denied.returncode == 1
    assert denied.stderr.strip()


def test_default_registry_and_unqualified_names(setup: Setup) -> None:
    login = setup.cli("login", "-u", "boss", "--password-stdin", stdin=BOSS_PW, config="boss")
    assert login.returncode == 0, login.stderr
    stored = json.loads((setup.base / "boss" / "config.json").read_text())["auths"]
    assert "https://index.docker.io/v1/" in stored
    setup.cli("image", "bootstrap", "busybox")
    pushed = setup.cli("push", "busybox", config="boss")
    assert pushed.returncode == 0, pushed.stderr
    assert pushed.stdout.startswith(
        "Using default tag: latest\nThe push refers to repository [docker.io/library/busybox]\n"
    )
    assert setup.cli("rmi", "busybox").returncode == 0
    ran = setup.cli("run", "--rm", "busybox", "echo", "official", config="boss")
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == "official\n"
    assert "Unable to find image 'busybox:latest' locally" in ran.stderr
    quiet = setup.cli("pull", "-q", "busybox", config="boss")
    assert (quiet.returncode, quiet.stdout) == (0, "docker.io/library/busybox:latest\n")

    found = setup.cli("search", "busybox", config="boss")
    assert found.returncode == 0, found.stderr
    rows = found.stdout.splitlines()
    assert rows[0].split() == ["NAME", "DESCRIPTION", "STARS", "OFFICIAL"]
    assert any(r.split()[0] == "busybox" and r.split()[-1] == "[OK]" for r in rows[1:])
    official = setup.cli(
        "search", "--filter", "is-official=true", "--format", "{{.Name}}", "b", config="boss"
    )
    assert official.returncode == 0, official.stderr
    assert "busybox" in official.stdout.split() and "alice/bb" not in official.stdout.split()


@pytest.mark.skipif(DOCKER is None, reason="the docker client is not installed")
def test_outputs_match_the_docker_client(setup: Setup) -> None:
    ref = f"{setup.hub}/alice/cmp:2"
    for run in (setup.cli, setup.docker):
        login = run("login", "-u", "alice", "--password-stdin", setup.hub, stdin=ALICE_PW)
        assert login.returncode == 0, login.stderr
    ours = setup.cli("login", "-u", "alice", "--password-stdin", setup.hub, stdin=ALICE_PW)
    theirs = setup.docker("login", "-u", "alice", "--password-stdin", setup.hub, stdin=ALICE_PW)
    assert ours.stdout == theirs.stdout == "Login Succeeded\n"
    assert ours.stderr.replace("/cfg/", "/docker-cfg/") == theirs.stderr

    wrong_ours = setup.cli("login", "-u", "alice", "-p", "not-it-at-all", setup.hub)
    wrong_theirs = setup.docker("login", "-u", "alice", "-p", "not-it-at-all", setup.hub)
    assert wrong_ours.returncode == wrong_theirs.returncode == 1
    assert wrong_ours.stderr == wrong_theirs.stderr

    assert setup.cli("tag", "busybox", ref).returncode == 0
    ours = setup.cli("push", "-q", ref)
    theirs = setup.docker("push", "-q", ref)
    assert (ours.returncode, ours.stdout) == (theirs.returncode, theirs.stdout) == (0, ref + "\n")
    # Both see the layer already there now: the same lines.
    ours = setup.cli("push", ref)
    theirs = setup.docker("push", ref)
    assert ours.stdout == theirs.stdout
    assert setup.cli("rmi", ref).returncode == 0
    ours = setup.cli("pull", ref)
    assert setup.cli("rmi", ref).returncode == 0
    theirs = setup.docker("pull", ref)
    assert ours.stdout == theirs.stdout
    assert setup.cli("search", "b").stdout == setup.docker("search", "b").stdout
    missing = f"{setup.hub}/alice/none"
    ours = setup.cli("pull", missing)
    theirs = setup.docker("pull", missing)
    assert (ours.returncode, ours.stdout, ours.stderr) == (
        theirs.returncode,
        theirs.stdout,
        theirs.stderr,
    )


def _on_pty(argv: list[str], env: dict[str, str], timeout: float = 120) -> tuple[int, bytes]:
    """Run with stdout and stderr on a pseudo-terminal (150 columns); all it wrote, raw."""
    import fcntl
    import select
    import struct
    import termios

    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 150, 0, 0))
    attrs = termios.tcgetattr(slave)
    attrs[1] &= ~termios.ONLCR  # bytes as written, no \n -> \r\n
    termios.tcsetattr(slave, termios.TCSANOW, attrs)
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave, env=env)
    os.close(slave)
    out = b""
    end = time.monotonic() + timeout
    try:
        while time.monotonic() < end:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: the last writer closed the pty
                    break
                if not chunk:
                    break
                out += chunk
            elif proc.poll() is not None:
                break
        return proc.wait(timeout=10), out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)


def test_pull_on_a_terminal_draws_layer_lines(setup: Setup) -> None:
    ref = f"{setup.hub}/alice/tty:1"
    login = setup.cli("login", "-u", "alice", "--password-stdin", setup.hub, stdin=ALICE_PW)
    assert login.returncode == 0, login.stderr
    assert setup.cli("tag", "busybox", ref).returncode == 0
    assert setup.cli("push", ref).returncode == 0
    assert setup.cli("rmi", ref).returncode == 0
    code, out = _on_pty([DOCKYARD, "pull", ref], setup.env())
    assert code == 0, out
    text = out.decode()
    assert text.startswith("1: Pulling from alice/tty\n\n\x1b[1A\x1b[2K\r")
    # Every layer line is redrawn in place: cursor up, erase, status, cursor back down.
    assert ": Pull complete \r\x1b[1B" in text or ": Already exists \r\x1b[1B" in text
    assert text.endswith(f"\nStatus: Downloaded newer image for {ref}\n{ref}\n")
