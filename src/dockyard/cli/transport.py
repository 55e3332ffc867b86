"""HTTP over the daemon's unix socket (stdlib only): requests, JSON streams and hijacking.

Docker Engine API conventions: the version is negotiated with `/_ping` (the `Api-Version`
header), paths are prefixed `/v1.41`, errors come back as `{"message": ...}`, and attach/exec
upgrade the connection (`Connection: Upgrade`, `Upgrade: tcp`, answered `101`) to a raw
bidirectional byte stream."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import socket
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import IO, Any
from urllib.parse import quote, urlencode

from dockyard.cli.errors import ConnectError, DaemonError

CLIENT_MAX_VERSION = "1.41"
DEFAULT_HOST = "unix:///run/dockyard/dockyard.sock"
Params = Mapping[str, str | int | bool | list[str] | None]


@dataclass(frozen=True)
class Host:
    url: str
    scheme: str  # "unix" or "tcp"
    path: str = ""  # socket path for unix
    addr: str = ""
    port: int = 0
    from_docker_env: bool = False


def parse_host(url: str, from_docker_env: bool = False) -> Host:
    if url.startswith("unix://"):
        return Host(url, "unix", path=url[len("unix://") :], from_docker_env=from_docker_env)
    if url.startswith(("tcp://", "http://")):
        rest = url.split("://", 1)[1].rstrip("/")
        addr, _, port = rest.rpartition(":")
        if not addr:
            addr, port = rest, "2375"
        return Host(url, "tcp", addr=addr.strip("[]"), port=int(port))
    if url.startswith("/"):
        return Host("unix://" + url, "unix", path=url, from_docker_env=from_docker_env)
    raise ConnectError(f"unable to parse docker host `{url}`")


def resolve_host(flag: str | None, environ: Mapping[str, str]) -> Host:
    """-H, else DOCKYARD_HOST, else DOCKER_HOST, else the default socket."""
    if flag:
        return parse_host(flag)
    if environ.get("DOCKYARD_HOST"):
        return parse_host(environ["DOCKYARD_HOST"])
    if environ.get("DOCKER_HOST"):
        return parse_host(environ["DOCKER_HOST"], from_docker_env=True)
    return parse_host(DEFAULT_HOST)


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float | None = None) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        if self.timeout is not None:
            sock.settimeout(self.timeout)
        sock.connect(self.socket_path)
        self.sock = sock


def _version_tuple(v: str) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in v.split("."))
    except ValueError:
        return (0,)


def error_message(status: int, body: bytes) -> str:
    text = body.decode("utf-8", "replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("message"), str):
        return str(data["message"])
    if text:
        return text
    return f"{status} {http.client.responses.get(status, 'error')}"


class Hijacked:
    """A raw duplex stream after a 101 upgrade (or a 200 whose body runs to EOF)."""

    def __init__(self, sock: socket.socket, pending: bytes, content_type: str) -> None:
        self.sock = sock
        self.pending = pending
        self.content_type = content_type

    def recv(self, size: int = 65536) -> bytes:
        if self.pending:
            data, self.pending = self.pending, b""
            return data
        try:
            return self.sock.recv(size)
        except ConnectionResetError:
            return b""

    def send_all(self, data: bytes) -> None:
        self.sock.sendall(data)

    def close_write(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self.sock.close()


class Client:
    """One daemon endpoint. Each request opens its own connection (cheap on a unix socket),
    so that long waits, streams and control calls can run side by side."""

    def __init__(self, host: Host, version: str | None = None) -> None:
        self.host = host
        self.version = version
        self.server_headers: dict[str, str] = {}

    # -------------------------------------------------------- connections
    def _connection(self, timeout: float | None = None) -> http.client.HTTPConnection:
        if self.host.scheme == "unix":
            return _UnixConnection(self.host.path, timeout=timeout)
        return http.client.HTTPConnection(self.host.addr, self.host.port, timeout=timeout)

    def _raw_socket(self) -> socket.socket:
        try:
            if self.host.scheme == "unix":
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.connect(self.host.path)
                return sock
            return socket.create_connection((self.host.addr, self.host.port))
        except OSError as exc:
            raise self._connect_error() from exc

    def _connect_error(self) -> ConnectError:
        return ConnectError(
            f"Cannot connect to the dockyard daemon at {self.host.url}. "
            "Is the dockyard daemon running?"
        )

    # -------------------------------------------------------- version
    def ping(self, timeout: float | None = None) -> dict[str, str]:
        conn = self._connection(timeout)
        try:
            conn.request("GET", "/_ping")
            resp = conn.getresponse()
            resp.read()
        except OSError as exc:
            raise self._connect_error() from exc
        finally:
            conn.close()
        self.server_headers = {k.lower(): v for k, v in resp.getheaders()}
        return self.server_headers

    def negotiate(self) -> str:
        if self.version is None:
            env = os.environ.get("DOCKER_API_VERSION")
            if env:
                self.version = env
            else:
                server = self.ping().get("api-version", "1.24")
                best = min(_version_tuple(server), _version_tuple(CLIENT_MAX_VERSION))
                self.version = ".".join(str(p) for p in best)
        return self.version

    def url(self, path: str, params: Params | None = None, versioned: bool = True) -> str:
        prefix = f"/v{self.negotiate()}" if versioned else ""
        query = ""
        if params:
            pairs: list[tuple[str, str]] = []
            for key, value in params.items():
                if value is None:
                    continue
                if isinstance(value, bool):
                    pairs.append((key, "1" if value else "0"))
                elif isinstance(value, list):
                    pairs.extend((key, v) for v in value)
                else:
                    pairs.append((key, str(value)))
            if pairs:
                query = "?" + urlencode(pairs)
        return prefix + path + query

    # -------------------------------------------------------- requests
    def request(
        self,
        method: str,
        path: str,
        params: Params | None = None,
        body: Any = None,
        *,
        data: bytes | IO[bytes] | None = None,
        headers: Mapping[str, str] | None = None,
        versioned: bool = True,
        timeout: float | None = None,
        content_type: str = "application/json",
    ) -> http.client.HTTPResponse:
        """Send a request; return the response once its headers arrived (body unread).
        Raises DaemonError for statuses >= 400."""
        url = self.url(path, params, versioned)
        hdrs = dict(headers or {})
        payload: bytes | IO[bytes] | None = data
        if body is not None:
            payload = json.dumps(body).encode()
        if payload is not None:
            hdrs.setdefault("Content-Type", content_type)
        chunked = (
            payload is not None and not isinstance(payload, bytes) and "Content-Length" not in hdrs
        )
        if chunked:
            hdrs["Transfer-Encoding"] = "chunked"
        conn = self._connection(timeout)
        try:
            conn.request(method, url, body=payload, headers=hdrs, encode_chunked=chunked)
            resp = conn.getresponse()
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            raise self._connect_error() from exc
        except BrokenPipeError:
            # The daemon answered (an error) before reading the whole upload.
            resp = conn.getresponse()
        if resp.status >= 400:
            raw = resp.read()
            conn.close()
            raise DaemonError(resp.status, error_message(resp.status, raw))
        return resp

    def json(
        self, method: str, path: str, params: Params | None = None, body: Any = None, **kwargs: Any
    ) -> Any:
        resp = self.request(method, path, params, body, **kwargs)
        raw = resp.read()
        resp.close()
        if not raw.strip():
            return None
        return json.loads(raw)

    def call(
        self, method: str, path: str, params: Params | None = None, body: Any = None, **kwargs: Any
    ) -> None:
        resp = self.request(method, path, params, body, **kwargs)
        resp.read()
        resp.close()

    def stream_json(self, resp: http.client.HTTPResponse) -> Iterator[Any]:
        """Decode a stream of JSON values (Docker's progress/events/stats bodies)."""
        decoder = json.JSONDecoder()
        buf = ""
        while True:
            chunk = resp.read1(65536) if hasattr(resp, "read1") else resp.read(65536)
            if not chunk:
                break
            buf += chunk.decode("utf-8", "replace")
            while True:
                buf = buf.lstrip()
                if not buf:
                    break
                try:
                    value, end = decoder.raw_decode(buf)
                except ValueError:
                    break
                buf = buf[end:]
                yield value
        resp.close()

    # -------------------------------------------------------- hijack
    def hijack(
        self, method: str, path: str, params: Params | None = None, body: Any = None
    ) -> Hijacked:
        url = self.url(path, params)
        payload = json.dumps(body).encode() if body is not None else b""
        head = (
            f"{method} {url} HTTP/1.1\r\nHost: docker\r\nUser-Agent: dockyard-cli\r\n"
            "Connection: Upgrade\r\nUpgrade: tcp\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\n\r\n"
        ).encode()
        sock = self._raw_socket()
        sock.sendall(head + payload)
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = sock.recv(65536)
            if not chunk:
                sock.close()
                raise DaemonError(500, "the daemon closed the connection during the upgrade")
            buf += chunk
        header_blob, _, rest = buf.partition(b"\r\n\r\n")
        lines = header_blob.decode("latin-1").split("\r\n")
        try:
            status = int(lines[0].split(" ", 2)[1])
        except (IndexError, ValueError):
            sock.close()
            raise DaemonError(500, f"malformed response: {lines[0]!r}") from None
        fields = {}
        for line in lines[1:]:
            key, _, value = line.partition(":")
            fields[key.strip().lower()] = value.strip()
        if status >= 400:
            body_bytes = _read_body(sock, rest, fields)
            sock.close()
            raise DaemonError(status, error_message(status, body_bytes))
        return Hijacked(sock, rest, fields.get("content-type", ""))


def _read_body(sock: socket.socket, rest: bytes, fields: Mapping[str, str]) -> bytes:
    data = rest
    if "content-length" in fields:
        want = int(fields["content-length"])
        while len(data) < want:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        return data[:want]
    chunked = fields.get("transfer-encoding", "").lower() == "chunked"
    # A chunked body ends with its zero-size chunk; the connection may stay open after it.
    while not (chunked and (data.endswith(b"0\r\n\r\n"))):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return _dechunk(data) if chunked else data


def _dechunk(data: bytes) -> bytes:
    out = b""
    while data:
        size_line, _, data = data.partition(b"\r\n")
        try:
            size = int(size_line.split(b";")[0], 16)
        except ValueError:
            break
        if size == 0:
            break
        out += data[:size]
        data = data[size + 2 :]
    return out


def quote_path(part: str) -> str:
    return quote(part, safe="")
