"""Real registries for the distribution tests: dockyard-hub and Debian's registry:2, on
loopback with temporary data, plus a TCP proxy that can cut a connection mid-blob."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

VENV_PY = Path(__file__).resolve().parents[3] / ".venv" / "bin" / "python"
PY = str(VENV_PY if VENV_PY.exists() else Path(sys.executable))
DOCKER_REGISTRY = "/usr/bin/docker-registry"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def wait_port(host: str, port: int, proc: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not start")


def spawn(
    cmd: list[str], prefix: list[str], log: Path, addr: tuple[str, int], what: str
) -> subprocess.Popen[bytes]:
    """``cmd`` behind ``prefix`` (e.g. entering a network namespace), its output appended
    to ``log``; waits for it to listen on ``addr`` unless it runs elsewhere (a prefix)."""
    with open(log, "ab") as out:
        proc = subprocess.Popen([*prefix, *cmd], stdout=out, stderr=subprocess.STDOUT)
    if not prefix:
        wait_port(*addr, proc, what)
    return proc


def stop(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


@dataclass
class Hub:
    data: Path
    host: str = "127.0.0.1"
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    prefix: list[str] = field(default_factory=list)  # e.g. ["ip", "netns", "exec", "ns"]

    @property
    def addr(self) -> str:
        return f"{self.host}:{self.port}"

    def add_user(self, name: str, password: str, admin: bool = False) -> None:
        """Through the hub's CLI, as an operator would."""
        args = [PY, "-m", "dockyard.hub.cli", "user", "add", name, "--password-stdin"]
        args += ["--admin"] if admin else []
        r = subprocess.run(
            [*args, "--data", str(self.data)],
            input=password + "\n",
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert r.returncode == 0, r.stderr

    def start(self) -> Hub:
        self.data.mkdir(parents=True, exist_ok=True)
        if not self.port:
            self.port = free_port()
        cfg = self.data.parent / f"hub-{self.port}.toml"
        cfg.write_text("gc_interval = 0\n")
        cmd = [PY, "-m", "dockyard.hub.cli", "serve", "--listen", self.addr]
        cmd += ["--data", str(self.data), "--config", str(cfg)]
        log = self.data.parent / f"hub-{self.port}.log"
        self.proc = spawn(cmd, self.prefix, log, (self.host, self.port), "dockyard-hub")
        return self

    def stop(self) -> None:
        stop(self.proc)
        self.proc = None


@dataclass
class Registry2:
    root: Path
    users: dict[str, str] = field(default_factory=dict)
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    host: str = "127.0.0.1"
    tls: tuple[Path, Path] | None = None  # (certificate, key)
    prefix: list[str] = field(default_factory=list)  # e.g. nsenter into a network namespace

    @property
    def addr(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self) -> Registry2:
        self.root.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        auth = ""
        if self.users:
            htpasswd = self.root / "htpasswd"
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                import crypt  # bcrypt through libxcrypt; registry:2 reads only bcrypt
            lines = [
                f"{u}:{crypt.crypt(p, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16))}"
                for u, p in self.users.items()
            ]
            htpasswd.write_text("\n".join(lines) + "\n")
            auth = f"auth:\n  htpasswd:\n    realm: test-realm\n    path: {htpasswd}\n"
        tls = ""
        if self.tls is not None:
            tls = f"  tls:\n    certificate: {self.tls[0]}\n    key: {self.tls[1]}\n"
        cfg = self.root / "config.yml"
        cfg.write_text(
            "version: 0.1\n"
            "log:\n  level: error\n  accesslog:\n    disabled: true\n"
            f"storage:\n  filesystem:\n    rootdirectory: {self.root / 'data'}\n"
            "  delete:\n    enabled: true\n"
            f"http:\n  addr: {self.addr}\n" + tls + auth
        )
        cmd = [DOCKER_REGISTRY, "serve", str(cfg)]
        log = self.root / "registry.log"
        self.proc = spawn(cmd, self.prefix, log, (self.host, self.port), "docker-registry")
        return self

    def stop(self) -> None:
        stop(self.proc)
        self.proc = None


class CuttingProxy:
    """Forwards loopback TCP to ``target``; the first response stream that passes
    ``cut_after`` bytes is cut there (once), as a flaky network would. Records what the
    clients sent, so a test can see the ``Range`` of the retry."""

    def __init__(
        self, target: tuple[str, int], cut_after: int, cuts: int = 1, corrupt: bool = False
    ) -> None:
        self.target = target
        self.cut_after = cut_after
        self.cuts_left = cuts
        # corrupt: flip the byte at ``cut_after`` instead of cutting (a lying network)
        self.corrupt = corrupt
        self.sent = bytearray()
        self.lock = threading.Lock()
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = int(self.listener.getsockname()[1])
        self._stop = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self._stop:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.target, timeout=30)
        except OSError:
            client.close()
            return

        def up() -> None:
            with contextlib.suppress(OSError):
                while data := client.recv(65536):
                    with self.lock:
                        self.sent += data
                    upstream.sendall(data)
            with contextlib.suppress(OSError):
                upstream.shutdown(socket.SHUT_WR)

        threading.Thread(target=up, daemon=True).start()
        passed = 0
        try:
            while data := upstream.recv(65536):
                with self.lock:
                    cut = self.cuts_left > 0 and passed + len(data) > self.cut_after
                    if cut:
                        self.cuts_left -= 1
                if cut and self.corrupt:
                    i = self.cut_after - passed
                    data = data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1 :]
                elif cut:
                    client.sendall(data[: max(0, self.cut_after - passed)])
                    break
                passed += len(data)
                client.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                client.shutdown(socket.SHUT_RDWR)
            client.close()
            upstream.close()

    def close(self) -> None:
        self._stop = True
        self.listener.close()


@contextlib.contextmanager
def cutting_proxy(target: str, cut_after: int, corrupt: bool = False) -> Iterator[CuttingProxy]:
    """A CuttingProxy in front of ``target`` ("host:port"), closed on leaving."""
    host, port = target.rsplit(":", 1)
    proxy = CuttingProxy((host, int(port)), cut_after, corrupt=corrupt)
    try:
        yield proxy
    finally:
        proxy.close()


def assert_resumed_with_range(proxy: CuttingProxy) -> None:
    """The proxy cut a download and the client asked for the rest with a Range header."""
    assert proxy.cuts_left == 0, "the proxy never cut a connection"
    assert b"range: bytes=" in bytes(proxy.sent).lower(), "the retry did not ask with Range"


def needs_root() -> bool:
    return os.geteuid() == 0


def self_signed(dest: Path, ip: str) -> tuple[Path, Path]:
    """A certificate for ``ip`` (its own CA), made with openssl; returns (cert, key)."""
    dest.mkdir(parents=True, exist_ok=True)
    cert, key = dest / "cert.pem", dest / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-subj",
            f"/CN={ip}",
            "-addext",
            f"subjectAltName=IP:{ip}",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key
