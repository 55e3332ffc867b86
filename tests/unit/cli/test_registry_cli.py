"""Registry verbs end to end in-process, against a fake daemon on a unix socket that records
what it was asked and answers with recorded replies: credentials, headers, outputs."""

from __future__ import annotations

import base64
import io
import json
import os
import socket
import stat
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from dockyard.cli.commands.registry import auth_server, full_name, parse_ref, search_rows
from dockyard.cli.main import main
from dockyard.distribution.credentials import decode_registry_auth, get_credentials

HUB = "127.0.0.1:5999"


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


@dataclass
class FakeDaemon:
    """Answers /_ping, /auth (one good password), and canned JSON for everything else."""

    sock: str
    password: str = "right"
    replies: dict[str, tuple[int, bytes]] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)

    def serve(self) -> None:
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind(self.sock)
        srv.listen(8)
        self._srv = srv
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self) -> None:
        while True:
            try:
                conn, _ = self._srv.accept()
            except OSError:
                return
            with conn:
                self._one(conn)

    def _one(self, conn: socket.socket) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers = {k.lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
        length = int(headers.get("content-length", "0"))
        while len(body) < length:
            body += conn.recv(65536)
        url = urlsplit(target)
        path = unquote(url.path)
        for prefix in ("/v1.41", "/v1.44"):
            path = path.removeprefix(prefix)
        self.seen.append(Seen(method, path, parse_qs(url.query), headers, body))
        status, payload = self._answer(method, path, body)
        reply = (
            f"HTTP/1.1 {status} X\r\nApi-Version: 1.41\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n"
        ).encode() + payload
        conn.sendall(reply)

    def _answer(self, method: str, path: str, body: bytes) -> tuple[int, bytes]:
        if path == "/_ping":
            return 200, b"OK"
        if path == "/auth":
            if json.loads(body).get("password") == self.password:
                return 200, b'{"Status":"Login Succeeded","IdentityToken":""}'
            return 401, b'{"message":"unauthorized: incorrect username or password"}'
        for key, reply in self.replies.items():
            if path.startswith(key):
                return reply
        return 404, b'{"message":"page not found"}'

    def requests(self, path: str) -> list[Seen]:
        return [s for s in self.seen if s.path == path]

    def close(self) -> None:
        self._srv.close()


@pytest.fixture
def daemon(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeDaemon]:
    d = FakeDaemon(str(tmp_path / "d.sock"))
    d.serve()
    monkeypatch.setenv("DOCKYARD_HOST", f"unix://{d.sock}")
    monkeypatch.setenv("DOCKYARD_NO_AUTOSTART", "1")
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "cfg"))
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    yield d
    d.close()


def lines(*msgs: dict[str, Any]) -> bytes:
    return b"".join(json.dumps(m).encode() + b"\r\n" for m in msgs)


def run_cli(
    args: list[str], capsys: pytest.CaptureFixture[str], stdin: str = ""
) -> tuple[int, str, str]:
    import sys

    old = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        code = main(args)
    finally:
        sys.stdin = old
    out, err = capsys.readouterr()
    return code, out, err


# ---------------------------------------------------------------------- pure parts


@pytest.mark.parametrize(
    ("name", "full", "server"),
    [
        ("busybox", "docker.io/library/busybox", "https://index.docker.io/v1/"),
        ("alice/bb", "docker.io/alice/bb", "https://index.docker.io/v1/"),
        ("127.0.0.1:5000/alice/bb", "127.0.0.1:5000/alice/bb", "127.0.0.1:5000"),
        ("localhost/x", "localhost/x", "localhost"),
        ("hub.example.test/a/b", "hub.example.test/a/b", "hub.example.test"),
    ],
)
def test_reference_registry(name: str, full: str, server: str) -> None:
    assert full_name(name) == full
    assert auth_server(name) == server


def test_parse_ref() -> None:
    assert parse_ref("127.0.0.1:5000/a/b:1") == ("127.0.0.1:5000/a/b", "1", "")
    assert parse_ref("127.0.0.1:5000/a/b") == ("127.0.0.1:5000/a/b", "", "")
    digest = "sha256:" + "0" * 64
    assert parse_ref(f"busybox@{digest}") == ("busybox", "", digest)


