"""Blobs by digest under ``<root>/content``.

Writes go to ``ingest/<ref>/data`` and are renamed into ``blobs/<alg>/<hex>`` only after the
size and digest check and an fsync, so a reader never sees a partial blob. An interrupted
ingest stays on disk and is resumed by opening a writer with the same ref; ingests nobody has
touched for longer than the TTL are swept when the store is opened.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from dockyard.oci.digest import Digest, Digester, InvalidDigest
from dockyard.store.errors import (
    BlobNotFound,
    ContentError,
    DigestMismatch,
    IngestLocked,
    SizeMismatch,
)

DEFAULT_INGEST_TTL = 24 * 3600.0
EPHEMERAL_PREFIX = "put-"
_CHUNK = 1 << 20
_SAFE_REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,120}$")


@dataclass(frozen=True)
class BlobInfo:
    digest: Digest
    size: int
    created: float


@dataclass(frozen=True)
class IngestStatus:
    ref: str
    offset: int
    expected: Digest | None
    total: int | None
    started_at: float
    updated_at: float


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _ingest_dirname(ref: str) -> str:
    # Refs are chosen by callers (often "layer-sha256:…"); anything not plainly safe as a file
    # name is hashed so that a ref can never name a path outside the ingest directory.
    if _SAFE_REF.match(ref):
        return ref
    return "h-" + hashlib.sha256(ref.encode()).hexdigest()


def ephemeral_ref() -> str:
    """A ref for a one-shot write that is never resumed (swept as soon as it is abandoned)."""
    return f"{EPHEMERAL_PREFIX}{os.getpid()}-{time.monotonic_ns()}"


class ContentWriter:
    """One ingest: write bytes, then ``commit()`` to verify and publish the blob."""

    def __init__(
        self,
        store: ContentStore,
        ref: str,
        expected: Digest | None,
        size: int | None,
        keep_on_error: bool,
    ) -> None:
        self._store = store
        self.ref = ref
        self.expected = expected
        self.total = size
        self.keep_on_error = keep_on_error
        self.dir = store.ingest_root / _ingest_dirname(ref)
        self._closed = False
        self.dir.mkdir(parents=True, exist_ok=True)
        data = self.dir / "data"
        fd = os.open(data, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        self._file = os.fdopen(fd, "r+b")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._file.close()
            raise IngestLocked(ref) from None
        algorithm = expected.algorithm if expected else "sha256"
        self._digester = Digester(algorithm)
        meta = self._read_meta()
        same = (
            meta is not None
            and meta.get("ref") == ref
            and meta.get("expected") == (str(expected) if expected else None)
            and meta.get("total") == size
        )
        if same:
            self._resume()
        else:
            self._file.truncate(0)
            self._write_meta(time.time())
        self._file.seek(0, os.SEEK_END)

    def _read_meta(self) -> dict[str, object] | None:
        try:
            value = json.loads((self.dir / "meta.json").read_bytes())
        except (OSError, ValueError):
            return None
        return value if isinstance(value, dict) else None

    def _write_meta(self, started: float) -> None:
        meta = {
            "ref": self.ref,
            "expected": str(self.expected) if self.expected else None,
            "total": self.total,
            "started_at": started,
        }
        tmp = self.dir / "meta.json.tmp"
        tmp.write_text(json.dumps(meta))
        os.replace(tmp, self.dir / "meta.json")

    def _resume(self) -> None:
        # hashlib state cannot be saved, so resuming re-reads what is already on disk.
        self._file.seek(0)
        while chunk := self._file.read(_CHUNK):
            self._digester.update(chunk)
        if self.total is not None and self._digester.size > self.total:
            self._file.truncate(0)
            self._digester = Digester(self._digester.algorithm)

    @property
    def offset(self) -> int:
        return self._digester.size

    def write(self, data: bytes) -> int:
        if self._closed:
            raise ContentError(f"ingest {self.ref!r} is closed")
        if self.total is not None and self.offset + len(data) > self.total:
            raise SizeMismatch(self.total, self.offset + len(data))
        self._file.write(data)
        self._digester.update(data)
        return len(data)

    def copy_from(self, stream: BinaryIO, limit: int | None = None) -> int:
        n = 0
        while chunk := stream.read(_CHUNK):
            n += len(chunk)
            if limit is not None and n > limit:
                raise SizeMismatch(limit, n)
            self.write(chunk)
        return n

    def digest(self) -> Digest:
        return self._digester.digest()

    def commit(self) -> Digest:
        """Verify, fsync and publish; the ingest is gone afterwards, whatever the outcome."""
        try:
            actual = self._digester.digest()
            if self.total is not None and self.offset != self.total:
                raise SizeMismatch(self.total, self.offset)
            if self.expected is not None and actual != self.expected:
                raise DigestMismatch(self.expected, actual)
            self._file.flush()
            os.fsync(self._file.fileno())
            target = self._store.blob_path(actual)
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                os.chmod(self.dir / "data", 0o444)
                os.rename(self.dir / "data", target)
                fsync_dir(target.parent)
            return actual
        finally:
            self._discard()

    def close(self) -> None:
        """Stop writing but keep the ingest for a later resume."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(OSError):
            self._file.flush()
        self._file.close()

    def abort(self) -> None:
        self._discard()

    def _discard(self) -> None:
        self.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> ContentWriter:
        return self

    def __exit__(
        self,
        et: type[BaseException] | None,
        ev: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if et is None or not self.keep_on_error:
            if not self._closed:
                self.abort()
        else:
            self.close()


class ContentStore:
    def __init__(self, root: Path, ingest_ttl: float = DEFAULT_INGEST_TTL) -> None:
        self.root = Path(root) / "content"
        self.blob_root = self.root / "blobs"
        self.ingest_root = self.root / "ingest"
        self.ingest_ttl = ingest_ttl
        self.blob_root.mkdir(parents=True, exist_ok=True)
        self.ingest_root.mkdir(parents=True, exist_ok=True)
        self.sweep_ingests()

    def blob_path(self, digest: Digest) -> Path:
        return self.blob_root / digest.algorithm / digest.hex

    def writer(
        self,
        ref: str,
        expected: Digest | None = None,
        size: int | None = None,
        *,
        keep_on_error: bool = False,
    ) -> ContentWriter:
        if not ref:
            raise ContentError("an ingest needs a ref")
        return ContentWriter(self, ref, expected, size, keep_on_error)

    def put_stream(
        self,
        stream: BinaryIO,
        expected: Digest | None = None,
        size: int | None = None,
        *,
        limit: int | None = None,
    ) -> Digest:
        if expected is not None and self.exists(expected):
            return expected
        ref = ephemeral_ref()
        with self.writer(ref, expected, size) as w:
            w.copy_from(stream, limit)
            return w.commit()

    def put_bytes(self, data: bytes, expected: Digest | None = None) -> Digest:
        if expected is not None and self.exists(expected):
            return expected
        ref = ephemeral_ref()
        with self.writer(ref, expected, len(data)) as w:
            w.write(data)
            return w.commit()

    def exists(self, digest: Digest) -> bool:
        return self.blob_path(digest).is_file()

    def info(self, digest: Digest) -> BlobInfo:
        try:
            st = self.blob_path(digest).stat()
        except FileNotFoundError:
            raise BlobNotFound(digest) from None
        return BlobInfo(digest, st.st_size, st.st_mtime)

    def open(self, digest: Digest) -> BinaryIO:
        try:
            return open(self.blob_path(digest), "rb")
        except FileNotFoundError:
            raise BlobNotFound(digest) from None

    def read_bytes(self, digest: Digest, limit: int | None = None) -> bytes:
        with self.open(digest) as f:
            data = f.read() if limit is None else f.read(limit + 1)
        if limit is not None and len(data) > limit:
            raise ContentError(f"blob {digest} is larger than {limit} bytes")
        actual = Digester(digest.algorithm)
        actual.update(data)
        if actual.digest() != digest:
            raise DigestMismatch(digest, actual.digest())
        return data

    def verify(self, digest: Digest, size: int | None = None) -> None:
        """Re-hash a blob; raise if it is missing, truncated or corrupt."""
        d = Digester(digest.algorithm)
        with self.open(digest) as f:
            while chunk := f.read(_CHUNK):
                d.update(chunk)
        if size is not None and d.size != size:
            raise SizeMismatch(size, d.size)
        if d.digest() != digest:
            raise DigestMismatch(digest, d.digest())

    def delete(self, digest: Digest) -> bool:
        try:
            self.blob_path(digest).unlink()
        except FileNotFoundError:
            return False
        return True

    def walk(self) -> Iterator[BlobInfo]:
        for algdir in sorted(self.blob_root.iterdir()):
            if not algdir.is_dir():
                continue
            for entry in sorted(algdir.iterdir()):
                try:
                    digest = Digest.parse(f"{algdir.name}:{entry.name}")
                    st = entry.stat()
                except (InvalidDigest, OSError):
                    continue
                yield BlobInfo(digest, st.st_size, st.st_mtime)

    def ingests(self) -> list[IngestStatus]:
        out = []
        for d in sorted(self.ingest_root.iterdir()):
            try:
                meta = json.loads((d / "meta.json").read_bytes())
                st = (d / "data").stat()
            except (OSError, ValueError):
                continue
            expected = Digest.parse(meta["expected"]) if meta.get("expected") else None
            out.append(
                IngestStatus(
                    meta.get("ref", d.name),
                    st.st_size,
                    expected,
                    meta.get("total"),
                    float(meta.get("started_at", st.st_mtime)),
                    st.st_mtime,
                )
            )
        return out

    def abort_ingest(self, ref: str) -> None:
        shutil.rmtree(self.ingest_root / _ingest_dirname(ref), ignore_errors=True)

    def sweep_ingests(self, max_age: float | None = None) -> list[str]:
        """Remove ingests untouched for ``max_age`` seconds (default: the TTL) and not locked."""
        ttl = self.ingest_ttl if max_age is None else max_age
        now = time.time()
        removed = []
        for d in list(self.ingest_root.iterdir()):
            try:
                newest = max((p.stat().st_mtime for p in d.iterdir()), default=d.stat().st_mtime)
            except OSError:
                continue
            # A "put-<pid>-…" ingest belongs to one call of one process: it can never be
            # resumed, so it goes as soon as that process is gone (a live writer may not have
            # taken its lock yet, so its pid, not the lock, is what counts).
            if not _dead_ephemeral(d.name) and now - newest < ttl:
                continue
            if not _try_lock_dir(d):
                continue
            shutil.rmtree(d, ignore_errors=True)
            removed.append(d.name)
        return removed


def _dead_ephemeral(name: str) -> bool:
    if not name.startswith(EPHEMERAL_PREFIX):
        return False
    pid = name[len(EPHEMERAL_PREFIX) :].split("-", 1)[0]
    if not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _try_lock_dir(d: Path) -> bool:
    """True when no live writer holds the ingest (its data file is not flock()ed)."""
    try:
        fd = os.open(d / "data", os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return True
    except OSError as e:
        return e.errno != errno.EACCES
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)
    return True
