"""An OCI distribution client over the standard library's http.client.

One connection per request (registries on loopback answer in well under a millisecond, and a
fresh connection per blob keeps the download threads independent). Authentication is the pure
``auth.auth_flow`` driven here; every manifest and blob body is checked against its digest by
the caller or here; response sizes are bounded.
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

from dockyard.distribution import auth, tls
from dockyard.distribution.errors import (
    Denied,
    DistributionError,
    InvalidResponse,
    NotFoundError,
    RegistryUnreachable,
    Unauthorized,
)
from dockyard.distribution.registries import DOCKER_HUB_HOSTS, Endpoint, RegistryConfig
from dockyard.oci import mediatypes as mt
from dockyard.oci.digest import Digest, InvalidDigest, digest_bytes, is_digest

MAX_MANIFEST = 4 << 20
MAX_ERROR_BODY = 64 << 10
MAX_SEARCH_BODY = 4 << 20
MAX_REDIRECTS = 5
CHUNK = 1 << 20
USER_AGENT = "dockyard/0.1 (distribution client)"

MANIFEST_ACCEPT = ", ".join(
    [mt.OCI_INDEX, mt.DOCKER_MANIFEST_LIST, mt.OCI_MANIFEST, mt.DOCKER_MANIFEST]
)
_BLOCKED_HOSTS = DOCKER_HUB_HOSTS | {"auth.docker.io", "production.cloudflare.docker.com"}


@dataclass
class Body:
    """A request body that can be produced again (a 401 retry resends it)."""

    length: int
    chunks: Callable[[], Iterable[bytes]]

    @classmethod
    def of(cls, data: bytes) -> Body:
        return cls(len(data), lambda: [data] if data else [])


class Opened:
    """A response whose body has not been read; close it (or read it all) when done."""

    def __init__(self, conn: http.client.HTTPConnection, resp: http.client.HTTPResponse) -> None:
        self.conn = conn
        self.resp = resp
        self.status = resp.status
        self.headers = {k.lower(): v for k, v in resp.getheaders()}

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")

    def read(self, limit: int) -> bytes:
        length = self.header("content-length")
        if length.isdigit() and int(length) > limit:
            self.close()
            raise InvalidResponse(f"response of {length} bytes is larger than {limit}")
        data = self.resp.read(limit + 1)
        if len(data) > limit:
            self.close()
            raise InvalidResponse(f"response larger than {limit} bytes")
        self.close()
        return data

    def iter_chunks(self, size: int = CHUNK) -> Iterator[bytes]:
        while True:
            chunk = self.resp.read1(size) if hasattr(self.resp, "read1") else self.resp.read(size)
            if not chunk:
                return
            yield chunk

    def close(self) -> None:
        self.resp.close()
        self.conn.close()

    def __enter__(self) -> Opened:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def error_from(status: int, body: bytes, what: str) -> DistributionError:
    """A typed error from a registry's status and ``{"errors": [...]}`` body."""
    codes: list[str] = []
    message = ""
    try:
        data = json.loads(body)
        errors = data.get("errors") if isinstance(data, dict) else None
        if isinstance(errors, list):
            for e in errors:
                if isinstance(e, dict):
                    codes.append(str(e.get("code", "")))
                    message = message or str(e.get("message", ""))
    except ValueError:
        pass
    detail = message or (codes[0].lower() if codes else f"status {status}")
    text = f"{what}: {detail}"
    if status == 401 or "UNAUTHORIZED" in codes:
        return Unauthorized(text)
    if status == 403 or "DENIED" in codes:
        return Denied(f"{what}: denied: {message or 'requested access to the resource is denied'}")
    if status == 404 or any(c.endswith("_UNKNOWN") for c in codes):
        return NotFoundError(text)
    if status == 429:
        return DistributionError(f"{what}: too many requests, try again later")
    return InvalidResponse(text)


