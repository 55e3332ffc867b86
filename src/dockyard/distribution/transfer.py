"""What a pull and a push share: the store, where registries are and as whom to reach them,
how progress is reported, how many blobs move at once, and where else blobs may come from."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypedDict

from dockyard.distribution import progress as pm
from dockyard.distribution.auth import Credentials, TokenCache
from dockyard.distribution.client import RegistryClient
from dockyard.distribution.registries import RegistryConfig
from dockyard.distribution.sources import BlobSources
from dockyard.oci.reference import Reference

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing_extensions import Unpack

Progress = Callable[[pm.Message], None]
DEFAULT_PARALLEL = 3


class TransferOptions(TypedDict, total=False):
    """The options Puller and Pusher both take (each adds its own)."""

    config: RegistryConfig | None  # default: RegistryConfig.from_env()
    creds: Credentials | None
    cache: TokenCache | None  # default: a new one
    progress: Progress | None
    parallel: int  # blobs at once (DEFAULT_PARALLEL)
    sources: BlobSources | None  # where else blobs were seen (cross-repository mounts)
    timeout: float  # per request, seconds (60)


class Transfer:
    """The base of Puller and Pusher."""

    def __init__(
        self,
        store: Any,  # dockyard.store.images.ImageStore
        **options: Unpack[TransferOptions],
    ) -> None:
        self.store = store
        self.config = options.get("config") or RegistryConfig.from_env()
        self.creds = options.get("creds")
        self.cache = options.get("cache") or TokenCache()
        self.progress = options.get("progress") or pm.no_progress
        self.parallel = max(1, options.get("parallel", DEFAULT_PARALLEL))
        self.sources = options.get("sources")
        self.timeout = options.get("timeout", 60.0)
        self._lock = threading.Lock()  # progress messages from worker threads, counters

    def _emit(self, msg: pm.Message) -> None:
        with self._lock:
            self.progress(msg)

    def client_for(self, ref: Reference) -> RegistryClient:
        endpoint = self.config.endpoint_for(ref)
        return RegistryClient(
            endpoint, self.creds, self.cache, config=self.config, timeout=self.timeout
        )
