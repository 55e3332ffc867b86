"""Which repositories of which registry a blob was last seen in: the push's mount table.

A push mounts a layer from a sibling repository (``POST …/uploads/?mount=&from=``) instead
of uploading it again when this table says the registry already has it there. The table is
a small JSON file, bounded, most recent first; losing it only costs an upload.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable
from pathlib import Path

from dockyard.oci.digest import Digest

MAX_BLOBS = 4096
MAX_REPOS_PER_BLOB = 8


class BlobSources:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._table: dict[str, list[list[str]]] = {}
        if path is not None:
            try:
                data = json.loads(path.read_text())
                if isinstance(data, dict):
                    self._table = {
                        k: [list(x) for x in v if isinstance(x, list) and len(x) == 2]
                        for k, v in data.items()
                        if isinstance(v, list)
                    }
            except (OSError, ValueError):
                pass

    def record(self, registry: str, repo: str, digests: Iterable[Digest | str]) -> None:
        with self._lock:
            for d in digests:
                key = str(d)
                entries = [e for e in self._table.pop(key, []) if e != [registry, repo]]
                self._table[key] = [[registry, repo], *entries][:MAX_REPOS_PER_BLOB]
            while len(self._table) > MAX_BLOBS:
                del self._table[next(iter(self._table))]
            self._save()

    def candidates(self, registry: str, digest: Digest | str, exclude: str) -> list[str]:
        """Repositories of ``registry`` that had ``digest``, most recent first."""
        with self._lock:
            entries = self._table.get(str(digest), [])
            return [r for reg, r in entries if reg == registry and r != exclude]

    def _save(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(self._table))
        os.replace(tmp, self.path)
