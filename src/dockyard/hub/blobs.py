"""Blob bytes on the filesystem: content-addressed files shared by all repositories,
and upload data files that become blobs only after their digest is verified."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from pathlib import Path

from dockyard.hub.errors import RegistryError
from dockyard.oci.digest import Digest, Digester

_UPLOAD_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_READ = 1 << 20


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.blobs = root / "blobs"
        self.uploads = root / "uploads"
        self.blobs.mkdir(parents=True, exist_ok=True)
        self.uploads.mkdir(parents=True, exist_ok=True)

    def path(self, digest: Digest) -> Path:
        return self.blobs / digest.algorithm / digest.hex[:2] / digest.hex

    def exists(self, digest: Digest) -> bool:
        return self.path(digest).is_file()

    # --- uploads -------------------------------------------------------------------

    def upload_path(self, upload_id: str) -> Path:
        if not _UPLOAD_ID.match(upload_id):
            raise RegistryError("BLOB_UPLOAD_UNKNOWN", "invalid upload id")
        return self.uploads / upload_id / "data"

    def create_upload(self, upload_id: str) -> None:
        p = self.upload_path(upload_id)
        p.parent.mkdir()
        p.touch()

    def upload_size(self, upload_id: str) -> int:
        try:
            return self.upload_path(upload_id).stat().st_size
        except FileNotFoundError as e:
            raise RegistryError("BLOB_UPLOAD_UNKNOWN") from e

    def remove_upload(self, upload_id: str) -> None:
        shutil.rmtree(self.upload_path(upload_id).parent, ignore_errors=True)

    def hash_upload(self, upload_id: str, algorithm: str = "sha256") -> Digester:
        """Re-read an upload's data to rebuild its hash (after a restart or for sha512)."""
        d = Digester(algorithm)
        with open(self.upload_path(upload_id), "rb") as f:
            while block := f.read(_READ):
                d.update(block)
        return d

    def promote(self, upload_id: str, digest: Digest) -> None:
        """Move verified upload data into place; callers hold the db write lock."""
        src = self.upload_path(upload_id)
        dst = self.path(digest)
        dst.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(src, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(src, dst)
        dirfd = os.open(dst.parent, os.O_RDONLY)
        try:
            os.fsync(dirfd)
        finally:
            os.close(dirfd)
        self.remove_upload(upload_id)

    def remove_blob(self, digest: Digest) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path(digest).unlink()

    def upload_ids(self) -> list[str]:
        return [p.name for p in self.uploads.iterdir() if _UPLOAD_ID.match(p.name)]

    def blob_files(self) -> list[Digest]:
        out = []
        for alg in self.blobs.iterdir():
            for sub in alg.iterdir():
                for f in sub.iterdir():
                    try:
                        out.append(Digest.parse(f"{alg.name}:{f.name}"))
                    except ValueError:
                        continue
        return out
