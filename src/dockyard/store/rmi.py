"""Docker's rules for ``docker rmi``, as pure decisions (moby's image_delete.go semantics).

Removing by name untags; the image itself goes only when no reference is left. Removing by id
untags everything when all references are in one repository. Conflicts are *hard* (a dependent
child image, a running container: never overridden) or *soft* (other references, a stopped
container: ``force`` overrides them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from dockyard.oci.reference import Reference
from dockyard.store.errors import ConflictError, ImageInUse


class ImageUser(NamedTuple):
    """A container that uses an image; ``running`` decides whether force can override."""

    container_id: str
    running: bool = False


def short_id(image_id: str) -> str:
    return image_id.partition(":")[2][:12] if ":" in image_id else image_id[:12]


def is_id_prefix(image_id: str, given: str) -> bool:
    """Docker's isImageIDPrefix: was the image named by (a prefix of) its id?"""
    return image_id.startswith(given) or image_id.partition(":")[2].startswith(given)


def single_reference(refs: Sequence[Reference]) -> bool:
    """Docker's isSingleReference: one tag, plus any digests of that same repository."""
    if len(refs) <= 1:
        return len(refs) == 1
    single: Reference | None = None
    canonical: set[str] = set()
    for r in refs:
        if r.digest is not None:
            canonical.add(r.name)
        elif single is None:
            single = r
        else:
            return False
    if single is None:
        single = refs[0]
    return len(canonical) == 1 and single.name in canonical


def untag_by_name(
    named: Reference, refs: Sequence[Reference]
) -> tuple[list[Reference], list[Reference]]:
    """References to drop for ``docker rmi NAME`` and those left afterwards.

    Removing the last tag of a repository also drops that repository's digest references.
    """
    drop = [named]
    remaining = [r for r in refs if str(r) != str(named)]
    if named.digest is None and not any(
        r.digest is None and r.name == named.name for r in remaining
    ):
        drop += [r for r in remaining if r.digest is not None and r.name == named.name]
        remaining = [r for r in remaining if not (r.digest is not None and r.name == named.name)]
    return drop, remaining


def reference_in_use(given: str, image_id: str, user: ImageUser) -> ImageInUse:
    return ImageInUse(
        f'conflict: unable to remove repository reference "{given}" (must force) - '
        f"container {user.container_id[:12]} is using its referenced image {short_id(image_id)}"
    )


@dataclass(frozen=True)
class Conflict:
    hard: bool
    used: bool  # caused by a container using the image
    message: str

    def error(self, image_id: str) -> ConflictError:
        kind = "cannot be forced" if self.hard else "must be forced"
        cls = ImageInUse if self.used else ConflictError
        return cls(f"conflict: unable to delete {short_id(image_id)} ({kind}) - {self.message}")


def find_conflict(
    *,
    has_children: bool,
    users: Sequence[ImageUser],
    has_references: bool,
    hard: bool = True,
    soft: bool = True,
    references_count: bool = True,
) -> Conflict | None:
    """Docker's checkImageDeleteConflict, in its order."""
    if hard and has_children:
        return Conflict(True, False, "image has dependent child images")
    running = [u for u in users if u.running]
    if hard and running:
        return Conflict(
            True, True, f"image is being used by running container {running[0].container_id[:12]}"
        )
    if soft and references_count and has_references:
        return Conflict(False, False, "image is referenced in multiple repositories")
    stopped = [u for u in users if not u.running]
    if soft and stopped:
        return Conflict(
            False, True, f"image is being used by stopped container {stopped[0].container_id[:12]}"
        )
    return None
