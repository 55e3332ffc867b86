"""The one seam between the engine and the image store (store.images / store.snapshots).

Everything the container domain needs from images goes through ``ImageBackend``,
so that the engine never reaches into the store's modules itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from dockyard.engine.errors import NotFound, no_such_image
from dockyard.engine.rootfs import MountLike


@dataclass(frozen=True)
class ResolvedImage:
    id: str  # sha256:…
    config: dict[str, Any]  # the image's runtime config (Env, Cmd, Entrypoint…)
    ref: str  # what the user asked for, as Docker keeps it in Config.Image


class ImageBackend(Protocol):
    def resolve(self, ref: str) -> ResolvedImage: ...

    def prepare(self, image_id: str, key: str) -> Sequence[MountLike]: ...

    def mounts(self, image_id: str, key: str) -> Sequence[MountLike]: ...

    def remove_snapshot(self, key: str) -> None: ...

    def upper_dir(self, key: str) -> Path: ...

    def add_use(self, image_id: str, container_id: str) -> None: ...

    def remove_use(self, image_id: str, container_id: str) -> None: ...

    def display_name(self, image_id: str, ref: str) -> str: ...


class StoreImages:
    """ImageBackend over dockyard.store: the ImageStore and the snapshotter it manages."""

    def __init__(self, root: Path) -> None:
        from dockyard.store.images import ImageStore

        self.root = root
        self.store = ImageStore(root)

    def resolve(self, ref: str) -> ResolvedImage:
        from dockyard.store.errors import AmbiguousImage, ImageNotFound, InvalidReference

        try:
            data = self.store.inspect(ref)
        except ImageNotFound:
            raise no_such_image(ref) from None
        except (InvalidReference, AmbiguousImage) as e:
            raise NotFound(f"No such image: {ref} ({e})") from None
        cfg = data.get("Config") or {}
        return ResolvedImage(str(data["Id"]), dict(cfg), ref)

    def prepare(self, image_id: str, key: str) -> Sequence[MountLike]:
        chain = self.store.ensure_unpacked(image_id)
        mounts: Sequence[MountLike] = self.store.snapshotter.prepare(key, chain)
        return mounts

    def mounts(self, image_id: str, key: str) -> Sequence[MountLike]:
        snap: Any = self.store.snapshotter
        if snap.exists(key) and hasattr(snap, "mounts"):
            got: Sequence[MountLike] = snap.mounts(key)
            return got
        return self.prepare(image_id, key)

    def remove_snapshot(self, key: str) -> None:
        snap = self.store.snapshotter
        if snap.exists(key):
            snap.remove(key)

    def upper_dir(self, key: str) -> Path:
        snap: Any = self.store.snapshotter
        return Path(snap.upper_dir(key))

    def add_use(self, image_id: str, container_id: str) -> None:
        self.store.add_image_use(container_id, image_id)

    def remove_use(self, image_id: str, container_id: str) -> None:
        self.store.remove_image_use(container_id)

    def display_name(self, image_id: str, ref: str) -> str:
        return ref