def test_search_rows_truncate_and_flatten() -> None:
    long = "line one\nline two, which goes on and on past forty-five characters"
    rows = search_rows(
        [
            {"name": "busybox", "description": long, "star_count": 3, "is_official": True},
            {"name": "alice/bb", "description": "", "star_count": 0, "is_official": False},
        ],
        trunc=True,
    )
    assert rows[0]["Description"] == "line one line two, which goes on and on past…"
    assert len(rows[0]["Description"]) == 45
    assert rows[0]["IsOfficial"] == "[OK]" and rows[1]["IsOfficial"] == ""
    assert rows[0]["StarCount"] == "3"
    assert search_rows([{"name": "x", "description": long}], trunc=False)[0]["Description"] == (
        long.replace("\n", " ")
    )


# ---------------------------------------------------------------------- login / logout


def test_login_wrong_password_stores_nothing(
    daemon: FakeDaemon, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, err = run_cli(["login", "-u", "alice", "--password-stdin", HUB], capsys, "nope\n")
    assert code == 1
    assert err.strip() == "Error response from daemon: unauthorized: incorrect username or password"
    assert "Login Succeeded" not in out
    assert not (tmp_path / "cfg" / "config.json").exists()


def test_login_stores_credentials_0600(
    daemon: FakeDaemon, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, err = run_cli(["login", "-u", "alice", "--password-stdin", HUB], capsys, "right\n")
    assert code == 0, err
    assert out == "Login Succeeded\n"
    assert "stored unencrypted" in err
    sent = json.loads(daemon.requests("/auth")[0].body)
    assert sent == {"username": "alice", "password": "right", "serveraddress": HUB}
    path = tmp_path / "cfg" / "config.json"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    entry = json.loads(path.read_text())["auths"][HUB]
    assert base64.b64decode(entry["auth"]) == b"alice:right"


def test_login_again_with_the_same_credentials_keeps_the_file(
    daemon: FakeDaemon, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    run_cli(["login", "-u", "alice", "--password-stdin", HUB], capsys, "right")
    path = tmp_path / "cfg" / "config.json"
    before = path.stat().st_ino
    code, out, err = run_cli(["login", "-u", "alice", "--password-stdin", HUB], capsys, "right")
    assert (code, out, err) == (0, "Login Succeeded\n", "")
    assert path.stat().st_ino == before
    daemon.password = "changed"
    code, _out, err = run_cli(["login", "-u", "alice", "--password-stdin", HUB], capsys, "changed")
    assert code == 0 and "stored unencrypted" in err
    assert base64.b64decode(json.loads(path.read_text())["auths"][HUB]["auth"]) == b"alice:changed"


def test_login_password_flag_warns(daemon: FakeDaemon, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(["login", "-u", "alice", "-p", "right", HUB], capsys)
    assert code == 0
    assert err.startswith(
        "WARNING! Using --password via the CLI is insecure. Use --password-stdin."
    )
    assert out == "Login Succeeded\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["login", "--password-stdin", HUB], "Must provide --username with --password-stdin"),
        (["login", HUB], "Error: Cannot perform an interactive login from a non TTY device"),
        (
            ["login", "-u", "a", "-p", "x", "--password-stdin", HUB],
            "--password and --password-stdin are mutually exclusive",
        ),
    ],
)
def test_login_usage_errors(
    daemon: FakeDaemon, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code, _out, err = run_cli(args, capsys)
    assert code == 1
    assert err.rstrip("\n").endswith(message)
    assert not daemon.requests("/auth")


def test_logout_erases_then_reports_not_logged_in(
    daemon: FakeDaemon, capsys: pytest.CaptureFixture[str]
) -> None:
    run_cli(["login", "-u", "alice", "--password-stdin", HUB], capsys, "right")
    assert get_credentials(HUB) is not None
    assert run_cli(["logout", HUB], capsys)[:2] == (0, f"Removing login credentials for {HUB}\n")
    assert get_credentials(HUB) is None
    assert run_cli(["logout", HUB], capsys)[:2] == (0, f"Not logged in to {HUB}\n")


# ---------------------------------------------------------------------- pull / push


PULL_STREAM = lines(
    {"status": "1: Pulling from alice/bb", "id": "1"},
    {"status": "Pulling fs layer", "progressDetail": {}, "id": "0485470834a3"},
    {"status": "Downloading", "progressDetail": {"current": 10, "total": 20}, "id": "0485470834a3"},
    {"status": "Pull complete", "progressDetail": {}, "id": "0485470834a3"},
    {"status": "Digest: sha256:" + "a" * 64},
    {"status": f"Status: Downloaded newer image for {HUB}/alice/bb:1"},
)


def test_pull_sends_stored_credentials_and_prints_lines(
    daemon: FakeDaemon, capsys: pytest.CaptureFixture[str]
) -> None:
    daemon.replies["/images/create"] = (200, PULL_STREAM)
    run_cli(["login", "-u", "alice", "--password-stdin", HUB], capsys, "right")
    code, out, _err = run_cli(["pull", "--platform", "linux/amd64", f"{HUB}/alice/bb:1"], capsys)
    assert code == 0
    assert out == (
        "1: 1: Pulling from alice/bb\n"
        "0485470834a3: Pulling fs layer\n"
        "0485470834a3: Pull complete\n"
        "Digest: sha256:" + "a" * 64 + "\n"
        f"Status: Downloaded newer image for {HUB}/alice/bb:1\n"
        f"{HUB}/alice/bb:1\n"
    )
    req = daemon.requests("/images/create")[0]
    assert req.query == {
        "fromImage": [f"{HUB}/alice/bb"],
        "tag": ["1"],
        "platform": ["linux/amd64"],
    }
    auth = decode_registry_auth(req.headers["x-registry-auth"])
    assert auth is not None
    assert (auth.username, auth.password, auth.serveraddress) == ("alice", "right", HUB)


def test_pull_anonymous_default_tag_and_quiet(
    daemon: FakeDaemon, capsys: pytest.CaptureFixture[str]
) -> None:
    daemon.replies["/images/create"] = (200, PULL_STREAM)
    code, out, _ = run_cli(["pull", "busybox"], capsys)
    assert code == 0
    assert out.startswith("Using default tag: latest\n")
    assert out.endswith("\ndocker.io/library/busybox:latest\n")
    header = daemon.requests("/images/create")[0].headers["x-registry-auth"]
    raw = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
    assert raw == {"username": "", "password": "", "serveraddress": "https://index.docker.io/v1/"}
    assert daemon.requests("/images/create")[0].query["tag"] == ["latest"]
    assert run_cli(["pull", "-q", "busybox"], capsys)[:2] == (
        0,
        "docker.io/library/busybox:latest\n",
    )


def test_pull_by_digest_sends_digest_as_tag(
    daemon: FakeDaemon, capsys: pytest.CaptureFixture[str]
) -> None:
    daemon.replies["/images/create"] = (200, PULL_STREAM)
    digest = "sha256:" + "b" * 64
    code, out, _ = run_cli(["pull", "-q", f"{HUB}/alice/bb@{digest}"], capsys)
    assert code == 0 and out == f"{HUB}/alice/bb@{digest}\n"
    assert daemon.requests("/images/create")[0].query["tag"] == [digest]


def test_pull_error_in_stream_exits_1(
    daemon: FakeDaemon, capsys: pytest.CaptureFixture[str]
) -> None:
    daemon.replies["/images/create"] = (
        200,
        lines(
            {"status": "1: Pulling from alice/bb", "id": "1"},
            {"errorDetail": {"message": "unexpected EOF"}, "error": "unexpected EOF"},
        ),
    )
    code, out, err = run_cli(["pull", f"{HUB}/alice/bb:1"], capsys)
    assert code == 1
    assert err == "unexpected EOF\n"
    assert f"{HUB}/alice/bb:1\n" not in out


def test_pull_daemon_error_status(daemon: FakeDaemon, capsys: pytest.CaptureFixture[str]) -> None:
    daemon.replies["/images/create"] = (404, b'{"message":"manifest unknown"}')
    code, _out, err = run_cli(["pull", f"{HUB}/alice/none:1"], capsys)
    assert (code, err) == (1, "Error response from daemon: manifest unknown\n")


def test_push_default_tag_quiet_and_credentials(
    daemon: FakeDaemon, capsys: pytest.CaptureFixture[str]
) -> None:
    daemon.replies[f"/images/{HUB}/alice/bb/push"] = (
        200,
        lines(
            {"status": f"The push refers to repository [{HUB}/alice/bb]"},
            {"status": "Pushed", "progressDetail": {}, "id": "0485470834a3"},
            {"progressDetail": {}, "aux": {"Tag": "latest", "Digest": "sha256:x", "Size": 1}},
        ),
    )
    run_cli(["login", "-u", "alice", "--password-stdin", HUB], capsys, "right")
    code, out, _ = run_cli(["push", f"{HUB}/alice/bb"], capsys)
    assert code == 0
    assert out == (
        "Using default tag: latest\n"
        f"The push refers to repository [{HUB}/alice/bb]\n"
        "0485470834a3: Pushed\n"
    )
    req = daemon.requests(f"/images/{HUB}/alice/bb/push")[0]
    assert req.method == "POST" and req.query["tag"] == ["latest"]
    auth = decode_registry_auth(req.headers["x-registry-auth"])
    assert auth is not None and auth.username == "alice"
    assert run_cli(["push", "-q", f"{HUB}/alice/bb:latest"], capsys)[:2] == (
        0,
        f"{HUB}/alice/bb:latest\n",
    )


# ---------------------------------------------------------------------- search


def test_search_table_and_filters(daemon: FakeDaemon, capsys: pytest.CaptureFixture[str]) -> None:
    results = [
        {
            "name": "busybox",
            "description": "Busybox base image.",
            "star_count": 12,
            "is_official": True,
        },
        {"name": "alice/bb", "description": "", "star_count": 0, "is_official": False},
    ]
    daemon.replies["/images/search"] = (200, json.dumps(results).encode())
    code, out, _ = run_cli(
        ["search", "--limit", "5", "--filter", "is-official=true", "--filter", "stars=3", "b"],
        capsys,
    )
    assert code == 0
    assert out.splitlines() == [
        "NAME       DESCRIPTION           STARS     OFFICIAL",
        "busybox    Busybox base image.   12        [OK]",
        "alice/bb                         0         ",
    ]
    q = daemon.requests("/images/search")[0].query
    assert q["term"] == ["b"] and q["limit"] == ["5"]
    assert json.loads(q["filters"][0]) == {"is-official": {"true": True}, "stars": {"3": True}}
    code, out, _ = run_cli(["search", "--format", "{{.Name}}:{{.StarCount}}", "b"], capsys)
    assert out == "busybox:12\nalice/bb:0\n"


# ---------------------------------------------------------------------- stored and prompted


def test_login_without_flags_uses_stored_credentials(
    daemon: FakeDaemon, capsys: pytest.CaptureFixture[str]
) -> None:
    run_cli(["login", "-u", "alice", "--password-stdin", HUB], capsys, "right")
    code, out, err = run_cli(["login", HUB], capsys)
    assert (code, out) == (0, "Login Succeeded\n")
    assert err.startswith("Authenticating with existing credentials... [Username: alice]\n")
    assert json.loads(daemon.requests("/auth")[-1].body)["password"] == "right"

    daemon.password = "rotated"
    code, out, err = run_cli(["login", HUB], capsys)
    assert code == 1 and out == ""
    assert err.endswith(
        "Stored credentials invalid or expired\n"
        "Error: Cannot perform an interactive login from a non TTY device\n"
    )


def _read_until(fd: int, want: bytes, limit: float = 20.0) -> bytes:
    import select
    import time

    got = b""
    end = time.monotonic() + limit
    while want not in got and time.monotonic() < end:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            got += chunk
    return got


def test_login_prompts_on_a_terminal(daemon: FakeDaemon, tmp_path: Path) -> None:
    import fcntl
    import subprocess
    import sys
    import termios

    master, slave = os.openpty()

    def own_terminal() -> None:
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    exe = str(Path(sys.executable).parent / "dockyard")
    proc = subprocess.Popen(
        [exe, "login", HUB],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        preexec_fn=own_terminal,  # the child must own the pty: getpass reads /dev/tty
        env=dict(os.environ),
    )
    os.close(slave)
    try:
        seen = _read_until(master, b"Username: ")
        assert seen.endswith(b"Username: "), seen
        os.write(master, b"alice\n")
        seen = _read_until(master, b"Password: ")
        assert b"Password: " in seen, seen
        os.write(master, b"right\n")
        seen = _read_until(master, b"Login Succeeded")
        assert b"Login Succeeded" in seen, seen
        assert b"right" not in seen  # the password is not echoed
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    assert get_credentials(HUB) is not None
    sent = json.loads(daemon.requests("/auth")[-1].body)
    assert (sent["username"], sent["password"]) == ("alice", "right")
