"""A mount as data: what the runtime (or the engine) performs, never the snapshotter."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Mount:
    """One mount, containerd-style; ``target`` "" means the container's root itself."""

    type: str
    source: str
    target: str = ""
    options: list[str] = field(default_factory=list)

    def to_oci(self) -> dict[str, object]:
        """The runtime-spec ``mounts`` entry for this mount."""
        return {
            "destination": self.target or "/",
            "type": self.type,
            "source": self.source,
            "options": list(self.options),
        }

    @property
    def data(self) -> str:
        """The filesystem-specific option string (what mount(2) gets as ``data``)."""
        return ",".join(o for o in self.options if o not in _FLAG_OPTIONS)


# Options mount(8) turns into flags rather than passing to the filesystem.
_FLAG_OPTIONS = frozenset(("ro", "rw", "bind", "rbind", "nosuid", "nodev", "noexec"))
