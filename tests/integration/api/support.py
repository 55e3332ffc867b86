"""A real dockyardd in temporary roots, and a small API client over its unix socket.

Loaded by path from the conftest.py files of the engine's test folders.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

VENV_BIN = Path(sys.executable).parent
DOCKYARDD = VENV_BIN / "dockyardd"


def runtime_for_tests() -> str:
    """The OCI runtime the daemons under test drive: $DOCKYARD_TEST_RUNTIME, else our own
    dockyard-runc (the daemon's default), so that the engine's tests exercise it."""
    return os.environ.get("DOCKYARD_TEST_RUNTIME") or str(VENV_BIN / "dockyard-runc")


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float = 60) -> None:
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self) -> None:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.path)
        self.sock = s


class Response:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def message(self) -> str:
        return str(self.json().get("message", ""))

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.body[:200]!r}>"


class Client:
    def __init__(self, sock: str, version: str = "v1.41") -> None:
        self.sock = sock
        self.prefix = f"/{version}" if version else ""

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        params: dict[str, Any] | None = None,
        raw: bytes | None = None,
        timeout: float = 60,
        headers: dict[str, str] | None = None,
    ) -> Response:
        conn = UnixConnection(self.sock, timeout)
        url = self.prefix + path
        if params:
            url += "?" + urlencode({k: v for k, v in params.items() if v is not None}, doseq=True)
        hdrs = dict(headers or {})
        data: bytes | None = raw
        if body is not None:
            data = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        try:
            conn.request(method, url, body=data, headers=hdrs)
            r = conn.getresponse()
            out = r.read()
            return Response(r.status, {k.lower(): v for k, v in r.getheaders()}, out)
        finally:
            conn.close()

    def get(self, path: str, **kw: Any) -> Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> Response:
        return self.request("POST", path, body=body, **kw)

    def delete(self, path: str, **kw: Any) -> Response:
        return self.request("DELETE", path, **kw)

    # -- helpers used by many tests ------------------------------------------------------

    def create(self, name: str | None = None, **cfg: Any) -> str:
        cfg.setdefault("Image", "busybox")
        r = self.post("/containers/create", cfg, params={"name": name})
        assert r.status == 201, r
        return str(r.json()["Id"])

    def start(self, cid: str) -> None:
        r = self.post(f"/containers/{cid}/start")
        assert r.status == 204, r

    def wait(self, cid: str, condition: str = "not-running", timeout: float = 60) -> int:
        r = self.post(f"/containers/{cid}/wait", params={"condition": condition}, timeout=timeout)
        assert r.status == 200, r
        return int(r.json()["StatusCode"])

    def inspect(self, cid: str) -> dict[str, Any]:
        r = self.get(f"/containers/{cid}/json")
        assert r.status == 200, r
        out: dict[str, Any] = r.json()
        return out

    def logs(self, cid: str, **params: Any) -> list[tuple[int, bytes]]:
        params.setdefault("stdout", 1)
        params.setdefault("stderr", 1)
        r = self.get(f"/containers/{cid}/logs", params=params)
        assert r.status == 200, r
        return demux(r.body)

    def run(self, cmd: list[str], **cfg: Any) -> tuple[str, int]:
        cid = self.create(Cmd=cmd, **cfg)
        self.start(cid)
        return cid, self.wait(cid)

    def hijack(
        self,
        method: str,
        path: str,
        body: Any = None,
        params: dict[str, Any] | None = None,
        upgrade: bool = True,
    ) -> tuple[socket.socket, bytes]:
        """Send a request that takes the connection over; returns the socket and the head."""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(30)
        s.connect(self.sock)
        url = self.prefix + path
        if params:
            url += "?" + urlencode(params)
        data = json.dumps(body).encode() if body is not None else b""
        head = f"{method} {url} HTTP/1.1\r\nHost: d\r\nContent-Length: {len(data)}\r\n"
        if body is not None:
            head += "Content-Type: application/json\r\n"
        if upgrade:
            head += "Connection: Upgrade\r\nUpgrade: tcp\r\n"
        s.sendall(head.encode() + b"\r\n" + data)
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = s.recv(4096)
            if not chunk:
                break
            buf += chunk
        resp_head, _, rest = buf.partition(b"\r\n\r\n")
        return _Prefixed(s, rest), resp_head


class _Prefixed(socket.socket):
    """A socket whose first reads return bytes that arrived with the response head."""

    def __init__(self, sock: socket.socket, first: bytes) -> None:
        super().__init__(sock.family, sock.type, sock.proto, fileno=sock.detach())
        self.settimeout(30)
        self._first = first

    def recv(self, n: int, flags: int = 0) -> bytes:  # type: ignore[override]
        if self._first:
            out, self._first = self._first[:n], self._first[n:]
            return out
        return super().recv(n, flags)


def read_all(s: socket.socket, timeout: float = 30) -> bytes:
    s.settimeout(timeout)
    out = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            return out
        out += chunk


def demux(data: bytes) -> list[tuple[int, bytes]]:
    """Split Docker's multiplexed stream into (stream, payload) frames."""
    out = []
    i = 0
    while i + 8 <= len(data):
        stream = data[i]
        size = int.from_bytes(data[i + 4 : i + 8], "big")
        out.append((stream, data[i + 8 : i + 8 + size]))
        i += 8 + size
    assert i == len(data), "trailing bytes that are not a frame"
    return out


def joined(frames: list[tuple[int, bytes]], stream: int) -> bytes:
    return b"".join(p for s, p in frames if s == stream)


class Daemon:
    """One dockyardd with its own data root, exec root and socket."""

    def __init__(self, base: Path, runtime: str | None = None) -> None:
        self.base = base
        self.data_root = base / "data"
        self.exec_root = base / "exec"
        self.sock = str(base / "d.sock")
        self.log = base / "daemon.log"
        self.runtime = runtime or runtime_for_tests()
        self.proc: subprocess.Popen[bytes] | None = None
        self.client = Client(self.sock)

    def start(self, timeout: float = 30) -> None:
        env = dict(os.environ)
        env.pop("DOCKYARD_HOST", None)
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [
                    str(DOCKYARDD),
                    "--data-root",
                    str(self.data_root),
                    "--exec-root",
                    str(self.exec_root),
                    "-H",
                    f"unix://{self.sock}",
                    "--runtime",
                    self.runtime,
                    "--log-level",
                    "debug",
                ],
                stdout=log,
                stderr=log,
                env=env,
                start_new_session=True,
            )
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dockyardd exited: {self.log.read_text()[-2000:]}")
            with contextlib.suppress(OSError):
                if self.client.get("/_ping", timeout=2).status == 200:
                    return
            time.sleep(0.05)
        raise RuntimeError("dockyardd did not answer /_ping in time")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def bootstrap(self) -> None:
        r = self.client.post("/images/bootstrap", params={"name": "busybox"})
        assert r.status == 201, r

    def monitor_pids(self) -> list[int]:
        pids = []
        for f in (self.exec_root / "monitors").glob("*/monitor.pid"):
            with contextlib.suppress(OSError, ValueError):
                pids.append(int(f.read_text().strip()))
        return pids

    def root_pids(self) -> list[int]:
        """Processes whose command line names this daemon's temporary roots."""
        me = str(self.base) + "/"
        out = []
        for d in Path("/proc").iterdir():
            if not d.name.isdigit() or int(d.name) == os.getpid():
                continue
            with contextlib.suppress(OSError):
                if me.encode() in (d / "cmdline").read_bytes():
                    out.append(int(d.name))
        return out

    def cleanup(self) -> None:
        """Remove every container (through the API when the daemon runs), then the roots."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(Exception):
                r = self.client.get("/containers/json", params={"all": 1}, timeout=10)
                for c in r.json():
                    self.client.delete(
                        f"/containers/{c['Id']}", params={"force": 1, "v": 1}, timeout=30
                    )
            self.stop()
        # Whatever is left (a test that killed the daemon): our monitors and their containers,
        # and any helper the daemon started for this root (found by its command line).
        for pid in self.monitor_pids() + self.root_pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        runtime_root = self.exec_root / "runtime"
        if runtime_root.exists():
            for d in runtime_root.iterdir():
                subprocess.run(
                    [self.runtime, "--root", str(runtime_root), "delete", "--force", d.name],
                    capture_output=True,
                    timeout=30,
                )
        for line in reversed(Path("/proc/self/mounts").read_text().splitlines()):
            target = line.split()[1].replace("\\040", " ")
            if target.startswith(str(self.base) + "/"):
                subprocess.run(["umount", "-l", target], capture_output=True)
        shutil.rmtree(self.base, ignore_errors=True)


def new_base() -> Path:
    # Short: the API socket path must fit in sun_path (108 bytes).
    return Path(tempfile.mkdtemp(prefix="dyd-", dir="/tmp"))
