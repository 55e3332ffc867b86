"""Image references, parsed and normalised the way Docker's distribution/reference does.

``busybox`` → ``docker.io/library/busybox:latest``; ``host:5000/a/b:tag``; ``name@sha256:…``;
``name:tag@digest``. Error messages are Docker's, because users and tools match on them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from dockyard.oci.digest import Digest, InvalidDigest

DEFAULT_DOMAIN = "docker.io"
LEGACY_DEFAULT_DOMAIN = "index.docker.io"
OFFICIAL_REPO_PREFIX = "library/"
DEFAULT_TAG = "latest"
NAME_TOTAL_LENGTH_MAX = 255

_ALPHANUMERIC = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALPHANUMERIC}(?:{_SEPARATOR}{_ALPHANUMERIC})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_IPV6 = r"\[(?:[a-fA-F0-9:]+)\]"
_DOMAIN_NAME = rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*"
_HOST = rf"(?:{_DOMAIN_NAME}|{_IPV6})"
_DOMAIN_AND_PORT = rf"{_HOST}(?::[0-9]+)?"
# Go's \w is ASCII-only; Python's is not, so spell the class out.
_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9a-fA-F]{32,}"
_REMOTE_NAME = rf"{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
_NAME = rf"(?:{_DOMAIN_AND_PORT}/)?{_REMOTE_NAME}"

_REFERENCE_RE = re.compile(rf"^({_NAME})(?::({_TAG}))?(?:@({_DIGEST}))?$")
_ANCHORED_NAME_RE = re.compile(rf"^(?:({_DOMAIN_AND_PORT})/)?({_REMOTE_NAME})$")
_ANCHORED_TAG_RE = re.compile(rf"^{_TAG}$")
_IDENTIFIER_RE = re.compile(r"^[a-f0-9]{64}$")
_SHORT_IDENTIFIER_RE = re.compile(r"^[a-f0-9]{6,64}$")


class InvalidReference(ValueError):
    """A string that is not a valid image reference; the message is Docker's."""


@dataclass(frozen=True)
class Reference:
    domain: str
    path: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        return f"{self.domain}/{self.path}" if self.domain else self.path

    def __str__(self) -> str:
        out = self.name
        if self.tag is not None:
            out += f":{self.tag}"
        if self.digest is not None:
            out += f"@{self.digest}"
        return out

    def familiar_name(self) -> str:
        if self.domain != DEFAULT_DOMAIN:
            return self.name
        path = self.path
        if path.startswith(OFFICIAL_REPO_PREFIX) and "/" not in path[len(OFFICIAL_REPO_PREFIX) :]:
            path = path[len(OFFICIAL_REPO_PREFIX) :]
        return path

    def familiar(self) -> str:
        """Docker's FamiliarString: ``busybox:latest`` rather than the canonical form."""
        out = self.familiar_name()
        if self.tag is not None:
            out += f":{self.tag}"
        if self.digest is not None:
            out += f"@{self.digest}"
        return out

    def with_tag(self, tag: str) -> Reference:
        if not _ANCHORED_TAG_RE.match(tag):
            raise InvalidReference("invalid tag format")
        return Reference(self.domain, self.path, tag, None)

    def with_digest(self, digest: str) -> Reference:
        _check_digest(digest)
        return Reference(self.domain, self.path, None, digest)

    def name_only(self) -> Reference:
        return Reference(self.domain, self.path)

    def tagged_or_latest(self) -> Reference:
        """Docker's TagNameOnly: a bare name means ``:latest``."""
        if self.tag is None and self.digest is None:
            return Reference(self.domain, self.path, DEFAULT_TAG, None)
        return self


def _check_digest(value: str) -> None:
    try:
        Digest.parse(value)
    except InvalidDigest as exc:
        raise InvalidReference(str(exc)) from None


def parse(value: str) -> Reference:
    """Parse without normalisation (distribution's ``reference.Parse``)."""
    m = _REFERENCE_RE.match(value)
    if m is None:
        if value == "":
            raise InvalidReference("repository name must have at least one component")
        if _REFERENCE_RE.match(value.lower()):
            raise InvalidReference("repository name must be lowercase")
        raise InvalidReference("invalid reference format")
    name, tag, digest = m.group(1), m.group(2), m.group(3)
    if len(name) > NAME_TOTAL_LENGTH_MAX:
        raise InvalidReference(
            f"repository name must not be more than {NAME_TOTAL_LENGTH_MAX} characters"
        )
    nm = _ANCHORED_NAME_RE.match(name)
    if nm is None:  # pragma: no cover - the full grammar already matched
        raise InvalidReference("invalid reference format")
    if digest is not None:
        _check_digest(digest)
    return Reference(nm.group(1) or "", nm.group(2), tag, digest)


def _split_docker_domain(name: str) -> tuple[str, str]:
    i = name.find("/")
    first = name[:i]
    if i == -1 or (
        not any(c in first for c in ".:") and first != "localhost" and first.lower() == first
    ):
        domain, remainder = DEFAULT_DOMAIN, name
    else:
        domain, remainder = first, name[i + 1 :]
    if domain == LEGACY_DEFAULT_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in remainder:
        remainder = OFFICIAL_REPO_PREFIX + remainder
    return domain, remainder


def parse_normalized_named(value: str) -> Reference:
    """Docker's ``ParseNormalizedNamed``: add docker.io and library/, keep tag/digest as given."""
    if _IDENTIFIER_RE.match(value):
        raise InvalidReference(
            f"invalid repository name ({value}), cannot specify 64-byte hexadecimal strings"
        )
    domain, remainder = _split_docker_domain(value)
    remote = remainder.split(":", 1)[0] if ":" in remainder else remainder
    if "@" in remote:
        remote = remote.split("@", 1)[0]
    if remote.lower() != remote:
        raise InvalidReference("invalid reference format: repository name must be lowercase")
    ref = parse(f"{domain}/{remainder}")
    if not ref.path:
        raise InvalidReference("invalid reference format")
    return ref


def normalize(value: str) -> Reference:
    """What ``docker pull``/``docker run`` use: normalised, with ``:latest`` when no tag/digest."""
    return parse_normalized_named(value).tagged_or_latest()


def parse_tag_reference(value: str) -> Reference:
    """A reference that names a tag to create: a digest is refused, a bare name gets ``latest``."""
    ref = parse_normalized_named(value)
    if ref.digest is not None:
        raise InvalidReference("refusing to create a tag with a digest reference")
    return ref.tagged_or_latest()


def familiar_string(value: str) -> str:
    return parse_normalized_named(value).familiar()


def is_full_identifier(value: str) -> bool:
    return bool(_IDENTIFIER_RE.match(value))


def looks_like_short_identifier(value: str) -> bool:
    return bool(_SHORT_IDENTIFIER_RE.match(value))


def validate_tag(tag: str) -> str:
    if not _ANCHORED_TAG_RE.match(tag):
        raise InvalidReference("invalid tag format")
    return tag
