"""Talking to the daemon over its socket (stdlib only): requests, JSON streams, hijacking.

Docker Engine API conventions: the version is negotiated with `/_ping` (the `Api-Version`
header), paths are prefixed `/v1.41`, errors come back as `{"message": ...}`, and attach/exec
upgrade the connection (`Connection: Upgrade`, `Upgrade: tcp`, answered `101`) to a raw
bidirectional byte stream."""

from __future__ import annotations

import _socket  # socket.py imports enum and selectors: ~5 ms of every CLI start
import os

from dockyard.cli.errors import ConnectError, DaemonError
from dockyard.cli.httpwire import REASONS, ProtocolError, Response, quote, read_head, send_request
from dockyard.cli.httpwire import urlencode as _urlencode
from dockyard.oci import fastjson

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping
    from typing import IO, Any

    Params = Mapping[str, str | int | bool | list[str] | None]

CLIENT_MAX_VERSION = "1.41"
DEFAULT_HOST = "unix:///run/dockyard/dockyard.sock"


class Host:
    """A daemon address: unix socket path, or tcp host and port."""

    __slots__ = ("addr", "from_docker_env", "path", "port", "scheme", "url")

    def __init__(
        self,
        url: str,
        scheme: str,
        path: str = "",
        addr: str = "",
        port: int = 0,
        from_docker_env: bool = False,
    ) -> None:
        self.url = url
        self.scheme = scheme
        self.path = path
        self.addr = addr
        self.port = port
        self.from_docker_env = from_docker_env


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


def _version_tuple(v: str) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in v.split("."))
    except ValueError:
        return (0,)


def error_message(status: int, body: bytes) -> str:
    text = body.decode("utf-8", "replace").strip()
    try:
        data = fastjson.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("message"), str):
        return str(data["message"])
    if text:
        return text
    return f"{status} {REASONS.get(status, 'error')}"


class Hijacked:
    """A raw duplex stream after a 101 upgrade (or a 200 whose body runs to EOF)."""

    def __init__(self, sock: _socket.socket, pending: bytes, content_type: str) -> None:
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
        try:
            self.sock.shutdown(_socket.SHUT_WR)
        except OSError:
            return

    def close(self) -> None:
        self.sock.close()


class Client:
    """One daemon endpoint. Each request opens its own connection (cheap on a unix socket),
    so that long waits, streams and control calls can run side by side."""

    def __init__(
        self, host: Host, version: str | None = None, on_absent: Callable[[], None] | None = None
    ) -> None:
        self.host = host
        self.version = version
        # Called once when the unix socket is missing or refuses (no daemon): it may start
        # one (cli.autostart); the connection is then tried again.
        self.on_absent = on_absent
        self.server_headers: dict[str, str] = {}

    def _connect_error(self) -> ConnectError:
        return ConnectError(
            f"Cannot connect to the dockyard daemon at {self.host.url}. "
            "Is the dockyard daemon running?"
        )

    def _open(self, timeout: float | None = None) -> _socket.socket:
        try:
            if self.host.scheme == "unix":
                try:
                    return self._connect_unix(timeout)
                except (FileNotFoundError, ConnectionRefusedError):
                    start, self.on_absent = self.on_absent, None
                    if start is None:
                        raise
                start()
                return self._connect_unix(timeout)
            import socket

            return socket.create_connection((self.host.addr, self.host.port), timeout=timeout)
        except OSError as exc:
            raise self._connect_error() from exc

    def _connect_unix(self, timeout: float | None) -> _socket.socket:
        sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(self.host.path)
        except OSError:
            sock.close()
            raise
        return sock

    # -------------------------------------------------------- version
    def ping(self, timeout: float | None = None) -> dict[str, str]:
        sock = self._open(timeout)
        try:
            send_request(sock, "GET", "/_ping", {}, None)
            status, _, headers, rest = read_head(sock)
            Response(sock, status, "", headers, rest, "GET").read()
        except OSError as exc:
            raise self._connect_error() from exc
        finally:
            sock.close()
        self.server_headers = headers
        return headers

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
        pairs: list[tuple[str, str]] = []
        for key, value in (params or {}).items():
            if value is None:
                continue
            if isinstance(value, bool):
                pairs.append((key, "1" if value else "0"))
            elif isinstance(value, list):
                pairs.extend((key, v) for v in value)
            else:
                pairs.append((key, str(value)))
        return prefix + path + ("?" + _urlencode(pairs) if pairs else "")

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
    ) -> Response:
        """Send a request; return the response once its head arrived (body unread).
        Raises DaemonError for statuses >= 400."""
        url = self.url(path, params, versioned)
        hdrs = dict(headers or {})
        payload: bytes | IO[bytes] | None = data
        if body is not None:
            payload = fastjson.dumps(body).encode()
        if payload is not None:
            hdrs.setdefault("Content-Type", content_type)
        sock = self._open(timeout)
        try:
            try:
                send_request(sock, method, url, hdrs, payload)
            except (BrokenPipeError, ConnectionResetError):
                # The daemon answered (an error) before reading the whole upload.
                payload = None
            status, reason, resp_headers, rest = read_head(sock)
        except ProtocolError as exc:
            sock.close()
            raise DaemonError(500, str(exc)) from None
        except OSError:
            sock.close()
            raise
        resp = Response(sock, status, reason, resp_headers, rest, method)
        if status >= 400:
            raw = resp.read()
            raise DaemonError(status, error_message(status, raw))
        return resp

    def json(
        self, method: str, path: str, params: Params | None = None, body: Any = None, **kwargs: Any
    ) -> Any:
        raw = self.request(method, path, params, body, **kwargs).read()
        if not raw.strip():
            return None
        return fastjson.loads(raw)

    def call(
        self, method: str, path: str, params: Params | None = None, body: Any = None, **kwargs: Any
    ) -> None:
        self.request(method, path, params, body, **kwargs).read()

    def stream_json(self, resp: Response) -> Iterator[Any]:
        """Decode a stream of JSON values (Docker's progress/events/stats bodies)."""
        import json  # (not fastjson: partial values are the normal case here)

        decoder = json.JSONDecoder()
        buf = ""
        while True:
            chunk = resp.read1(65536)
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
        payload = fastjson.dumps(body).encode() if body is not None else b""
        sock = self._open()
        headers = {"Connection": "Upgrade", "Upgrade": "tcp", "Content-Type": "application/json"}
        try:
            send_request(sock, method, url, headers, payload)
            status, _, fields, rest = read_head(sock)
        except OSError as exc:
            sock.close()
            raise DaemonError(500, f"attach failed: {exc}") from None
        if status >= 400:
            raw = Response(sock, status, "", fields, rest, method).read()
            raise DaemonError(status, error_message(status, raw))
        return Hijacked(sock, rest, fields.get("content-type", ""))


def quote_path(part: str) -> str:
    return quote(part)
