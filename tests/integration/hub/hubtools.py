"""Helpers shared by the hub's integration, compat tests and benchmark: start a real hub
process, make users, build a tiny OCI image, talk HTTP with bearer tokens."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import os
import signal
import socket
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
VENV_PY = ROOT / ".venv" / "bin" / "python"
PY = str(VENV_PY if VENV_PY.exists() else Path(sys.executable))
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def hub_cli(data: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PY, "-m", "dockyard.hub.cli", *args, "--data", str(data)],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def add_user(data: Path, name: str, password: str, admin: bool = False) -> None:
    args = ["user", "add", name, "--password-stdin"] + (["--admin"] if admin else [])
    r = hub_cli(data, *args, stdin=password + "\n")
    assert r.returncode == 0, r.stderr


@dataclass
class HubProcess:
    data: Path
    port: int = field(default_factory=free_port)
    config: Path | None = None
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> HubProcess:
        cmd = [
            PY,
            "-m",
            "dockyard.hub.cli",
            "serve",
            "--listen",
            self.host,
            "--data",
            str(self.data),
        ]
        if self.config is not None:
            cmd += ["--config", str(self.config)]
        log = open(self.data.parent / f"hub-{self.port}.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"hub exited with {self.proc.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("hub did not start")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None


@dataclass
class Reply:
    status: int
    headers: Any
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def header(self, name: str) -> str | None:
        value = self.headers.get(name)
        return None if value is None else str(value)

    def error_codes(self) -> list[str]:
        return [e["code"] for e in self.json()["errors"]]


def request(
    method: str,
    url: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 60,
) -> Reply:
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return Reply(resp.status, resp.headers, resp.read())
    except urllib.error.HTTPError as e:
        return Reply(e.code, e.headers, e.read())


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


@dataclass
class Client:
    """A registry client that fetches bearer tokens as the token spec describes."""

    base: str
    user: str | None = None
    password: str | None = None
    tokens: dict[str, str] = field(default_factory=dict)

    def token(self, scope: str) -> Reply:
        q = urllib.parse.urlencode({"service": "dockyard-hub", "scope": scope})
        headers = {}
        if self.user is not None:
            cred = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
            headers["Authorization"] = f"Basic {cred}"
        return request("GET", f"{self.base}/token?{q}", headers=headers)

    def call(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        scope: str | None = None,
    ) -> Reply:
        if scope is None:
            scope = _scope_for(path)
        h = dict(headers or {})
        if scope in self.tokens:
            h["Authorization"] = f"Bearer {self.tokens[scope]}"
        url = path if path.startswith("http") else self.base + path
        r = request(method, url, body, h)
        if r.status == 401 and scope not in self.tokens:
            t = self.token(scope)
            if t.status != 200:
                return t
            self.tokens[scope] = t.json()["token"]
            h["Authorization"] = f"Bearer {self.tokens[scope]}"
            r = request(method, url, body, h)
        return r

    # -- conveniences ----------------------------------------------------------------

    def push_blob(self, repo: str, data: bytes) -> str:
        digest = sha(data)
        r = self.call(
            "POST",
            f"/v2/{repo}/blobs/uploads/?digest={digest}",
            data,
            {"Content-Type": "application/octet-stream"},
        )
        assert r.status == 201, (r.status, r.body)
        return digest

    def push_manifest(
        self, repo: str, ref: str, doc: dict[str, Any], media_type: str = OCI_MANIFEST
    ) -> Reply:
        return self.call(
            "PUT",
            f"/v2/{repo}/manifests/{ref}",
            json.dumps(doc).encode(),
            {"Content-Type": media_type},
        )

    def push_image(
        self,
        repo: str,
        tag: str,
        layer: bytes | None = None,
        platform: tuple[str, str] = ("linux", "amd64"),
    ) -> tuple[str, dict[str, Any]]:
        layer = layer if layer is not None else make_layer({"hello.txt": b"hello\n"})
        config = make_config([layer], platform)
        self.push_blob(repo, layer)
        self.push_blob(repo, config)
        doc = image_manifest(config, [layer])
        r = self.push_manifest(repo, tag, doc)
        assert r.status == 201, (r.status, r.body)
        return str(r.header("Docker-Content-Digest")), doc


def _scope_for(path: str) -> str:
    p = urllib.parse.urlparse(path).path
    if p.startswith("/v2/_catalog"):
        return "registry:catalog:*"
    if p in ("/v2/", "/v2"):
        return ""
    for marker in ("/manifests/", "/blobs/", "/tags/", "/referrers/"):
        if marker in p:
            name = p[len("/v2/") : p.rindex(marker)]
            return f"repository:{name}:pull,push,delete"
    return ""


def make_layer(files: dict[str, bytes], mtime: int = 0) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, content in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(content)
            info.mtime = mtime
            info.mode = 0o755
            tar.addfile(info, io.BytesIO(content))
    return gzip.compress(raw.getvalue(), mtime=0)


def make_config(layers: list[bytes], platform: tuple[str, str] = ("linux", "amd64")) -> bytes:
    diff_ids = [sha(gzip.decompress(layer)) for layer in layers]
    cfg = {
        "architecture": platform[1],
        "os": platform[0],
        "config": {"Cmd": ["/bin/sh"], "Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created_by": "dockyard test"}],
    }
    return json.dumps(cfg, sort_keys=True).encode()


def image_manifest(
    config: bytes, layers: list[bytes], config_type: str = OCI_CONFIG, **extra: Any
) -> dict[str, Any]:
    return {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": config_type, "digest": sha(config), "size": len(config)},
        "layers": [
            {"mediaType": OCI_LAYER, "digest": sha(layer), "size": len(layer)} for layer in layers
        ],
        **extra,
    }


def busybox_layer() -> bytes:
    """A layer holding the host's static busybox and a few applet links."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for d in ("bin", "etc", "tmp"):
            info = tarfile.TarInfo(d)
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            tar.addfile(info)
        data = Path("/bin/busybox").read_bytes()
        info = tarfile.TarInfo("bin/busybox")
        info.size = len(data)
        info.mode = 0o755
        tar.addfile(info, io.BytesIO(data))
        for applet in ("sh", "echo", "ls", "cat"):
            info = tarfile.TarInfo(f"bin/{applet}")
            info.type = tarfile.SYMTYPE
            info.linkname = "busybox"
            tar.addfile(info)
    return gzip.compress(raw.getvalue(), mtime=0)


def write_oci_layout(dest: Path, layer: bytes, tag: str = "latest") -> str:
    """An OCI image layout with one image; returns the manifest digest."""
    config = make_config([layer])
    manifest = json.dumps(image_manifest(config, [layer])).encode()
    blobs = dest / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    for data in (layer, config, manifest):
        (blobs / sha(data).split(":")[1]).write_bytes(data)
    (dest / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": OCI_MANIFEST,
                "digest": sha(manifest),
                "size": len(manifest),
                "annotations": {"org.opencontainers.image.ref.name": tag},
            }
        ],
    }
    (dest / "index.json").write_text(json.dumps(index))
    return sha(manifest)


def kill_quietly(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)


# The accounts every test hub has (made by the fixtures), and a client logged in as one.
USERS = {"root": "root-pass-1", "alice": "alice-pass-1", "bob": "bob-pass-1"}


def client(h: HubProcess, user: str | None = None) -> Client:
    return Client(h.url, user, USERS[user] if user else None)
