"""Host resolution, error bodies, and the client against a tiny local unix-socket server."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.cli.errors import ConnectError, DaemonError
from dockyard.cli.transport import (
    DEFAULT_HOST,
    Client,
    error_message,
    parse_host,
    resolve_host,
)


def test_host_resolution_order() -> None:
    assert resolve_host(None, {}).url == DEFAULT_HOST
    assert resolve_host(None, {"DOCKER_HOST": "unix:///d.sock"}).path == "/d.sock"
    assert resolve_host(None, {"DOCKER_HOST": "unix:///d.sock"}).from_docker_env
    env = {"DOCKER_HOST": "unix:///d.sock", "DOCKYARD_HOST": "unix:///y.sock"}
    assert resolve_host(None, env).path == "/y.sock"
    assert resolve_host("unix:///flag.sock", env).path == "/flag.sock"
    tcp = parse_host("tcp://127.0.0.1:2375")
    assert (tcp.scheme, tcp.addr, tcp.port) == ("tcp", "127.0.0.1", 2375)
    with pytest.raises(ConnectError):
        parse_host("ftp://x")


def test_error_message() -> None:
    assert error_message(404, b'{"message":"No such container: x"}') == "No such container: x"
    assert error_message(500, b"plain text\n") == "plain text"
    assert error_message(502, b"") == "502 Bad Gateway"


class FakeDaemon:
    """Answers canned HTTP responses; records requests. One thread per connection."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)
        self.requests: list[bytes] = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen(8)
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.handle, args=(conn,), daemon=True).start()

    def handle(self, conn: socket.socket) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(4096)
            if not chunk:
                return
            data += chunk
        self.requests.append(data)
        line = data.split(b"\r\n", 1)[0].decode()
        if line.startswith("GET /_ping"):
            body = b"OK"
            conn.sendall(
                b"HTTP/1.1 200 OK\r\nApi-Version: 1.44\r\nContent-Length: 2\r\n\r\n" + body
            )
        elif "/missing" in line:
            body = json.dumps({"message": "No such container: missing"}).encode()
            conn.sendall(
                b"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n"
                b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
            )
        elif "/attach" in line:
            conn.sendall(
                b"HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-"
                b"stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\nearly"
            )
            echoed = conn.recv(4096)
            conn.sendall(b"+" + echoed)
        elif "/stream" in line:
            chunks = [b'{"status":"a"}\r\n', b'{"stat', b'us":"b"}\r\n']
            head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            payload = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n"
            conn.sendall(head + payload)
        else:
            body = b'{"ok":true}'
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n" + body)
        conn.close()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[FakeDaemon]:
    daemon = FakeDaemon(tmp_path / "d.sock")
    yield daemon
    daemon.close()


def test_negotiates_down_to_client_version(
    fake: FakeDaemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DOCKER_API_VERSION", raising=False)
    client = Client(parse_host(f"unix://{fake.path}"))
    assert client.json("GET", "/info") == {"ok": True}
    assert client.version == "1.41"
    assert any(r.startswith(b"GET /v1.41/info ") for r in fake.requests)


def test_daemon_errors_and_streams(fake: FakeDaemon) -> None:
    client = Client(parse_host(f"unix://{fake.path}"), version="1.41")
    with pytest.raises(DaemonError) as info:
        client.json("GET", "/containers/missing/json")
    assert (info.value.http_status, info.value.message) == (404, "No such container: missing")
    assert str(info.value) == "Error response from daemon: No such container: missing"
    resp = client.request("GET", "/stream")
    assert list(client.stream_json(resp)) == [{"status": "a"}, {"status": "b"}]


def test_hijack_keeps_bytes_after_the_head(fake: FakeDaemon) -> None:
    client = Client(parse_host(f"unix://{fake.path}"), version="1.41")
    conn = client.hijack("POST", "/containers/x/attach", {"stream": True})
    assert conn.recv() == b"early"
    conn.send_all(b"ping")
    received = b""
    while chunk := conn.recv():
        received += chunk
    assert received == b"+ping"
    assert b"Upgrade: tcp" in fake.requests[-1]


def test_hijack_error_is_a_daemon_error(fake: FakeDaemon) -> None:
    client = Client(parse_host(f"unix://{fake.path}"), version="1.41")
    with pytest.raises(DaemonError, match="No such container"):
        client.hijack("POST", "/containers/missing/attach")


def test_connect_error_names_the_socket(tmp_path: Path) -> None:
    client = Client(parse_host(f"unix://{tmp_path}/none.sock"), version="1.41")
    with pytest.raises(ConnectError, match="Cannot connect to the dockyard daemon at unix://"):
        client.json("GET", "/info")
