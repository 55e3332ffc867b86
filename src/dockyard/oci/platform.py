"""Platforms (``linux/amd64``, ``linux/arm/v7``) and matching them against an image index."""

from __future__ import annotations

import platform as _platform
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

_ARCH_ALIASES = {
    "x86_64": ("amd64", ""),
    "x86-64": ("amd64", ""),
    "amd64": ("amd64", ""),
    "aarch64": ("arm64", "v8"),
    "arm64": ("arm64", "v8"),
    "armhf": ("arm", "v7"),
    "armel": ("arm", "v6"),
    "armv7l": ("arm", "v7"),
    "armv6l": ("arm", "v6"),
    "armv5tel": ("arm", "v5"),
    "i386": ("386", ""),
    "i686": ("386", ""),
    "386": ("386", ""),
    "ppc64le": ("ppc64le", ""),
    "s390x": ("s390x", ""),
    "riscv64": ("riscv64", ""),
    "mips64": ("mips64", ""),
    "loong64": ("loong64", ""),
}


class InvalidPlatform(ValueError):
    """A platform string that is not ``os[/arch[/variant]]``."""


@dataclass(frozen=True)
class Platform:
    os: str
    architecture: str
    variant: str = ""
    os_version: str = ""
    os_features: tuple[str, ...] = field(default=())

    def __str__(self) -> str:
        out = f"{self.os}/{self.architecture}"
        return f"{out}/{self.variant}" if self.variant else out

    def normalized(self) -> Platform:
        key = self.architecture.lower()
        arch, default_variant = _ARCH_ALIASES.get(key, (self.architecture, ""))
        variant = self.variant.lower()
        if arch == "arm64" and variant in ("", "8", "v8"):
            variant = "v8"
        elif arch == "arm" and variant == "":
            variant = default_variant or "v7"
        elif arch == "arm" and variant.isdigit():
            variant = f"v{variant}"
        elif arch == "amd64" and variant in ("", "v1"):
            variant = ""
        return Platform(self.os.lower(), arch, variant, self.os_version, self.os_features)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"architecture": self.architecture, "os": self.os}
        if self.variant:
            out["variant"] = self.variant
        if self.os_version:
            out["os.version"] = self.os_version
        if self.os_features:
            out["os.features"] = list(self.os_features)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Platform:
        os_ = data.get("os")
        arch = data.get("architecture")
        if not isinstance(os_, str) or not isinstance(arch, str):
            raise InvalidPlatform("platform needs string 'os' and 'architecture'")
        variant = data.get("variant") or ""
        features = data.get("os.features") or ()
        return cls(
            os_,
            arch,
            str(variant),
            str(data.get("os.version") or ""),
            tuple(str(f) for f in features),
        )


def parse_platform(value: str) -> Platform:
    parts = value.strip().split("/")
    if not 1 <= len(parts) <= 3 or any(not p for p in parts):
        raise InvalidPlatform(f"invalid platform: {value!r}")
    if len(parts) == 1:
        # containerd accepts a bare architecture or a bare OS; an OS we know stays an OS.
        if parts[0] in ("linux", "windows", "darwin", "freebsd"):
            return Platform(parts[0], host_platform().architecture).normalized()
        return Platform("linux", parts[0]).normalized()
    variant = parts[2] if len(parts) == 3 else ""
    return Platform(parts[0], parts[1], variant).normalized()


def host_platform(machine: str | None = None) -> Platform:
    m = (machine or _platform.machine()).lower()
    arch, variant = _ARCH_ALIASES.get(m, (m, ""))
    return Platform("linux", arch, variant).normalized()


def _compatible_variants(p: Platform) -> list[str]:
    """Variants a host runs, best first (an armv7 host runs v6 and v5 images)."""
    if p.architecture == "arm" and p.variant.startswith("v") and p.variant[1:].isdigit():
        n = int(p.variant[1:])
        return [f"v{i}" for i in range(n, 4, -1)]
    if p.architecture == "amd64":
        levels = ["", "v2", "v3", "v4"]
        upto = levels.index(p.variant) if p.variant in levels else 0
        return list(reversed(levels[: upto + 1]))
    return [p.variant]


def match_rank(wanted: Platform, candidate: Platform) -> int | None:
    """None if ``candidate`` cannot run where ``wanted`` is; else lower is better."""
    w, c = wanted.normalized(), candidate.normalized()
    if w.os != c.os or w.architecture != c.architecture:
        return None
    variants = _compatible_variants(w)
    if c.variant in variants:
        return variants.index(c.variant)
    return None


def matches(wanted: Platform, candidate: Platform) -> bool:
    return match_rank(wanted, candidate) is not None
