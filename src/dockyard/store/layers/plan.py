"""Pure planning: which action a tar member asks for, and the OCI whiteout rules.

The applier (apply.py) only executes ``Action``s; every decision about names,
whiteouts and what an entry means is made here, without touching a filesystem.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from dockyard.store.layers import tarread as t
from dockyard.store.layers.errors import LayerError

WHITEOUT_PREFIX = ".wh."
WHITEOUT_META_PREFIX = ".wh..wh."
OPAQUE_MARKER = ".wh..wh..opq"
OVERLAY_OPAQUE_XATTR = "trusted.overlay.opaque"
OVERLAY_XATTR_PREFIX = "trusted.overlay."


class Kind(enum.Enum):
    FILE = "file"
    DIR = "dir"
    SYMLINK = "symlink"
    HARDLINK = "hardlink"
    CHAR = "char"
    BLOCK = "block"
    FIFO = "fifo"
    WHITEOUT = "whiteout"  # delete ``name`` (from lower layers) in ``parent``
    OPAQUE = "opaque"  # hide the lower-layer content of ``parent``
    SKIP = "skip"  # aufs bookkeeping (.wh..wh.plnk and friends): nothing to do


_KIND_BY_TYPE = {
    t.REG: Kind.FILE,
    t.AREG: Kind.FILE,
    t.CONT: Kind.FILE,
    t.DIR: Kind.DIR,
    t.SYM: Kind.SYMLINK,
    t.LNK: Kind.HARDLINK,
    t.CHR: Kind.CHAR,
    t.BLK: Kind.BLOCK,
    t.FIFO: Kind.FIFO,
}


@dataclass(slots=True)
class Action:
    """What to do for one member. ``parent`` is a clean relative dir path ("" = root)."""

    kind: Kind
    parent: str
    name: str  # "" only for a DIR entry naming the root itself
    link: str = ""  # symlink target (verbatim) or clean hardlink target path
    path: str = ""  # parent/name: the entry's own clean path

    def __post_init__(self) -> None:
        if not self.path:
            parent, name = self.parent, self.name
            self.path = (f"{parent}/{name}" if name else parent) if parent else name


def clean_path(name: str, *, what: str = "path") -> str:
    """Normalise an archive path to a relative path inside the root.

    A leading ``/`` and ``.`` components are dropped (as GNU tar does); ``..`` is
    resolved lexically and may not climb above the root. Returns "" for the root.
    """
    if name[:2] == "./":
        name = name[2:]
    if "\0" in name:
        raise LayerError(f"layer entry has a NUL byte in its {what}: {name!r}")
    if name[:1] not in "/." and "/." not in name and "//" not in name:
        return name.rstrip("/")  # already clean: the common case
    out: list[str] = []
    for part in name.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not out:
                raise LayerError(f"layer entry escapes the root: {name!r}")
            out.pop()
            continue
        out.append(part)
    return "/".join(out)


def split_parent(path: str) -> tuple[str, str]:
    head, _, tail = path.rpartition("/")
    return head, tail


def plan(member: t.Member, whiteouts: bool = True) -> Action:
    """Map one archive member to an Action (or raise LayerError). Without ``whiteouts``
    (a plain archive, as `docker cp` takes), ``.wh.`` names are ordinary entries."""
    kind = _KIND_BY_TYPE.get(member.type)
    if kind is None:
        raise LayerError(f"unsupported tar entry type {member.type!r} for {member.name!r}")
    path = clean_path(member.name)
    parent, _, base = path.rpartition("/")
    marked = whiteouts and base.startswith(WHITEOUT_PREFIX)
    if kind is Kind.FILE and not marked:
        return Action(kind, parent, base, "", path)  # the common case, first
    if marked:
        return _plan_whiteout(member.name, parent, base)
    if not path:
        if kind is not Kind.DIR:
            raise LayerError(f"layer entry replaces the root with a {kind.value}: {member.name!r}")
        return Action(Kind.DIR, "", "")
    if kind is Kind.HARDLINK:
        target = clean_path(member.linkname, what="link target")
        if not target:
            raise LayerError(f"hardlink to the root directory: {member.name!r}")
        return Action(kind, parent, base, target)
    if kind is Kind.SYMLINK:
        if not member.linkname:
            raise LayerError(f"symlink without a target: {member.name!r}")
        if "\0" in member.linkname:
            raise LayerError(f"symlink target has a NUL byte: {member.name!r}")
        return Action(kind, parent, base, member.linkname)
    return Action(kind, parent, base)


def _plan_whiteout(raw: str, parent: str, base: str) -> Action:
    if base == OPAQUE_MARKER:
        return Action(Kind.OPAQUE, parent, "")
    if base.startswith(WHITEOUT_META_PREFIX):
        return Action(Kind.SKIP, parent, base)
    victim = base[len(WHITEOUT_PREFIX) :]
    if victim in ("", ".", ".."):
        raise LayerError(f"layer entry escapes the root: invalid whiteout {raw!r}")
    return Action(Kind.WHITEOUT, parent, victim)


def whiteout_hides(victim: str, layer_paths: set[str]) -> bool:
    """An OCI whiteout only hides lower layers: a path this layer made stays."""
    return victim not in layer_paths


def opaque_keeps(child: str, layer_paths: set[str]) -> bool:
    """Inside an opaque dir, only what this layer made (or a parent of it) survives."""
    return child in layer_paths


def xattr_allowed(name: str, *, overlay_xattrs: bool) -> bool:
    """trusted.overlay.* in a layer could forge whiteouts or redirects: drop it."""
    return overlay_xattrs or not name.startswith(OVERLAY_XATTR_PREFIX)


def parents_of(path: str) -> list[str]:
    """Every ancestor of ``path`` (not the root), outermost first."""
    parts = path.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]
