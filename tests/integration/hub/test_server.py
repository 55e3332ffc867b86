"""Serving details: TLS, the data dir from the environment, clients that hang up."""

from __future__ import annotations

import base64
import json
import os
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import hubtools as ht
import pytest
from hubtools import client

pytestmark = pytest.mark.root


def test_tls_and_data_dir_from_environment(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    r = subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        capture_output=True,
        timeout=60,
        check=False,
    )
    if r.returncode != 0:
        pytest.skip(f"openssl cannot make a certificate: {r.stderr[-300:]!r}")
    data = tmp_path / "envdata"
    env = {**os.environ, "DOCKYARD_HUB_DATA": str(data)}
    r2 = subprocess.run(
        [ht.PY, "-m", "dockyard.hub.cli", "user", "add", "alice", "--password-stdin"],
        input="alice-pass-1\n",
        text=True,
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert r2.returncode == 0, r2.stderr
    assert (data / "hub.db").exists()
    port = ht.free_port()
    proc = subprocess.Popen(
        [
            ht.PY,
            "-m",
            "dockyard.hub.cli",
            "serve",
            "--listen",
            f"127.0.0.1:{port}",
            "--tls-cert",
            str(cert),
            "--tls-key",
            str(key),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        ctx = ssl.create_default_context(cafile=str(cert))
        req = urllib.request.Request(f"https://127.0.0.1:{port}/v2/")
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, context=ctx, timeout=10)
        assert e.value.code == 401
        assert f'realm="https://127.0.0.1:{port}/token"' in e.value.headers["WWW-Authenticate"]
        cred = base64.b64encode(b"alice:alice-pass-1").decode()
        req = urllib.request.Request(
            f"https://127.0.0.1:{port}/token?service=dockyard-hub&scope=repository:alice/x:push",
            headers={"Authorization": f"Basic {cred}"},
        )
        with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:
            assert json.loads(resp.read())["token"]
    finally:
        proc.terminate()
        proc.wait(10)


def test_client_hanging_up_mid_chunk_loses_nothing_received(hub: ht.HubProcess) -> None:
    alice = client(hub, "alice")
    data = os.urandom(6 << 20)
    loc = alice.call("POST", "/v2/alice/cut/blobs/uploads/").header("Location") or ""
    token = alice.tokens["repository:alice/cut:pull,push,delete"]
    s = socket.create_connection(("127.0.0.1", hub.port))
    s.sendall(
        (
            f"PATCH {loc} HTTP/1.1\r\nHost: {hub.host}\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Range: 0-{len(data) - 1}\r\nContent-Length: {len(data)}\r\n\r\n"
        ).encode()
        + data[: 4 << 20]
    )
    time.sleep(0.5)
    s.close()
    deadline = time.monotonic() + 10
    while True:
        r = alice.call("GET", loc)
        offset = int((r.header("Range") or "0-0").split("-")[1]) + 1
        if offset >= (1 << 20) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert r.status == 204 and 0 < offset <= 4 << 20
    r = alice.call(
        "PUT",
        f"{loc}?digest={ht.sha(data)}",
        data[offset:],
        {"Content-Range": f"{offset}-{len(data) - 1}"},
    )
    assert r.status == 201
    assert alice.call("GET", f"/v2/alice/cut/blobs/{ht.sha(data)}").body == data