class RegistryClient:
    """Requests to one registry, with credentials and a token cache shared across calls."""

    def __init__(
        self,
        endpoint: Endpoint,
        creds: auth.Credentials | None = None,
        cache: auth.TokenCache | None = None,
        *,
        config: RegistryConfig | None = None,
        timeout: float = 60.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.creds = creds
        self.cache = cache if cache is not None else auth.TokenCache()
        self.config = config or RegistryConfig()
        self.timeout = timeout
        self._ssl = ssl_context
        self._base: str | None = None
        # What the last request that got through the auth flow was sent with.
        self.last_authorization: str | None = None

    @property
    def base_url(self) -> str:
        """``https://host``, or ``http://host`` for an insecure registry that has no TLS."""
        if self._base is None:
            self._base = self._probe()
        return self._base

    def _tls_context(self) -> ssl.SSLContext:
        if self._ssl is not None:
            return self._ssl
        self._ssl = tls.context_for(
            self.endpoint.host, self.config.certs_dirs, verify=self.endpoint.secure
        )
        return self._ssl

    def _probe(self) -> str:
        """Docker's order for an insecure registry: TLS (unverified) first, then plain HTTP."""
        https = f"https://{self.endpoint.host}"
        if self.endpoint.secure:
            return https
        parts = urlsplit(https)
        host, port = parts.hostname or "", parts.port or 443
        try:
            with (
                socket.create_connection((host, port), timeout=min(self.timeout, 10)) as raw,
                self._tls_context().wrap_socket(raw, server_hostname=host),
            ):
                return https
        except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
            return f"http://{self.endpoint.host}"
        except OSError as e:
            raise RegistryUnreachable(f"{self.endpoint.host}: {e.strerror or e}") from None

    # -- transport ------------------------------------------------------------------------

    def _connection(self, url: str) -> tuple[http.client.HTTPConnection, str]:
        parts = urlsplit(url)
        host = parts.netloc
        if parts.hostname in _BLOCKED_HOSTS or parts.hostname is None:
            raise RegistryUnreachable(f"refusing to contact {parts.hostname or url!r}")
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        conn: http.client.HTTPConnection
        if parts.scheme == "https":
            ctx = (
                self._tls_context()
                if host == self.endpoint.host
                else tls.context_for(host, self.config.certs_dirs)
            )
            conn = http.client.HTTPSConnection(host, timeout=self.timeout, context=ctx)
        elif parts.scheme == "http":
            if not self.config.is_insecure(host):
                raise RegistryUnreachable(
                    f"refusing plain HTTP to {host}: not an insecure registry "
                    "(list it in DOCKYARD_INSECURE_REGISTRIES)"
                )
            conn = http.client.HTTPConnection(host, timeout=self.timeout)
        else:
            raise InvalidResponse(f"unsupported URL scheme in {url!r}")
        return conn, target

    def _send(self, req: auth.HttpRequest, body: Body | None) -> Opened:
        conn, target = self._connection(req.url)
        try:
            conn.putrequest(req.method, target, skip_accept_encoding=True)
            headers = {"User-Agent": USER_AGENT, **req.headers}
            if req.body is not None:
                body = Body.of(req.body)
            if body is not None:
                headers["Content-Length"] = str(body.length)
            elif req.method in ("POST", "PUT", "PATCH"):
                headers["Content-Length"] = "0"
            for k, v in headers.items():
                conn.putheader(k, v)
            conn.endheaders()
            if body is not None:
                for chunk in body.chunks():
                    conn.send(chunk)
            resp = conn.getresponse()
        except (OSError, http.client.HTTPException) as e:
            conn.close()
            if isinstance(e, ssl.SSLError):
                raise RegistryUnreachable(
                    f"{urlsplit(req.url).netloc}: TLS failed ({e.reason}); if it serves plain "
                    "HTTP, list it in DOCKYARD_INSECURE_REGISTRIES"
                ) from None
            raise RegistryUnreachable(
                f"{urlsplit(req.url).netloc}: {e or type(e).__name__}"
            ) from None
        return Opened(conn, resp)

    def request(
        self,
        method: str,
        path_or_url: str,
        scopes: Iterable[auth.Scope] = (),
        *,
        headers: dict[str, str] | None = None,
        body: Body | None = None,
        follow: bool = True,
    ) -> Opened:
        """Send with authentication; the final response is returned open, whatever its status."""
        url = urljoin(self.base_url + "/", path_or_url)
        flow = auth.auth_flow(
            auth.HttpRequest(method, url, dict(headers or {})),
            self.endpoint.host,
            scopes,
            self.creds,
            self.cache,
        )
        out = next(flow)
        while True:
            opened = self._send(out, None if out.is_token_request else body)
            if out.is_token_request:
                data = opened.read(auth.MAX_TOKEN_RESPONSE)
                reply = auth.HttpResponse(opened.status, opened.headers, data)
            else:
                hdrs = dict(opened.headers)
                hdrs["www-authenticate"] = "\n".join(
                    opened.resp.headers.get_all("WWW-Authenticate") or []
                )
                reply = auth.HttpResponse(opened.status, hdrs)
            try:
                nxt = flow.send(reply)
            except StopIteration:
                break
            if not out.is_token_request:
                opened.close()
            out = nxt
        self.last_authorization = out.headers.get("Authorization")
        if follow and method in ("GET", "HEAD") and opened.status in (301, 302, 303, 307, 308):
            return self._follow(opened, method, headers or {})
        return opened

    def _follow(self, opened: Opened, method: str, headers: dict[str, str]) -> Opened:
        """Blob GETs may redirect to storage; the credentials stay with the registry."""
        for _ in range(MAX_REDIRECTS):
            location = opened.header("location")
            opened.close()
            if not location:
                raise InvalidResponse("redirect without a Location")
            url = urljoin(self.base_url + "/", location)
            hdrs = {k: v for k, v in headers.items() if k.lower() != "authorization"}
            opened = self._send(auth.HttpRequest(method, url, hdrs), None)
            if opened.status not in (301, 302, 303, 307, 308):
                return opened
        opened.close()
        raise InvalidResponse("too many redirects")

    def _fail(self, opened: Opened, what: str) -> DistributionError:
        try:
            body = opened.read(MAX_ERROR_BODY) if opened.status != 204 else b""
        except InvalidResponse:
            body = b""
        return error_from(opened.status, body, what)

    # -- API ------------------------------------------------------------------------------

    def ping(self) -> None:
        """``GET /v2/`` answering its challenge with no scope: checks the credentials."""
        flow = auth.login_flow(
            self.base_url + "/v2/",
            self.endpoint.host,
            self.creds or auth.Credentials(),
            self.cache,
        )
        out = next(flow)
        while True:
            opened = self._send(out, None)
            if out.is_token_request:
                reply = auth.HttpResponse(
                    opened.status, opened.headers, opened.read(auth.MAX_TOKEN_RESPONSE)
                )
            else:
                hdrs = dict(opened.headers)
                hdrs["www-authenticate"] = "\n".join(
                    opened.resp.headers.get_all("WWW-Authenticate") or []
                )
                reply = auth.HttpResponse(opened.status, hdrs)
                opened.close()
            try:
                out = flow.send(reply)
            except StopIteration as stop:
                final: auth.HttpResponse = stop.value
                break
        if final.status == 404:
            raise NotFoundError(f"{self.endpoint.host} is not a registry (/v2/ not found)")
        if final.status >= 400:
            raise error_from(final.status, final.body, self.endpoint.host)

    def get_manifest(self, repo: str, reference: str) -> tuple[bytes, str, Digest]:
        """Body, media type and verified digest of a manifest or index (bounded to 4 MiB)."""
        opened = self.request(
            "GET",
            f"/v2/{repo}/manifests/{reference}",
            [auth.repository_scope(repo, "pull")],
            headers={"Accept": MANIFEST_ACCEPT},
        )
        what = f"{self.endpoint.host}/{repo}:{reference}"
        if opened.status != 200:
            if opened.status == 404:
                # Docker's wording: "manifest for h/r:t not found: manifest unknown: …"
                raise self._fail(opened, f"manifest for {what} not found")
            raise self._fail(opened, f"manifest for {what}")
        media_type = opened.header("content-type").split(";")[0].strip()
        body = opened.read(MAX_MANIFEST)
        header = opened.header("docker-content-digest")
        want: Digest | None = Digest.parse(reference) if is_digest(reference) else None
        if want is None and header:
            try:
                want = Digest.parse(header)
            except InvalidDigest:
                raise InvalidResponse(f"{what}: bad Docker-Content-Digest {header!r}") from None
        actual = digest_bytes(body, want.algorithm if want else "sha256")
        if want is not None and actual != want:
            raise InvalidResponse(f"{what}: manifest digest mismatch: got {actual}, want {want}")
        if want is not None and want.algorithm != "sha256":
            actual = digest_bytes(body)
        return body, media_type, actual

    def blob_size(self, repo: str, digest: Digest, scopes: Iterable[auth.Scope] = ()) -> int | None:
        """HEAD a blob: its size, or None when the repository does not have it."""
        opened = self.request(
            "HEAD",
            f"/v2/{repo}/blobs/{digest}",
            scopes or [auth.repository_scope(repo, "pull")],
        )
        opened.close()
        if opened.status == 404:
            return None
        if opened.status != 200:
            raise error_from(opened.status, b"", f"blob {digest} in {repo}")
        length = opened.header("content-length")
        return int(length) if length.isdigit() else 0

    def open_blob(self, repo: str, digest: Digest, offset: int = 0) -> Opened:
        """GET a blob from ``offset``; the response is 200 (whole blob) or 206 (the rest)."""
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        opened = self.request(
            "GET",
            f"/v2/{repo}/blobs/{digest}",
            [auth.repository_scope(repo, "pull")],
            headers=headers,
        )
        if opened.status not in (200, 206):
            raise self._fail(opened, f"blob {digest} in {repo}")
        return opened

    def read_blob(self, repo: str, digest: Digest, limit: int) -> bytes:
        opened = self.open_blob(repo, digest)
        data = opened.read(limit)
        if digest_bytes(data, digest.algorithm) != digest:
            raise InvalidResponse(f"blob {digest} in {repo}: digest mismatch")
        return data

    def start_upload(
        self, repo: str, *, mount: Digest | None = None, source: str | None = None
    ) -> tuple[str | None, bool]:
        """POST an upload: (upload location, False), or (None, True) when a mount succeeded."""
        scopes = [auth.repository_scope(repo, "pull", "push")]
        query = ""
        if mount is not None and source:
            scopes.append(auth.repository_scope(source, "pull"))
            query = "?" + urlencode({"mount": str(mount), "from": source})
        opened = self.request("POST", f"/v2/{repo}/blobs/uploads/{query}", scopes)
        if opened.status == 201 and mount is not None:
            opened.close()
            return None, True
        if opened.status != 202:
            raise self._fail(opened, f"upload to {self.endpoint.host}/{repo}")
        location = opened.header("location")
        opened.close()
        if not location:
            raise InvalidResponse(f"upload to {repo}: the registry gave no Location")
        return self._upload_url(location), False

    def _upload_url(self, location: str) -> str:
        """Upload URLs stay on the registry: our token must not travel to another host."""
        url = urljoin(self.base_url + "/", location)
        if urlsplit(url).netloc != self.endpoint.host:
            raise InvalidResponse(f"the registry sent an upload location on another host: {url}")
        return url

    def _push_scopes(self, repo: str) -> list[auth.Scope]:
        return [auth.repository_scope(repo, "pull", "push")]

    def upload_monolithic(self, repo: str, location: str, digest: Digest, body: Body) -> None:
        url = _with_query(location, {"digest": str(digest)})
        opened = self.request(
            "PUT",
            url,
            self._push_scopes(repo),
            headers={"Content-Type": "application/octet-stream"},
            body=body,
        )
        if opened.status != 201:
            raise self._fail(opened, f"upload of {digest} to {repo}")
        opened.close()

    def upload_chunk(self, repo: str, location: str, start: int, body: Body) -> str:
        """PATCH one chunk; returns the next location."""
        headers = {"Content-Type": "application/octet-stream"}
        if body.length:
            headers["Content-Range"] = f"{start}-{start + body.length - 1}"
        opened = self.request(
            "PATCH", location, self._push_scopes(repo), headers=headers, body=body
        )
        if opened.status != 202:
            raise self._fail(opened, f"chunk at {start} to {repo}")
        nxt = opened.header("location") or location
        opened.close()
        return self._upload_url(nxt)

    def finish_upload(self, repo: str, location: str, digest: Digest) -> None:
        url = _with_query(location, {"digest": str(digest)})
        opened = self.request("PUT", url, self._push_scopes(repo), body=Body.of(b""))
        if opened.status != 201:
            raise self._fail(opened, f"upload of {digest} to {repo}")
        opened.close()

    def put_manifest(self, repo: str, reference: str, body: bytes, media_type: str) -> Digest:
        opened = self.request(
            "PUT",
            f"/v2/{repo}/manifests/{reference}",
            self._push_scopes(repo),
            headers={"Content-Type": media_type},
            body=Body.of(body),
        )
        if opened.status not in (200, 201):
            raise self._fail(opened, f"manifest {repo}:{reference}")
        header = opened.header("docker-content-digest")
        opened.close()
        actual = digest_bytes(body)
        if header and header != str(actual):
            raise InvalidResponse(
                f"manifest {repo}:{reference}: registry says {header}, sent {actual}"
            )
        return actual

    def search(self, query: str, limit: int = 25) -> dict[str, Any]:
        """``/v1/search``; with credentials, as their owner (private repositories too).

        The search endpoint does not challenge (anonymous searches are fine), so the
        credentials are presented up front: the bearer token (or Basic) the registry's
        ``/v2/`` challenge asks for, as Docker's search session does.
        """
        path = "/v1/search?" + urlencode({"q": query, "n": str(limit)})
        headers: dict[str, str] = {}
        if self.creds is not None:
            probe = self.request("GET", "/v2/", [])
            if probe.status != 200:
                raise self._fail(probe, f"login to {self.endpoint.host} for search")
            probe.close()
            if self.last_authorization:
                headers["Authorization"] = self.last_authorization
        opened = self._send(
            auth.HttpRequest("GET", urljoin(self.base_url + "/", path), headers), None
        )
        if opened.status != 200:
            raise self._fail(opened, f"search on {self.endpoint.host}")
        try:
            data = json.loads(opened.read(MAX_SEARCH_BODY))
        except ValueError:
            raise InvalidResponse(f"search on {self.endpoint.host}: not JSON") from None
        if not isinstance(data, dict):
            raise InvalidResponse(f"search on {self.endpoint.host}: not a JSON object")
        return data


def _with_query(url: str, params: dict[str, str]) -> str:
    sep = "&" if "?" in url else "?"
    return url + sep + urlencode(params)


def is_connection_error(exc: BaseException) -> bool:
    return isinstance(
        exc, (OSError, http.client.HTTPException, socket.timeout, RegistryUnreachable)
    )
