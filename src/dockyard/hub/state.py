"""Everything one running hub shares between its request handlers."""

from __future__ import annotations

import asyncio
import sqlite3
from collections import Counter
from dataclasses import dataclass, field

from dockyard.hub.accounts import Login
from dockyard.hub.auth import Authority, load_or_create_key
from dockyard.hub.blobs import BlobStore
from dockyard.hub.config import Config
from dockyard.hub.db import connect, transaction
from dockyard.hub.ratelimit import RateLimiter
from dockyard.hub.registry import Registry
from dockyard.oci.digest import Digester


@dataclass
class Hub:
    config: Config
    conn: sqlite3.Connection
    store: BlobStore
    registry: Registry
    authority: Authority
    limiter: RateLimiter
    # Running hashes of open uploads; rebuilt from the data file when missing or stale.
    hashers: dict[str, Digester] = field(default_factory=dict)
    locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    # Logins checked lately: keyed MAC of the credentials -> (expiry, login).
    recent_logins: dict[bytes, tuple[float, Login]] = field(default_factory=dict)
    # Pull counts are summed in memory and written in batches, off the hot path.
    pulls: Counter[str] = field(default_factory=Counter)

    @classmethod
    def open(cls, config: Config) -> Hub:
        config.data.mkdir(parents=True, exist_ok=True)
        conn = connect(config.data / "hub.db")
        store = BlobStore(config.data)
        registry = Registry(conn, store, config.default_private)
        key = load_or_create_key(config.data / "token.key")
        authority = Authority(key, config.service, config.issuer, config.token_ttl, conn)
        limiter = RateLimiter(config.login_burst, config.login_per_minute)
        return cls(config, conn, store, registry, authority, limiter)

    def upload_lock(self, upload_id: str) -> asyncio.Lock:
        lock = self.locks.get(upload_id)
        if lock is None:
            lock = self.locks[upload_id] = asyncio.Lock()
        return lock

    def forget_upload(self, upload_id: str) -> None:
        self.hashers.pop(upload_id, None)
        self.locks.pop(upload_id, None)

    def prune_locks(self) -> None:
        """Forget idle locks and hashes of uploads that no longer exist (purged, finished)."""
        live = set(self.store.upload_ids())
        for upload_id, lock in list(self.locks.items()):
            if not lock.locked() and upload_id not in live:
                self.forget_upload(upload_id)
        for upload_id in list(self.hashers):
            if upload_id not in live:
                self.hashers.pop(upload_id, None)

    def flush_pulls(self) -> None:
        if not self.pulls:
            return
        items, self.pulls = list(self.pulls.items()), Counter()
        with transaction(self.conn):
            self.conn.executemany(
                "UPDATE repos SET pulls = pulls + ? WHERE name = ?", [(n, r) for r, n in items]
            )

    def close(self) -> None:
        self.flush_pulls()
        self.conn.close()
